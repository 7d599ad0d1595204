"""A real browser opens the Predict page on the sample data, reads the check on later months and downloads
the at-risk-and-valuable list."""

from __future__ import annotations

import csv
import io
import os

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser


def test_predict_page_in_a_browser(app_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1500, "height": 2200}, accept_downloads=True)
    page.goto(app_server + "/predict")
    wait_for_app(page, timeout=180_000)
    page.locator(".js-plotly-plot").filter(has_text="Predicted customer value").first.wait_for(
        timeout=180_000
    )
    wait_for_app(page)
    assert_no_exception(page)
    shots = os.environ.get("SEGMINT_SCREENSHOTS")
    if shots:
        page.screenshot(path=os.path.join(shots, "predict_value.png"), full_page=True)

    page.get_by_role("tab", name="How well it predicts").click()
    tracking = page.locator(".js-plotly-plot").filter(has_text="Repeat purchases per week")
    tracking.first.wait_for(timeout=60_000)
    assert "the model predicted" in page.locator('[data-testid="stMarkdown"]').all_inner_texts().__str__()
    assert tracking.first.locator(".scatterlayer .trace").count() == 2  # actual and predicted
    assert_no_exception(page)
    if shots:
        page.screenshot(path=os.path.join(shots, "predict_check.png"), full_page=True)

    page.get_by_role("tab", name="At risk and valuable").click()
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="Download CSV").filter(visible=True).first.click()
    path = tmp_path / "at_risk.csv"
    info.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert rows and "clv" in rows[0] and "churn_risk" in rows[0]
    assert all(float(r["churn_risk"]) >= 0.5 for r in rows)
    values = [float(r["clv"]) for r in rows]
    assert values == sorted(values, reverse=True)
    if shots:
        page.screenshot(path=os.path.join(shots, "predict_at_risk.png"), full_page=True)
    page.close()
