"""In a real browser: presentation mode from the first slide to the last (with the arrow key and the Next
button), a screenshot per slide that is not blank; Overview KPI cards that are not cut at 1280x800; a chart
downloaded as a PNG picture."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser

TITLES = [
    "The business at a glance",
    "Who the customers are",
    "What to do for each",
    "What the campaigns earned",
    "What the tests proved",
]

# Elements whose text is wider than their box (cut with an ellipsis or hidden overflow).
CUT = """() => [...document.querySelectorAll(
    '[data-testid="stMetricValue"], [data-testid="stMetricLabel"], [data-testid="stMetricValue"] div, '
    + '[data-testid="stMetricLabel"] p')]
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
