"""In a real browser: presentation mode from the first slide to the last (with the arrow key and the Next
button), a screenshot per slide that is not blank; Overview KPI cards that are not cut at 1280x800; a chart
downloaded as a PNG picture."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

import engine
from tests.conftest import assert_no_exception, wait_for_app
from tests.support.server import running_server

pytestmark = pytest.mark.browser

TITLES = [
    "The business at a glance",
    "Who the customers are",
    "What to do for each",
    "What the campaigns earned",
    "What the tests proved",
]

# Text in a KPI card wider than its box (cut with an ellipsis or hidden overflow), at any depth.
CUT = """() => [...document.querySelectorAll('[data-testid="stMetric"] *')]
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => el.innerText)"""


def not_blank(png: bytes) -> bool:
    """A screenshot with real content: many colours and visible contrast, not one flat fill."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = len(image.getcolors(maxcolors=1 << 20) or [])
    spread = max(ImageStat.Stat(image.convert("L")).stddev)
    return colours > 200 and spread > 10


def test_presentation_walks_every_slide(app_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(app_server + "/?present=1")
    wait_for_app(page, timeout=120_000)
    for number, title in enumerate(TITLES, start=1):
        page.get_by_role("heading", name=title).wait_for(timeout=60_000)
        assert_no_exception(page)
        assert page.locator('[data-testid="stSidebar"]').is_hidden()
        assert page.get_by_text(f"Slide {number} of {len(TITLES)}").is_visible()
        if number == 1:
            page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=60_000)
        shot = page.screenshot(full_page=True)
        (tmp_path / f"slide_{number}.png").write_bytes(shot)
        assert not_blank(shot), f"slide {number} looks blank"
        assert page.evaluate(CUT) == [], f"cut on slide {number}"
        if number < len(TITLES):
            if number % 2:
                page.keyboard.press("ArrowRight")  # the arrow key moves on, as in a slide deck
            else:
                page.get_by_role("button", name="Next").click()
            wait_for_app(page, timeout=60_000)
    page.get_by_role("button", name="Exit").click()
    wait_for_app(page, timeout=60_000)
    page.get_by_role("heading", name="Overview").wait_for(timeout=60_000)


def test_overview_cards_are_not_cut_and_a_chart_downloads_as_png(app_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page.goto(app_server + "/")
    wait_for_app(page, timeout=120_000)
    page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=60_000)
    assert_no_exception(page)
    assert page.evaluate(CUT) == []
    page.get_by_role("button", name="Download", exact=True).first.click()
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name="Picture (PNG)").click()
    path = tmp_path / "chart.png"
    info.value.save_as(path)
    image = Image.open(path)
    assert image.format == "PNG" and image.width >= 1000
    assert not_blank(path.read_bytes())


@pytest.fixture
def big_store(tmp_path):
    """993,412 customers with one order each ($4.99M in all) and campaigns spending $480M: the sizes whose
    numbers used to be cut on the cards."""
    path = tmp_path / "big.duckdb"
    con = engine.connect(path, shared=False)
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, amount, is_return) "
        "SELECT 'O' || i, 'C' || i, DATE '2025-01-01' + CAST(i % 365 AS INTEGER), 'P1', 1, "
        "CASE WHEN i < 2 THEN 5.005 ELSE 5.0 END, false FROM range(993412) t(i)"
    )
    con.execute(
        "INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, "
        "conversions, revenue) SELECT 'K' || i, 'Campaign ' || i, 'search', DATE '2025-01-01' + CAST(i AS INTEGER), "
        "48012345.6, 9.9e9, 1.2e8, 1234567, 96024691.2 FROM range(10) t(i)"
    )
    engine.bump_data_version(con)
    con.close()
    return path


def test_big_numbers_fit_their_cards(big_store, browser, tmp_path):
    with running_server(big_store, log_path=tmp_path / "server.log") as server:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for path, expected in [("/", ["993k", "$4.97M"]), ("/campaigns", ["$480M", "$960M", "12.3M"])]:
            page.goto(server.url + path)
            wait_for_app(page, timeout=180_000)
            page.locator('[data-testid="stMetricValue"]').first.wait_for(timeout=120_000)
            assert_no_exception(page)
            values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
            assert all(v in values for v in expected), values
            assert page.evaluate(CUT) == [], path
