"""A real browser opens Segments and Personas on the sample data, with no exception, and downloads a
segment's members with their scores."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def test_segments_and_personas_pages_and_member_export(app_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
    page.goto(app_server + "/segments")
    wait_for_app(page, timeout=120_000)
    page.get_by_role("button", name="Download segment table").wait_for(timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page)
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "Best customers" in main and "Slipping away" in main

    page.get_by_role("tab", name=re.compile("Export members")).click()
    wait_for_app(page)
    button = page.get_by_role("button", name=re.compile(r"Download [\d,]+ members"))
    button.wait_for(timeout=60_000)
    with page.expect_download(timeout=60_000) as info:
        button.click()
    path = tmp_path / "members.csv"
    info.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert rows, "the export is empty"
    assert {"customer_id", "segment", "r_score", "f_score", "m_score", "monetary"} <= set(rows[0])
    assert {r["segment"] for r in rows} == {"Champions"}
    assert_no_exception(page)

    page.goto(app_server + "/personas")
    wait_for_app(page, timeout=120_000)
    page.get_by_text("Loyalty reward").first.wait_for(timeout=60_000)
    assert_no_exception(page)
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert "stand out" in text.lower()
