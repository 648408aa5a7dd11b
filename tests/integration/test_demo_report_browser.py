"""The closing report opened in a real headless Chromium: every chart lays out its bars.

`make test` installs Chromium from the OS packages where it is missing (root on Debian); a
machine without it skips this test, except in CI, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from services.devstack.demo_report import charts_of, write_html
from tests.support.report_sample import seeds_report


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    message = "Chromium is not installed (make test installs it from the OS packages as root)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def test_report_charts_render_in_headless_chromium(tmp_path):
    browser = _chromium()
    report = seeds_report()
    page = write_html(report, tmp_path / "report" / "report.html")
    completed = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    body = re.search(r"<body[^>]*>", completed.stdout)
    assert body, completed.stdout[:500]
    rendered = re.search(r'data-charts-rendered="(\d+)"', body.group(0))
    assert rendered, f"the page's check never ran: {body.group(0)}"
    assert int(rendered.group(1)) == len(charts_of(report)) == 5
