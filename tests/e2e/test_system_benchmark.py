"""The system benchmark end to end at a tiny scale: the four services as processes, the load
through their HTTP APIs, and a JSON document with every figure the table prints (no timing is
asserted: only that each figure was measured and the load was accepted whole)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
SERVICES = ("registration", "scoring", "awards", "notify")
CEILINGS = ("kafka_produce_records_per_s", "kafka_consume_records_per_s", "pg_copy_rows_per_s",
            "pg_batched_upsert_rows_per_s", "pg_upsert_round_trip_rows_per_s",
            "pg_single_row_transactions_per_s", "http_healthz_per_s")


def test_the_system_benchmark_measures_every_figure_at_a_tiny_scale(tmp_path):
    # Its own embedded broker and database: the services read their topics from the start.
    env = {k: v for k, v in os.environ.items()
           if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.system", "--members", "200", "--units", "10",
         # Per step, and per sample before it counts as missing: a bound on a hang, not on the
         # pace of a loaded machine (the whole run takes about 100 s on one).
         "--initiatives", "50", "--concurrency", "8", "--timeout", "300", "--out",
         str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=800,
        check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "system-benchmark.json").read_text(encoding="utf-8"))
    svg = (tmp_path / "system-benchmark.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "http://www.w3.org/2000/svg" in svg and "<polyline" in svg
    assert str(tmp_path / "system-benchmark.json") in done.stdout
    assert "| POST /initiatives accepted/s (50 of 50)" in done.stdout

    assert results["options"] | {"label": None, "run_id": None, "command": None} == {
        "members": 200, "units": 10, "initiatives": 50, "concurrency": 8, "scale": 1.0,
        "label": None, "run_id": None, "command": None}
    assert results["import"]["units"] == 10 and results["import"]["members"] == 200
    assert results["import"]["members_rows_per_s"] > 0
    commands = results["commands"]
    assert commands["POST /initiatives"]["accepted"] == 50
    grassroots = commands["POST /initiatives/{id}/reviews (grassroots)"]
    assert grassroots["accepted"] == 50 and not grassroots["refused"]
    district = commands["POST /initiatives/{id}/reviews (district)"]
    assert district["accepted"] >= 1 and not district["refused"]
    assert all(run["accepted_per_s"] > 0 for run in commands.values())

    directory, load = (results["events_applied"][during]
                       for during in ("directory import", "commands and phase close"))
    assert set(directory) == set(load) == set(SERVICES)
    for name in SERVICES:  # every service projects the directory: 10 units, 200 members
        assert directory[name]["applied"] >= 210 and directory[name]["mean_per_s"] > 0
    for name in ("scoring", "awards", "notify"):  # registration consumes only the directory
        assert load[name]["applied"] > 0 and load[name]["mean_per_s"] > 0

    assert results["missing_samples"] == []
    delays = results["delays"]
    for what in ("submission accepted -> author's score visible",
                 "grassroots review accepted -> author's score visible",
                 "grassroots review accepted -> author's notification delivered"):
        # every command of the tiny run is followed, and each was seen
        assert delays[what]["count"] == 50 and delays[what]["missing"] == 0, delays[what]
        assert 0 < delays[what]["p50_s"] <= delays[what]["p95_s"] <= delays[what]["p99_s"]

    close = results["phase_close"]
    assert close["accepted_counts"]["thidua.initiative.submitted.v1"] == 50
    assert close["accepted_counts"]["thidua.initiative.reviewed.v1"] == 50 + district["accepted"]
    assert 0 < close["close_s"] <= close["to_standings_final_s"] <= close["to_proposals_visible_s"]
    assert close["to_proposals_visible_s"] <= close["to_proposals_published_s"]
    assert close["proposals"] > 0 and close["award_proposed_events"] == close["proposals"]

    assert set(results["peak_rss_mb"]) == set(SERVICES)
    assert all(mb > 20 for mb in results["peak_rss_mb"].values())
    assert all(results["ceilings"][name] > 0 for name in CEILINGS)
    assert results["drain_s"] >= 0
    assert [m["label"] for m in results["marks"]] == [
        "import", "submissions", "grassroots reviews", "district reviews", "drain",
        "phase close", "end"]
