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
    assert labels["Orders"] == f"{k.orders / 1e3:.1f}k"  # compact on the card (23.8k) ...
    assert f"Exactly {k.orders:,}." in {m.label: m.help for m in at.metric}["Orders"]  # ... exact in its help
    assert labels["Customers"] == f"{k.customers:,}"  # under 10,000: in full
    assert len(at.get("plotly_chart")) >= 3
    captions = " ".join(c.value for c in at.caption)
    assert "no orders in the 731 days before, so there is no change to show" in captions  # not "compare"

    at.sidebar.date_input[0].set_value((dt.date(2025, 7, 1), dt.date(2025, 12, 31))).run()
    assert not at.exception
    narrowed = engine.kpis(con, dt.date(2025, 7, 1), dt.date(2025, 12, 31))
    labels = {m.label: m for m in at.metric}
    assert labels["Orders"].value == f"{narrowed.orders:,}"  # under 10,000: in full
    assert narrowed.orders < k.orders
    assert labels["Orders"].delta  # the previous half-year exists, so a change is shown
    assert "changes compare with the 184 days before" in " ".join(c.value for c in at.caption)


def test_guest_orders_count_in_revenue_and_are_said_apart(app_db):
    con = engine.connect(app_db, shared=False)
    last = con.execute("SELECT max(order_date) FROM orders").fetchall()[0][0]
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, amount, is_return) "
        "VALUES ('G1', NULL, ?, 'p1', 1, 40.0, false), ('G1', NULL, ?, 'p2', 2, 60.0, false), "
        "('G2', NULL, ?, 'p1', 1, 25.0, false)",
        [last, last, last],
    )
    engine.bump_data_version(con)
    k = engine.kpis(con)
    con.close()
    assert k.guest_orders == 2 and k.guest_revenue == 125.0
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert (
        f"2 guest orders ($125, {125.0 / k.revenue:.1%} of revenue) are not in customer analyses" in captions
    )
    labels = {m.label: m.value for m in at.metric}
    assert labels["Orders"] == f"{k.orders / 1e3:.1f}k"
    assert labels["Avg order"] == f"${k.revenue / k.orders:,.2f}"
    help_text = {m.label: m.help for m in at.metric}
    assert help_text["Revenue"].startswith(engine.KPI_DEFINITIONS["revenue"])
