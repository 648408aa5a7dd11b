"""Is the current contract backward compatible with the last released one?

A release (`python -m contracts.release <version>`) freezes the generated schemas and the topic
table under `released/<version>/`. A change is compatible when every event a consumer of the
release could read still reads the same way, and every event already on the topics (they keep
their history for replay) still validates:

- no event type, topic, field or enum value removed; no topic's key or event type moved;
- no field retyped (its JSON types, nullability included, stay the same), no `const` changed;
- no field newly required (old events lack it) nor no longer required (consumers rely on it);
- no bound tightened (`minimum`, `maxLength`, `pattern`, ...): old events may break it.

Adding an optional field, an event type or an enum value is compatible (consumers tolerate
them, contracts/README.md). `python -m contracts.compatibility` prints what breaks, exit 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RELEASED = HERE / "released"

_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems")


def topic_table() -> dict[str, dict[str, Any]]:
    """What a release freezes of the topic registry: each topic's key and event types."""
    from contracts.catalog import event_types_on
    from contracts.topics import ALL_TOPICS

    return {t.name: {"key": t.key, "event_types": list(event_types_on(t))} for t in ALL_TOPICS}


def latest_release(root: Path = RELEASED) -> Path | None:
    versions = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    return max(versions, key=lambda p: tuple(int(n) for n in p.name.split(".")), default=None)


def breaking_changes(release: Path, schemas: Path = HERE / "schemas",
                     topics: dict[str, dict[str, Any]] | None = None) -> list[str]:
    found = _topic_changes(json.loads((release / "topics.json").read_text()),
                           topic_table() if topics is None else topics)
    for old_path in sorted((release / "schemas").glob("*.json")):
        new_path = schemas / old_path.name
        if not new_path.exists():
            found.append(f"{old_path.stem}: event type removed")
            continue
        old, new = json.loads(old_path.read_text()), json.loads(new_path.read_text())
        found += _Compared(old, new).changes(old, new, old_path.stem)
    return found


def _topic_changes(old: dict[str, dict], new: dict[str, dict]) -> list[str]:
    found = []
    for name, was in old.items():
        now = new.get(name)
        if now is None:
            found.append(f"{name}: topic removed")
            continue
        if now["key"] != was["key"]:
            found.append(f"{name}: key changed from {was['key']!r} to {now['key']!r}")
        for event_type in sorted(set(was["event_types"]) - set(now["event_types"])):
            found.append(f"{name}: no longer carries {event_type}")
    return found


class _Compared:
    """Two versions of one event's schema, each resolving its own `#/$defs/...` references."""

    def __init__(self, old_root: dict, new_root: dict) -> None:
        self.roots = (old_root, new_root)

    def changes(self, old: dict, new: dict, at: str) -> list[str]:
        old, new = self._resolve(old, 0), self._resolve(new, 1)
        if _kinds(old, self, 0) != _kinds(new, self, 1):
            return [f"{at}: retyped from {_kinds(old, self, 0)} to {_kinds(new, self, 1)}"]
        found = self._bounds(old, new, at)
        if "const" in old and old.get("const") != new.get("const"):
            found.append(f"{at}: const changed from {old['const']!r} to {new.get('const')!r}")
        if "enum" in old:
            for value in [v for v in old["enum"] if v not in new.get("enum", old["enum"])]:
                found.append(f"{at}: enum value {value!r} removed")
        found += self._object(old, new, at) + self._variants(old, new, at)
        if "items" in old and "items" in new:
            found += self.changes(old["items"], new["items"], f"{at}[]")
        return found

    def _object(self, old: dict, new: dict, at: str) -> list[str]:
        found = []
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        for name, schema in old_props.items():
            if name not in new_props:
                found.append(f"{at}.{name}: field removed")
            else:
                found += self.changes(schema, new_props[name], f"{at}.{name}")
        found += [f"{at}.{n}: no longer required" for n in sorted(old_required - new_required)
                  if n in new_props]
        found += [f"{at}.{n}: newly required (events already sent lack it)"
                  for n in sorted(new_required - old_required)]
        return found

    def _variants(self, old: dict, new: dict, at: str) -> list[str]:
        found = []
        for word in ("anyOf", "oneOf"):
            new_by_kind = {_kinds(v, self, 1): v for v in new.get(word, ())}
            for variant in old.get(word, ()):
                match = new_by_kind.get(_kinds(variant, self, 0))
                if match is not None:
                    found += self.changes(variant, match, at)
        return found

    @staticmethod
    def _bounds(old: dict, new: dict, at: str) -> list[str]:
        found = [f"{at}: {k} raised to {new[k]}" for k in _LOWER_BOUNDS
                 if k in new and (k not in old or new[k] > old[k])]
        found += [f"{at}: {k} lowered to {new[k]}" for k in _UPPER_BOUNDS
                  if k in new and (k not in old or new[k] < old[k])]
        if "pattern" in new and new.get("pattern") != old.get("pattern"):
            found.append(f"{at}: pattern changed to {new['pattern']!r}")
        return found

    def _resolve(self, schema: dict, side: int) -> dict:
        while "$ref" in schema and schema["$ref"].startswith("#/"):
            node: Any = self.roots[side]
            for part in schema["$ref"][2:].split("/"):
                node = node[part]
            schema = node
        return schema


def _kinds(schema: dict, compared: _Compared, side: int) -> frozenset[str]:
    """The JSON types a value may take (an object names its definition)."""
    schema = compared._resolve(schema, side)
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:
        return frozenset().union(*(_kinds(v, compared, side) for v in variants))
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind} if kind else {"any"}
    return frozenset(kinds)


def main() -> int:
    release = latest_release()
    if release is None:
        print("no released contract to compare with", file=sys.stderr)
        return 1
    changes = breaking_changes(release)
    for change in changes:
        print(f"BREAKING against {release.name}: {change}")
    if not changes:
        print(f"compatible with release {release.name}")
    return 1 if changes else 0


if __name__ == "__main__":
    raise SystemExit(main())
