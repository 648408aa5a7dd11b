"""`thidua import` and `thidua export` against registration served over real HTTP: the upload
streamed, the job polled to its end with a progress bar, the report printed, the exit status
telling success from refusal, the download written whole."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import uuid

import pytest

from services.devstack.cli import main
from services.devstack.demo_directory import SCHOOL
from tests.support.asgi_server import serving
from tests.support.identity import mint

pytestmark = pytest.mark.integration


@pytest.fixture
async def registration_url(system):
    async with serving(system["registration"]) as port:
        yield f"http://127.0.0.1:{port}"


async def thidua(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = await asyncio.to_thread(main, list(argv))
    return code, err.getvalue()


async def test_import_shows_progress_and_reports_and_export_writes_the_file(
        registration_url, tmp_path):
    token = mint("grassroots_official", unit=SCHOOL)
    unit = f"u-cli-{uuid.uuid4().hex[:8]}"
    units = tmp_path / "don-vi.csv"
    units.write_text("unit_id,name,kind,parent_id,effective_from,sector,member_count\n"
                     f"{unit},Công đoàn Tổ Văn phòng,grassroots_union,{SCHOOL},2020-01-01,"
                     "administration,12\n", encoding="utf-8")
    code, shown = await thidua("import", "units", str(units), "--url", registration_url,
                               "--token", token)
    assert code == 0, shown
    assert "[##############################] 100.0%" in shown and "1 registered" in shown

    members = tmp_path / "doan-vien.csv"
    good = f"m-cli-{uuid.uuid4().hex[:8]}"
    members.write_text(
        "member_id,unit_id,full_name,gender,effective_from\n"
        f"{good},{unit},Phan Thị Ngọc,nữ,2020-02-01\n"
        f"m-cli-{uuid.uuid4().hex[:8]},{unit},Phan Văn Tâm,nam,1/1/2019\n", encoding="utf-8")
    code, shown = await thidua("import", "members", str(members), "--url", registration_url,
                               "--token", token)
    assert code == 1 and "refused" in shown
    assert "row       3  unit_id" in shown and "unit_not_active" in shown
    assert "--skip-bad-rows" in shown
    code, shown = await thidua("import", "members", str(members), "--skip-bad-rows",
                               "--url", registration_url, "--token", token)
    assert code == 0 and "1 registered" in shown and "1 bad" in shown, shown

    target = tmp_path / "out.csv"
    code, shown = await thidua("export", "members", "--unit", unit, "-o", str(target),
                               "--url", registration_url, "--token", token)
    assert code == 0, shown
    rows = list(csv.DictReader(target.read_text(encoding="utf-8-sig").splitlines()))
    assert [r["member_id"] for r in rows] == [good]

    code, shown = await thidua("export", "members", "--unit", "u-caugiay-bv-e", "-o",
                               str(tmp_path / "no.csv"), "--url", registration_url,
                               "--token", token)
    assert code == 1 and "unit_id" in shown and not (tmp_path / "no.csv").exists()
    code, shown = await thidua("import", "units", str(units), "--url", registration_url,
                               "--token", "")
    assert code == 2 and "THIDUA_TOKEN" in shown
