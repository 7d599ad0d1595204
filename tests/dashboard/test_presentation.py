"""Presentation mode walks the story from the first slide to the last on the sample, and on an empty store."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

import engine
from dashboard import components

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TITLES = [
    "The business at a glance",
    "Who the customers are",
    "What to do for each",
    "What the campaigns earned",
    "What the tests proved",
]


def presenting() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["present"] = "1"
    return at.run()


def test_every_slide_from_first_to_last_on_the_sample(app_db, sample_con):
    at = presenting()
    customers = sample_con.execute(
        "SELECT count(DISTINCT customer_id) FROM orders WHERE NOT is_return"
    ).fetchone()[0]
    for number, title in enumerate(TITLES, start=1):
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        assert at.title[0].value == title
        assert at.query_params.get("slide", "1") in (str(number), [str(number)])
        assert len(at.sidebar.children) == 0 or not at.sidebar.toggle  # no sidebar controls
        assert any("sample data" in m.value for m in at.markdown)  # a demo says it is one
        if number == 1:
            assert f"{customers:,}" in [m.value for m in at.metric]
            assert len(at.get("plotly_chart")) == 3
            shown = [m.value for m in at.markdown]
            story = engine.build_story(sample_con)
            for chart in story.sections[0].charts:  # a takeaway under every chart, as its alt text
                assert components.plain(chart.takeaway) in shown
        if number < len(TITLES):
            at.button(key="slide_next").click().run()
    assert at.button(key="slide_next").disabled
    at.button(key="slide_previous").click().run()
    assert at.title[0].value == TITLES[-2]
    at.button(key="slide_exit").click().run()
    assert at.title[0].value == "Overview"
    assert "present" not in at.query_params


def test_the_sidebar_switch_starts_presentation_mode(app_db):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.sidebar.toggle(key="share_present_switch").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == TITLES[0]


def test_an_empty_store_says_so_on_every_slide(empty_app_db):
    at = presenting()
    for _ in TITLES[:-1]:
        assert not at.exception, [e.value for e in at.exception]
        at.button(key="slide_next").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == TITLES[-1]


def test_a_campaign_named_in_markdown_is_shown_as_itself(app_db):
    hostile = "**loud** ![x](http://127.0.0.1:9/p.png)"
    con = engine.connect(app_db, shared=False)
    con.execute("UPDATE campaigns SET campaign_name = ? WHERE campaign_id = 'CMP02'", [hostile])
    engine.bump_data_version(con)
    con.close()
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["present"] = "1"
    at.query_params["slide"] = "4"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    takeaways = [m.value for m in at.markdown if "did best" in m.value]
    assert takeaways and components.plain(hostile) in takeaways[0]  # escaped: no bold, no image


def test_a_link_with_dates_presents_those_dates(app_db):
    import datetime as dt

    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["present"] = "1"
    at.query_params["from"] = "2025-07-01"
    at.query_params["to"] = "2025-12-31"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    con = engine.connect(app_db, shared=False)
    k = engine.kpis(con, dt.date(2025, 7, 1), dt.date(2025, 12, 31))
    con.close()
    assert {m.label: m.value for m in at.metric}["Customers"] == f"{k.customers:,}"
    assert any("Jul 01, 2025 to Dec 31, 2025" in m.value for m in at.markdown)


def test_the_tests_slide_shows_a_chart_per_test(tmp_path, monkeypatch):
    from tests.conftest import _clear_streamlit_caches
    from tests.support.stores import two_tests_store

    path = tmp_path / "tests.duckdb"
    tests = two_tests_store(path)
    monkeypatch.setenv("SEGMINT_DB", str(path))
    _clear_streamlit_caches()
    try:
        at = presenting()
        at.query_params["slide"] = str(len(TITLES))
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.title[0].value == TITLES[-1]
        assert len(at.get("plotly_chart")) == 3  # both tests in the story's dates (all), and the 2023 one
        shown = " ".join(m.value for m in at.markdown)
        rates = tests.groupby(["experiment_id", "variant"])["converted"].mean()
        for experiment in ("checkout_button", "free_shipping", "old_banner"):
            assert components.plain(f"In {experiment},") in shown  # markdown-escaped as on the page
        assert f"converted {rates[('free_shipping', 'B')]:.1%}" in shown
    finally:
        _clear_streamlit_caches()
