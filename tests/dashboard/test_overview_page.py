"""Overview on the sample data: KPI cards match the engine's SQL and follow the date filter."""

from __future__ import annotations

import datetime as dt

from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP


def test_kpis_match_engine_and_follow_the_date_filter(app_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    con = engine.connect(app_db)
    k = engine.kpis(con)
    assert labels["Orders"] == f"{k.orders:,}"
    assert labels["Customers"] == f"{k.customers:,}"
    assert len(at.get("plotly_chart")) >= 3
    captions = " ".join(c.value for c in at.caption)
    assert "no orders in the 731 days before, so there is no change to show" in captions  # not "compare"

    at.sidebar.date_input[0].set_value((dt.date(2025, 7, 1), dt.date(2025, 12, 31))).run()
    assert not at.exception
    narrowed = engine.kpis(con, dt.date(2025, 7, 1), dt.date(2025, 12, 31))
    labels = {m.label: m for m in at.metric}
    assert labels["Orders"].value == f"{narrowed.orders:,}"
    assert narrowed.orders < k.orders
    assert labels["Orders"].delta  # the previous half-year exists, so a change is shown
    assert "changes compare with the 184 days before" in " ".join(c.value for c in at.caption)
