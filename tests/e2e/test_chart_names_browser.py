"""A campaign named as an HTML link shows on the Campaigns page's charts as its name in plain characters: no
link inside the plotly chart, the whole name readable."""

from __future__ import annotations

import shutil

import pytest

import engine
from tests.conftest import assert_no_exception, wait_for_app
from tests.support.server import running_server

pytestmark = pytest.mark.browser

NAME = '<a href="https://evil.example">click</a>'


@pytest.fixture
def hostile_server(sample_db_file, tmp_path):
    """The sample store plus a campaign with the best ROI of all (so the ROI chart shows it) named as a link."""
    db = tmp_path / "server.duckdb"
    shutil.copy(sample_db_file, db)
    con = engine.connect(db, shared=False)
    con.execute(
        "INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, "
        "conversions, revenue) SELECT 'EVIL1', ?, 'email', max(date), 10, 1000, 50, 5, 100000 FROM campaigns",
        [NAME],
    )
    engine.bump_data_version(con)
    con.close()
    with running_server(db, log_path=tmp_path / "server.log") as server:
        yield server.url


def test_a_campaign_named_as_a_link_is_text_in_the_chart(hostile_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    page.goto(hostile_server + "/campaigns")
    wait_for_app(page, timeout=120_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
    wait_for_app(page)
    assert_no_exception(page)
    roi = page.locator(".js-plotly-plot").filter(has_text="ROI by campaign").first
    roi.wait_for(timeout=60_000)
    assert f"{NAME} (EVIL1)" in roi.text_content()  # the tick label reads as the file has it
    links = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot a')].map(a => a.outerHTML)"
        ".filter(h => h.includes('evil.example'))"
    )
    assert links == []
    roi.scroll_into_view_if_needed()
    roi.screenshot(path=str(tmp_path / "roi.png"))
    page.close()
