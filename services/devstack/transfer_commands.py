"""`thidua import` and `thidua export`: files of the org directory (and of initiatives) moved
through registration's HTTP API with a bearer token, as any client would — the upload streamed
from disk, the job polled with a progress bar, the download streamed to disk."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from services.registry import service

FINISHED = ("succeeded", "refused", "failed")
_CHUNK = 1 << 20
_POLL_S = 0.5
_BAR = 30
_MEDIA = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "csv": "text/csv"}


def add_transfer_commands(commands) -> None:
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--url", default=os.environ.get(
        "THIDUA_REGISTRATION_URL", f"http://127.0.0.1:{service('registration').http_port}"),
        help="registration's address (default $THIDUA_REGISTRATION_URL, else the local stack's)")
    shared.add_argument("--token", default=os.environ.get("THIDUA_TOKEN"), help=(
        "bearer token (default $THIDUA_TOKEN; locally: thidua token mint --role city_admin)"))
    load = commands.add_parser("import", parents=[shared],
                               help="upload a CSV or .xlsx file of units or members")
    load.add_argument("kind", choices=("units", "members"))
    load.add_argument("file", type=Path)
    load.add_argument("--skip-bad-rows", action="store_true", help=(
        "import the good rows and report the bad ones (default: a file with a bad row imports "
        "nothing)"))
    load.add_argument("--idempotency-key", help="repeat an upload safely (same key, same file)")
    load.add_argument("--errors", type=int, default=50, help="errors to print (default 50)")
    dump = commands.add_parser("export", parents=[shared],
                               help="download units, members or initiatives as CSV or .xlsx")
    dump.add_argument("kind", choices=("units", "members", "initiatives"))
    dump.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    dump.add_argument("--as-of", help="the date to read the directory on (YYYY-MM-DD)")
    dump.add_argument("--unit", help="export this unit's subtree (default your own unit)")
    dump.add_argument("--campaign", help="initiatives of this campaign only")
    dump.add_argument("-o", "--output", type=Path, help="file to write (default <kind>.<format>)")


def run_transfer(args: argparse.Namespace) -> int:
    import httpx

    if not args.token:
        print(f"thidua {args.command}: no token: pass --token or set THIDUA_TOKEN",
              file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {args.token}"}
    try:
        with httpx.Client(base_url=args.url, headers=headers,
                          timeout=httpx.Timeout(60, read=600)) as client:
            if args.command == "import":
                return _import(client, args, sys.stderr)
            return _export(client, args, sys.stderr)
    except httpx.HTTPError as exc:
        print(f"thidua {args.command}: {args.url}: {exc}", file=sys.stderr)
        return 1


def _problem(answer) -> str:
    try:
        body = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}"
    lines = [f"HTTP {answer.status_code}: {body.get('detail', '')}"]
    lines += [f"  {e.get('field') or '-'}: {e.get('message')}" for e in body.get("errors", [])]
    return "\n".join(lines)


def _import(client, args: argparse.Namespace, out: IO[str]) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"thidua import: no file {path}", file=out)
        return 2
    size = path.stat().st_size
    sent = 0

    def chunks():
        nonlocal sent
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                sent += len(chunk)
                _draw(out, "uploading", sent, size, "bytes")
                yield chunk

    fmt = "xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    headers = {"Content-Type": _MEDIA[fmt], "Content-Length": str(size)}
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    params = {"on_error": "skip" if args.skip_bad_rows else "refuse", "filename": path.name[:200]}
    answer = client.post(f"/imports/{args.kind}", content=chunks(), headers=headers,
                         params=params)
    if answer.status_code != 202:
        print(f"\nthidua import: refused\n{_problem(answer)}", file=out)
        return 1
    job = answer.json()
    while job["status"] not in FINISHED:
        _draw(out, job["status"], job["rows_read"], job["rows_total"], "rows")
        time.sleep(_POLL_S)
        polled = client.get(f"/imports/{job['job_id']}")
        if polled.status_code != 200:
            print(f"\nthidua import: {_problem(polled)}", file=out)
            return 1
        job = polled.json()
    _draw(out, job["status"], job["rows_read"], job["rows_read"], "rows")
    print(file=out)
    return _report(job, args.errors, out)


def _report(job: dict[str, Any], shown: int, out: IO[str]) -> int:
    print(f"{job['job_id']}: {job['status']} — {job['rows_read']:,} rows read, "
          f"{job['registered']:,} registered, {job['updated']:,} updated, "
          f"{job['unchanged']:,} unchanged, {job['rows_bad']:,} bad", file=out)
    if job.get("failure"):
        print(job["failure"], file=out)
    errors = job.get("errors", [])
    for error in errors[:shown]:
        print(f"  row {error['row']:>7}  {error['column'] or '-':<20} {error['code']:<26} "
              f"{error['reason']}", file=out)
    if len(errors) > shown or job["rows_bad"] > len(errors):
        print(f"  … GET /imports/{job['job_id']} has the report", file=out)
    if job["status"] == "refused" and job["on_error"] == "refuse" and job["rows_bad"]:
        print("nothing was imported; fix the rows, or pass --skip-bad-rows to import the rest",
              file=out)
    return 0 if job["status"] == "succeeded" else 1


def _export(client, args: argparse.Namespace, out: IO[str]) -> int:
    params = {"format": args.format}
    for name, value in (("as_of", args.as_of), ("unit_id", args.unit),
                        ("campaign_id", args.campaign)):
        if value:
            params[name] = value
    target: Path = args.output or Path(f"{args.kind}.{args.format}")
    written = 0
    with client.stream("GET", f"/exports/{args.kind}", params=params) as answer:
        if answer.status_code != 200:
            answer.read()
            print(f"thidua export: {_problem(answer)}", file=out)
            return 1
        partial = target.with_name(target.name + ".part")
        with partial.open("wb") as f:
            for chunk in answer.iter_bytes():
                f.write(chunk)
                written += len(chunk)
                _draw(out, "downloading", written, None, "bytes")
        partial.replace(target)  # a broken download never leaves a file that looks whole
    print(f"\n{target}: {written:,} bytes", file=out)
    return 0


def _draw(out: IO[str], label: str, done: int, total: int | None, unit: str) -> None:
    if total:
        share = min(done / total, 1.0)
        bar = "#" * int(share * _BAR)
        line = f"[{bar:<{_BAR}}] {share:6.1%}  {done:,}/{total:,} {unit}  {label}"
    else:
        line = f"{done:,} {unit}  {label}"
    out.write("\r" + line.ljust(78))
    out.flush()
