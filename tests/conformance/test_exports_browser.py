"""A real browser uploads a headerless ratings file named ``u.data``: the uploader takes any extension, the
weak content-only suggestions are hints until taken, the load removes the sample in one line, and the form
comes back empty. The stored rows are checked against pandas."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def test_dot_data_ratings_file_in_chromium(app_server, browser, exports, tmp_path):
    path = exports["u.data"]
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_server + "/data")
    wait_for_app(page)
    page.get_by_role("combobox", name="This file holds").click()
    page.get_by_role("option", name="interactions").click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    wait_for_app(page)
    try:
        page.get_by_role("button", name=re.compile("Take the 4 weak suggestions")).click(timeout=60_000)
        wait_for_app(page)
        main = page.locator('[data-testid="stMain"]')
        assert "will be removed" in main.inner_text()
        page.get_by_role("button", name=re.compile("^.*Load$")).first.click()
        wait_for_app(page)
        page.get_by_text("Loaded 100,000 rows into").wait_for(timeout=60_000)
        body = main.inner_text()
    finally:
        page.screenshot(path=str(tmp_path / "after_load.png"), full_page=True)
    assert_no_exception(page)
    assert "files are not allowed" not in body
    assert "the sample data was removed" in body
    assert page.locator('[data-testid="stFileUploaderFile"]').count() == 0  # the form is empty again
    expected = pd.read_csv(path, sep="\t", header=None, names=["u", "i", "r", "t"])
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    # no sample row left anywhere; the raters are the customers and the rated items the products
    assert (
        f"{expected['u'].nunique():,} customers · 0 order lines · {expected['i'].nunique():,} products"
        in sidebar
    )
    page.get_by_role("tab", name=re.compile("Tables")).click()
    page.get_by_role("tab", name="interactions").click()
    wait_for_app(page)
    page.get_by_text(f"{len(expected):,}", exact=True).first.wait_for(timeout=30_000)
    assert_no_exception(page)
    page.close()
