"""A real browser uploads a messy orders export through the file uploader, maps it, loads it, and sees the
new counts on Overview; then undoes the load."""

from __future__ import annotations

import re

import pytest

import engine
from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def messy_orders(path):
    lines = ["Invoice No;Cust ID;Invoice Date;SKU;Qty;Total (EUR)"]
    for i in range(40):
        lines.append(f"X{i};NEW{i % 10};{i % 27 + 1:02d}.03.2026;P{i % 5};1;1.2{i % 10}0,50")
    path.write_text("\n".join(lines) + "\n", encoding="cp1252")
    return path


def test_upload_map_load_and_see_it_on_overview(app_server, browser, tmp_path, sample_con):
    before = engine.row_count(sample_con, "orders")
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(app_server + "/data")
    wait_for_app(page)
    assert_no_exception(page)
    page.get_by_role("combobox", name="This file holds").click()
    page.get_by_role("option", name="orders").click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(messy_orders(tmp_path / "eu.csv"))
    )
    wait_for_app(page)
    page.get_by_text("How to load").wait_for(timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert "40 rows" in body and "semicolon" in body
    assert re.search(r"Will load\s+40", body)
    assert "amount 49,820.00" in body
    page.get_by_text("Append to orders").click()
    wait_for_app(page)
    try:
        page.get_by_role("button", name=re.compile("Load$")).first.click()
        wait_for_app(page)
        page.get_by_text("Loaded 40 rows into").wait_for(timeout=60_000)
    finally:
        page.screenshot(path=str(tmp_path / "after_load.png"), full_page=True)
    assert_no_exception(page)

    page.goto(app_server + "/")
    wait_for_app(page)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    # the first load of one's own data sets the whole sample aside: the 40 lines (of 10 customers, known
    # from the orders alone) are all there is
    assert "10 customers · 40 order lines · 5 products" in sidebar  # SKUs P0..P4 on the order lines
    main = page.locator('[data-testid="stMain"]').inner_text()
    assert "Overview" in main
    assert_no_exception(page)

    page.goto(app_server + "/data")
    wait_for_app(page)
    page.get_by_role("tab", name=re.compile("History")).click()
    page.get_by_role("button", name=re.compile("Undo the last load")).click()
    wait_for_app(page)
    assert_no_exception(page)
    page.get_by_text(f"{before:,} order lines").wait_for(timeout=30_000)
    page.close()
