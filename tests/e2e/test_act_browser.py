"""A real browser: a click on a segment's bar opens the customers behind it, and a saved view's link
restores its filters in a fresh browser context (no cookies, no session)."""

from __future__ import annotations

import re

import pytest

import engine
from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def test_click_on_a_bar_opens_its_customers(app_server, browser, sample_con):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(app_server + "/segments")
    wait_for_app(page, timeout=120_000)
    page.get_by_text("Click a bar of the share chart").wait_for(timeout=120_000)
    chart = page.locator(".stPlotlyChart").nth(1)  # the treemap comes first, the share bars second
    chart.scroll_into_view_if_needed()
    bar = chart.locator("g.trace.bars").last.locator("g.point path").first  # the first segment's revenue bar
    bar.click(force=True)
    wait_for_app(page)
    page.get_by_text("Customers behind your click").wait_for(timeout=60_000)
    assert_no_exception(page)
    text = page.locator('[data-testid="stMain"]').inner_text()
    found = re.search(r"Customers behind your click: (.+?) · ([\d,]+) customers", text)
    assert found, text[:2000]
    name, count = found.group(1), int(found.group(2).replace(",", ""))
    summary = engine.segment_summary(sample_con)  # the same sample the server copied
    assert (name, count) == (summary["segment"].iloc[0], int(summary["customers"].iloc[0]))
    assert page.get_by_role("button", name=f"Download {count:,} customers").is_visible()
    assert page.get_by_role("button", name="Open in the Segment builder").is_visible()

    # a heatmap cell: recency score 5 by frequency score 5 (the last of the 25 cells)
    heatmap = page.locator(".stPlotlyChart").nth(2)
    heatmap.scroll_into_view_if_needed()
    heatmap.locator("g.trace.scatter path.point").nth(24).click(force=True)
    wait_for_app(page)
    page.get_by_text("recency score 5, frequency score 5").wait_for(timeout=60_000)
    assert_no_exception(page)
    text = page.locator('[data-testid="stMain"]').inner_text()
    found = re.search(
        r"Customers behind your click: recency score 5, frequency score 5 · ([\d,]+) customers", text
    )
    grid = engine.score_grid(sample_con, y="f_score")
    cell = grid[(grid["r_score"] == 5) & (grid["f_score"] == 5)]
    assert found and int(found.group(1).replace(",", "")) == int(cell["customers"].iloc[0])


def test_a_saved_views_link_restores_its_filters_in_a_new_context(sample_db_file, tmp_path, browser):
    import shutil

    from tests.support.server import running_server

    db = tmp_path / "views.duckdb"
    shutil.copy(sample_db_file, db)
    con = engine.connect(db, shared=False)
    filters = {"from": "2025-02-01", "to": "2025-03-31", "segment": "At Risk"}
    engine.save_named(
        con, "view", "Spring at risk", {"page": "segments", "filters": filters}, "ana@example.com"
    )
    link = engine.view_query("segments", engine.filters_from_query(filters))
    con.close()
    with running_server(db, log_path=tmp_path / "server.log") as server:
        first = browser.new_context(viewport={"width": 1400, "height": 1400})
        page = first.new_page()
        page.goto(server.url + "/segments")
        wait_for_app(page, timeout=120_000)
        page.get_by_text("Share or save this view").click()
        page.get_by_role("link", name="Spring at risk").wait_for(timeout=60_000)
        assert page.get_by_role("link", name="Spring at risk").get_attribute("href") == "/" + link
        first.close()

        fresh = browser.new_context(viewport={"width": 1400, "height": 1400})
        page = fresh.new_page()
        page.goto(server.url + "/" + link)
        wait_for_app(page, timeout=120_000)
        page.get_by_role("button", name=re.compile(r"Download [\d,]+ members")).wait_for(timeout=120_000)
        assert_no_exception(page)
        inputs = page.locator('[data-testid="stSidebar"] [data-testid="stDateInput"] input[type="date"]')
        assert [inputs.nth(i).input_value() for i in range(inputs.count())] == ["2025-02-01", "2025-03-31"]
        assert (
            page.get_by_role("tab", name=re.compile("Export members")).get_attribute("aria-selected")
            == "true"
        )
        chosen = page.locator('[data-testid="stMultiSelect"]').first.inner_text()
        assert "At Risk" in chosen
        fresh.close()
