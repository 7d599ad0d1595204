"""A real browser filters the Campaigns page by channel and sees the KPIs, charts and table follow."""

from __future__ import annotations

import csv
import io

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def _kpi(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _download_rows(page, button, tmp_path, name: str) -> list[dict[str, str]]:
    with page.expect_download(timeout=60_000) as info:
        button.click()
    path = tmp_path / name
    info.value.save_as(path)
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def test_channel_filter_updates_kpis_charts_and_table(app_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1500, "height": 2200}, accept_downloads=True)
    page.goto(app_server + "/campaigns")
    wait_for_app(page, timeout=120_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page)
    spend_before = _kpi(page, "Spend")
    roi_chart = page.locator(".js-plotly-plot").filter(has_text="ROI by campaign").first
    assert "Brand Search" in roi_chart.inner_text()

    table_download = page.get_by_role("button", name="Download campaign table CSV")
    rows = _download_rows(page, table_download, tmp_path, "before.csv")
    assert len({r["channel"] for r in rows}) > 1

    channels = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Channels").first
    channels.click()
    page.get_by_role("option", name="email", exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(p => p.textContent.includes('ROI by campaign')"
        " && !p.textContent.includes('Brand Search'))",
        timeout=60_000,
    )
    wait_for_app(page)
    assert_no_exception(page)

    assert _kpi(page, "Spend") != spend_before
    roi_chart = page.locator(".js-plotly-plot").filter(has_text="ROI by campaign").first
    assert "Winback Email" in roi_chart.inner_text()
    bubble = page.locator(".js-plotly-plot").filter(has_text="Spend vs revenue").first
    legend = bubble.locator(".legend").text_content()
    assert "email" in legend and "paid_search" not in legend

    table_download = page.get_by_role("button", name="Download campaign table CSV")
    rows = _download_rows(page, table_download, tmp_path, "after.csv")
    assert rows and {r["channel"] for r in rows} == {"email"}
    assert {r["campaign_name"] for r in rows} == {"Weekly Newsletter", "Winback Email"}
