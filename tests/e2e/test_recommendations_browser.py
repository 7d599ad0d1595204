"""A real browser picks a customer on the Recommendations page and sees their list with reasons that point
to products in their own history."""

from __future__ import annotations

import re

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def grid_cells(page, index: int) -> list[str]:
    grid = page.locator('[data-testid="stDataFrame"]').nth(index)
    return grid.locator('[role="gridcell"]').all_inner_texts()


def test_pick_a_customer_and_see_recommendations_with_explanations(app_server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_server + "/recommendations")
    wait_for_app(page, timeout=180_000)
    page.get_by_text("Top 10 for").wait_for(timeout=180_000)
    assert_no_exception(page)

    page.get_by_role("combobox", name=re.compile("Customer")).click()
    page.keyboard.type("C0042")
    page.get_by_role("option", name=re.compile("C0042")).first.wait_for(
        timeout=30_000
    )  # the list has filtered
    page.keyboard.press("Enter")
    page.get_by_text("Top 10 for C0042").wait_for(timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)

    recommended = grid_cells(page, 0)
    reasons = [c for c in recommended if c.startswith("Because you rated ")]
    vague = [c for c in recommended if c == "Matches your taste profile"]
    assert len(reasons) + len(vague) == 10 and len(reasons) >= 5, recommended
    history = set(grid_cells(page, 1))
    because = {r.removeprefix("Because you rated ") for r in reasons}
    assert because <= history, (because, history)
    assert "Segment" in page.locator('[data-testid="stMain"]').inner_text()


def test_a_big_export_is_prepared_on_request_and_downloads_whole(app_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1200}, accept_downloads=True)
    page.goto(app_server + "/recommendations")
    wait_for_app(page, timeout=180_000)
    page.get_by_role("tab", name="All customers").click()
    prepare = page.get_by_role("button", name="Prepare the CSV (50,000 rows)")
    prepare.wait_for(timeout=120_000)
    assert page.get_by_role("button", name="Download all customers' lists (CSV)").count() == 0
    prepare.click()
    download_button = page.get_by_role("button", name="Download all customers' lists (CSV)")
    download_button.wait_for(timeout=120_000)
    wait_for_app(page)
    assert prepare.count() == 0  # the download takes the button's place
    with page.expect_download(timeout=120_000) as info:
        download_button.click()
    target = tmp_path / "all.csv"
    info.value.save_as(target)
    lines = target.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("customer_id,rank,product_id") and len(lines) == 50_001
    assert_no_exception(page)
