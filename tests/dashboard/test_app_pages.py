"""Every page, from the entry point, on the sample data and on an empty store: no exception, real content."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
PAGES = [
    "overview",
    "segments",
    "builder",
    "personas",
    "recommendations",
    "campaigns",
    "experiments",
    "targeting",
    "predict",
    "data",
]


def run_page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    return at


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_sample_data(app_db, page):
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and at.title[0].value
    texts = " ".join(i.value for i in at.info)
    assert "sample data" in texts  # every page says plainly that this is sample data


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_on_empty_store(empty_app_db, page):
    at = run_page(page)
    assert not at.exception, [e.value for e in at.exception]
    if page != "data":
        messages = " ".join(m.value for m in [*at.info, *at.warning])
        assert "yet" in messages.lower() or "upload" in messages.lower(), messages
        assert "Upload a **orders**" not in messages and "Upload a **experiments**" not in messages
    if page in ("overview", "segments", "personas"):
        assert "Upload an **orders** file" in messages


def test_a_recovery_warning_shows_on_every_page_until_an_analyst_marks_it_checked(app_db):
    import engine

    con = engine.connect(app_db, shared=False)
    engine.set_meta(con, "recovery_warning", "Segmint was stopped without a clean shutdown (test).")
    con.close()
    at = run_page("campaigns")
    assert not at.exception, [e.value for e in at.exception]
    assert any("without a clean shutdown" in e.value for e in at.error)
    at.button(key="segmint_recovery_checked").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("without a clean shutdown" in e.value for e in at.error)
    engine.close_all()
    con = engine.connect(app_db, shared=False)
    assert engine.recovery_warning(con) is None
    con.close()
