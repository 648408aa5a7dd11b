"""Write (or with --check, verify) the generated contract files.

    python -m contracts.generate           # rewrite schemas/*.json and asyncapi.json
    python -m contracts.generate --check   # exit 1 listing files that are stale

Output is deterministic (sorted keys, fixed indentation) so the check is stable in CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contracts.asyncapi import asyncapi_document
from contracts.catalog import EVENT_TYPES
from contracts.schemas_build import event_schema

HERE = Path(__file__).resolve().parent
SCHEMAS_DIR = HERE / "schemas"
EXAMPLES_DIR = HERE / "examples"
ASYNCAPI_PATH = HERE / "asyncapi.json"


def render(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_examples() -> dict[str, dict[str, Any]]:
    """The frozen examples, by event type (the file name without `.json`)."""
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(EXAMPLES_DIR.glob("*.json"))
    }


def expected_files() -> dict[Path, str]:
    files = {
        SCHEMAS_DIR / f"{event_type}.json": render(event_schema(event_type))
        for event_type in sorted(EVENT_TYPES)
    }
    files[ASYNCAPI_PATH] = render(asyncapi_document(load_examples()))
    return files


def stale_files(expected: dict[Path, str]) -> list[str]:
    """Files that differ from what generation would write, or should not be there at all."""
    stale = [
        str(path.relative_to(HERE))
        for path, text in expected.items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    leftovers = [p for p in SCHEMAS_DIR.glob("*.json") if p not in expected]
    return stale + [f"{p.relative_to(HERE)} (no such event type)" for p in sorted(leftovers)]


def write(expected: dict[Path, str]) -> None:
    SCHEMAS_DIR.mkdir(exist_ok=True)
    for path in SCHEMAS_DIR.glob("*.json"):
        if path not in expected:
            path.unlink()  # a type left the catalog: its schema must not linger
    for path, text in expected.items():
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only verify; exit 1 when stale")
    args = parser.parse_args(argv)
    expected = expected_files()
    if args.check:
        stale = stale_files(expected)
        for name in stale:
            print(f"stale: contracts/{name}", file=sys.stderr)
        if stale:
            print("run `python -m contracts.generate` and commit the result", file=sys.stderr)
        return 1 if stale else 0
    write(expected)
    print(f"wrote {len(expected)} files under {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
