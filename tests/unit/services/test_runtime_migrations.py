"""Finding migration files: `NNNN_<intent>.sql`, in order, versioned by their source."""

from __future__ import annotations

from pathlib import Path

from services.runtime.db import RUNTIME_MIGRATIONS
from services.runtime.migrations import discover


def write(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_text(f"-- {name}\n", encoding="utf-8")


def test_migrations_are_found_in_number_order(tmp_path):
    write(tmp_path, "0010_later.sql", "0002_second.sql", "0001_first.sql")
    found = discover("scoring", tmp_path)
    assert [m.version for m in found] == ["scoring/0001", "scoring/0002", "scoring/0010"]
    assert [m.path.name for m in found] == ["0001_first.sql", "0002_second.sql", "0010_later.sql"]


def test_files_not_named_like_migrations_are_ignored(tmp_path):
    write(tmp_path, "0001_ok.sql", "1_short_number.sql", "0002_Upper-Case.sql", "0003_ok.sql.bak",
          "README.md", "0004_.sql", "notes.sql")
    assert [m.version for m in discover("svc", tmp_path)] == ["svc/0001"]


def test_an_empty_directory_has_no_migrations(tmp_path):
    assert discover("svc", tmp_path) == []


def test_a_migrations_checksum_changes_with_its_content(tmp_path):
    write(tmp_path, "0001_first.sql")
    [before] = discover("svc", tmp_path)
    checksum = before.checksum
    (tmp_path / "0001_first.sql").write_text("-- edited\n", encoding="utf-8")
    assert before.checksum != checksum


def test_the_runtime_and_every_service_ship_valid_migrations():
    services = Path(__file__).parents[3] / "services"
    assert [m.version for m in discover("runtime", RUNTIME_MIGRATIONS)] == [
        "runtime/0001", "runtime/0002", "runtime/0003", "runtime/0004"]
    for name in ("registration", "scoring", "awards", "notify"):
        versions = [m.version for m in discover(name, services / name / "migrations")]
        assert versions == [f"{name}/{n:04d}" for n in range(1, len(versions) + 1)]
        assert versions, f"{name} ships no migration"
