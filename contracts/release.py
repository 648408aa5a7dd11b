"""Freeze the current contract as a release: `python -m contracts.release <version>`.

Writes `released/<version>/` — the generated schemas and the topic table — which from then on
is the baseline `contracts.compatibility` (and its test) holds every change to. It refuses a
version already released, a contract whose generated files are stale, and one that breaks the
previous release (a breaking change ships as `.v2` types on `.v2` topics instead).
"""

from __future__ import annotations

import json
import re
import shutil
import sys

from contracts.compatibility import RELEASED, breaking_changes, latest_release, topic_table
from contracts.generate import HERE, expected_files, stale_files


def release(version: str) -> int:
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        print(f"{version!r} is not MAJOR.MINOR.PATCH", file=sys.stderr)
        return 2
    target = RELEASED / version
    if target.exists():
        print(f"{version} is already released", file=sys.stderr)
        return 1
    if stale := stale_files(expected_files()):
        print(f"regenerate first (python -m contracts.generate): {stale}", file=sys.stderr)
        return 1
    previous = latest_release()
    if previous is not None and (changes := breaking_changes(previous)):
        print("\n".join(f"BREAKING against {previous.name}: {c}" for c in changes),
              file=sys.stderr)
        return 1
    shutil.copytree(HERE / "schemas", target / "schemas")
    (target / "topics.json").write_text(json.dumps(topic_table(), indent=2, sort_keys=True)
                                        + "\n")
    print(f"released {version} in {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(release(sys.argv[1] if len(sys.argv) > 1 else ""))
