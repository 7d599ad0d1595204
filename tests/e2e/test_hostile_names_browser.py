"""A file whose name and headers are markdown and HTML is shown as itself on the Data page: no image fetched
from elsewhere, no bold or emphasis made from what the file says, in the messages and the Undo button."""

from __future__ import annotations

import re

import pytest

from tests.conftest import assert_no_exception, wait_for_app

pytestmark = pytest.mark.browser

FILE_NAME = "**loud** <b>big ![x](p.png).csv"  # no slash: the name is a base name
IMAGE_HEADER = "![pixel](http://127.0.0.1:9/pixel.png)"
HTML_HEADER = "<em>shout</em>"


def hostile_orders() -> dict:
    """The upload as the browser hands it over."""
    lines = [f"order_id,customer_id,order_date,amount,{IMAGE_HEADER},{HTML_HEADER}"]
    lines += [f"H{i},C{i % 3},2026-03-{i + 1:02d},{10 + i}.50,a{i},b{i}" for i in range(6)]
    data = ("\n".join(lines) + "\n").encode()
    return {"name": FILE_NAME, "mimeType": "text/csv", "buffer": data}


def assert_shown_as_text(page) -> None:
    main = page.locator('[data-testid="stMain"]')
    assert main.locator("img[src*='pixel'], img[src*='p.png']").count() == 0
    assert main.locator("em").filter(has_text=re.compile(r"^shout$")).count() == 0
    assert main.locator("strong").filter(has_text=re.compile(r"^loud$")).count() == 0
    assert main.locator("b").filter(has_text=re.compile(r"big")).count() == 0


def test_markdown_and_html_in_a_file_name_and_headers_are_shown_as_text(app_server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(app_server + "/data")
    wait_for_app(page)
    page.get_by_role("combobox", name="This file holds").click()
    page.get_by_role("option", name="orders").click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(hostile_orders())
    wait_for_app(page)
    page.get_by_text("How to load").wait_for(timeout=60_000)
    wait_for_app(page)
    assert_no_exception(page)
    body = page.locator('[data-testid="stMain"]').inner_text()
    assert IMAGE_HEADER in body and HTML_HEADER in body  # the notes name the extra columns as they are
    assert FILE_NAME in body
    assert_shown_as_text(page)
    page.screenshot(path=str(tmp_path / "mapped.png"), full_page=True)

    page.get_by_text("Append to orders").click()
    wait_for_app(page)
    page.get_by_role("button", name=re.compile("Load$")).first.click()
    wait_for_app(page)
    page.get_by_text("Loaded 6 rows into").wait_for(timeout=60_000)
    page.get_by_role("tab", name=re.compile("History")).click()
    undo = page.get_by_role("button", name=re.compile("Undo the last load"))
    undo.wait_for(timeout=30_000)
    assert FILE_NAME in undo.inner_text()
    page.screenshot(path=str(tmp_path / "history.png"), full_page=True)
    assert_shown_as_text(page)
    assert_no_exception(page)
    page.close()
