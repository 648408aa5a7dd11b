"""The system benchmark's results: the printed table, the JSON document and a self-contained
SVG chart (no script, no font or file from the network)."""

from __future__ import annotations

import itertools
import json
import math
from html import escape
from pathlib import Path


def percentiles(samples: list[float]) -> dict[str, float | int | None]:
    """p50, p95, p99 (nearest rank) in seconds, and how many samples they stand on."""
    ordered = sorted(samples)

    def rank(p: float) -> float | None:
        return ordered[max(0, round(p * len(ordered)) - 1)] if ordered else None

    return {"count": len(ordered), "p50_s": rank(0.50), "p95_s": rank(0.95), "p99_s": rank(0.99)}


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:,.0f} ms"


def _ratio(value: float, ceiling: float) -> str:
    return f"{value / ceiling:.4f}" if ceiling else "—"


def rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, ceiling it is read against, fraction) for every figure of the run."""
    c = results["ceilings"]
    single, copy = c["pg_single_row_transactions_per_s"], c["pg_copy_rows_per_s"]
    consume, upsert = c["kafka_consume_records_per_s"], c["pg_batched_upsert_rows_per_s"]
    table = []
    imp = results["import"]
    table.append(("members import (rows/s, upload to job committed)",
                  f"{imp['members_rows_per_s']:,.0f}", f"COPY {copy:,.0f} rows/s",
                  _ratio(imp["members_rows_per_s"], copy)))
    for kind, run in results["commands"].items():
        table.append((f"{kind} accepted/s ({run['accepted']:,} of {run['sent']:,})",
                      f"{run['accepted_per_s']:,.1f}", f"1-row tx {single:,.0f}/s",
                      _ratio(run["accepted_per_s"], single)))
    for during, per_service in results["events_applied"].items():
        for name, rate in per_service.items():
            table.append((f"{name}: events applied/s during the {during} (mean over "
                          f"{rate['active_s']:,.0f} s, {rate['applied']:,} events; best 5 s "
                          f"{rate['peak_5s_per_s']:,.0f}/s)",
                          f"{rate['mean_per_s']:,.0f}",
                          f"consume {consume:,.0f}/s; upsert {upsert:,.0f} rows/s",
                          f"{_ratio(rate['mean_per_s'], consume)}; "
                          f"{_ratio(rate['mean_per_s'], upsert)}"))
    for what, delays in results["delays"].items():
        table.append((f"{what} (p50 / p95 / p99, n={delays['count']}"
                      f"{', missing ' + str(delays['missing']) if delays.get('missing') else ''})",
                      f"{_ms(delays['p50_s'])} / {_ms(delays['p95_s'])} / "
                      f"{_ms(delays['p99_s'])}", "", ""))
    close = results["phase_close"]
    table.append(("phase close: POST answered", f"{close['close_s']:.2f} s", "", ""))
    table.append(("phase close -> standings final (scoring)",
                  f"{close['to_standings_final_s']:.1f} s", "", ""))
    table.append((f"phase close -> award proposals visible ({close['proposals']:,})",
                  f"{close['to_proposals_visible_s']:.1f} s", "", ""))
    table.append((f"phase close -> every award.proposed on the topic "
                  f"({close['award_proposed_events']:,})",
                  f"{close['to_proposals_published_s']:.1f} s", "", ""))
    table.append(("backlog drained after the last review", f"{results['drain_s']:.1f} s", "", ""))
    for name, mb in results["peak_rss_mb"].items():
        table.append((f"{name}: peak RSS (VmHWM)", f"{mb:,.0f} MB", "", ""))
    table.append((f"ceiling: registration GET /healthz (concurrency "
                  f"{results['options']['concurrency']})",
                  f"{c['http_healthz_per_s']:,.0f} req/s", "", ""))
    table.append(("ceiling: aiokafka produce", f"{c['kafka_produce_records_per_s']:,.0f} rec/s",
                  "", ""))
    table.append(("ceiling: aiokafka consume", f"{consume:,.0f} rec/s", "", ""))
    table.append(("ceiling: PostgreSQL COPY", f"{copy:,.0f} rows/s", "", ""))
    table.append(("ceiling: PostgreSQL batched upsert (unnest, 500/tx)", f"{upsert:,.0f} rows/s",
                  "", ""))
    table.append(("ceiling: PostgreSQL single-row transactions "
                  f"(concurrency {results['options']['concurrency']})", f"{single:,.0f} tx/s",
                  "", ""))
    return table


def markdown_table(results: dict) -> str:
    lines = ["| figure | value | ceiling (same run) | fraction |", "|---|---:|---|---:|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows(results)]
    return "\n".join(lines)


def write(results: dict, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, svg_path = out / "system-benchmark.json", out / "system-benchmark.svg"
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    svg_path.write_text(chart(results), encoding="utf-8")
    return json_path, svg_path


DECADES = 4  # of the fractions' log scale
COLOURS = {"registration": "#1f77b4", "scoring": "#2ca02c", "awards": "#d62728",
           "notify": "#9467bd"}


def chart(results: dict) -> str:
    """Two panels: events applied per second by each service over the run (with the phases of
    the load marked), and each throughput as a fraction of its ceiling."""
    bars = fractions(results)
    width, height, left, top = 960, 440 + 22 * len(bars), 70, 40
    plot_w, plot_h = width - left - 30, 300
    series = results["timeline"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="22" font-size="15" font-weight="bold">thidua system benchmark'
             f' — {escape(results["options"]["label"])}</text>']
    end = max((p["at"] for p in series), default=1.0) or 1.0
    rates = {name: [] for name in COLOURS}
    for a, b in itertools.pairwise(series):
        for name in rates:
            dt = b["at"] - a["at"]
            rates[name].append(((a["at"] + b["at"]) / 2,
                                (b["applied"][name] - a["applied"][name]) / dt if dt else 0.0))
    top_rate = max((r for points in rates.values() for _, r in points), default=1.0) or 1.0

    def x(at: float) -> float:
        return left + at / end * plot_w

    def y(rate: float) -> float:
        return top + plot_h - rate / top_rate * plot_h

    parts.append(f'<text x="{left}" y="{top - 4}">events applied per second, per service</text>')
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
                 'stroke="#999"/>')
    for i, mark in enumerate(results["marks"]):
        mx = x(mark["at"])
        parts.append(f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{top + plot_h}" '
                     'stroke="#bbb" stroke-dasharray="3,3"/>')
        near_end = mx > left + plot_w - 90
        parts.append(f'<text x="{mx + (-2 if near_end else 2):.1f}" y="{top + 12 + (i % 4) * 12}" '
                     f'fill="#666" font-size="10" text-anchor="{"end" if near_end else "start"}">'
                     f'{escape(mark["label"])}</text>')
    for fraction in (0.5, 1.0):
        parts.append(f'<text x="{left - 6}" y="{y(top_rate * fraction) + 4:.1f}" '
                     f'text-anchor="end">{top_rate * fraction:,.0f}</text>')
    parts.append(f'<text x="{left + plot_w}" y="{top + plot_h + 16}" text-anchor="end">'
                 f'{end:,.0f} s</text>')
    for i, (name, points) in enumerate(rates.items()):
        if points:
            path = " ".join(f"{x(at):.1f},{y(rate):.1f}" for at, rate in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[name]}" '
                         'stroke-width="1.5"/>')
        parts.append(f'<rect x="{left + 10 + i * 120}" y="{top + plot_h + 26}" width="12" '
                     f'height="12" fill="{COLOURS[name]}"/><text x="{left + 26 + i * 120}" '
                     f'y="{top + plot_h + 36}">{name}</text>')

    bars_top = top + plot_h + 80
    parts.append(f'<text x="{left}" y="{bars_top - 8}">throughput as a fraction of the '
                 f'ceiling measured in the same run (log scale, 1/{10 ** DECADES:,} to 1)</text>')
    bar_w = plot_w - 390
    for i, (label, fraction) in enumerate(bars):
        by = bars_top + i * 22
        # Fractions of a percent are the rule here: a log scale keeps them apart.
        shown = max(0.0, min(1.0, (math.log10(fraction) + DECADES) / DECADES)) if fraction else 0.0
        parts.append(f'<text x="{left}" y="{by + 12}">{escape(label)}</text>')
        parts.append(f'<rect x="{left + 380}" y="{by}" width="{bar_w}" height="16" fill="#eee"/>')
        parts.append(f'<rect x="{left + 380}" y="{by}" width="{shown * bar_w:.1f}" height="16" '
                     'fill="#1f77b4"/>')
        parts.append(f'<text x="{left + 386 + shown * bar_w:.1f}" y="{by + 12}">'
                     f"{fraction:.4f}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def fractions(results: dict) -> list[tuple[str, float]]:
    c = results["ceilings"]
    answer = [("members import / COPY",
               results["import"]["members_rows_per_s"] / c["pg_copy_rows_per_s"])]
    answer += [(f"{kind.removeprefix('POST /initiatives/{id}/')} / 1-row transactions",
                run["accepted_per_s"] / c["pg_single_row_transactions_per_s"])
               for kind, run in results["commands"].items()]
    answer += [(f"{name}, {during}: events / consume",
                rate["mean_per_s"] / c["kafka_consume_records_per_s"])
               for during, per_service in results["events_applied"].items()
               for name, rate in per_service.items() if rate["applied"]]
    return answer
