"""The Predict page through AppTest: figures on the sample data from independent counts, the check on later
months with its chart, the downloads, and an honest refusal where the orders look like a subscription."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP

PAGE = "app_pages/predict.py"


def _open() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_predicts_on_the_sample_and_shows_the_check(app_db):
    con = engine.connect(app_db, shared=False)
    # independently: customers with a purchase day that is not a return (pandas over the raw lines)
    lines = con.execute("SELECT customer_id, order_date, amount, is_return FROM orders").df()
    con.close()
    bought = lines[lines["customer_id"].notna() & ~lines["is_return"].fillna(lines["amount"] < 0)]
    days = bought.assign(day=bought["order_date"].dt.normalize())[["customer_id", "day"]].drop_duplicates()
    per_customer = days.groupby("customer_id").size()
    at = _open()
    assert at.title[0].value.endswith("Who will buy again")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Customers"] == f"{len(per_customer):,}"
    assert metrics["Came back"] == f"{int((per_customer > 1).sum()):,}"
    captions = " ".join(c.value for c in at.caption)
    assert f"{int(lines['is_return'].fillna(False).sum()):,} return lines" in captions
    markdown = " ".join(m.value for m in at.markdown)
    assert "the model predicted" in markdown and "repeat purchases by these" in markdown
    assert "AUC" in markdown
    assert len(at.get("plotly_chart")) >= 4  # value spread, risk bands, tracking, by purchases
    assert len(at.get("download_button")) >= 3
    # a different horizon is another stored prediction; the page still renders
    at.selectbox(key="predict_horizon").set_value("90 days").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "for the next 90 days" in " ".join(c.value for c in at.caption)


def test_page_refuses_a_subscription_pattern_plainly(empty_app_db):
    rows = []
    for c in range(200):
        for k in range(12):
            day = pd.Timestamp("2024-01-01") + pd.Timedelta(days=c % 20 + 30 * k)
            rows.append((f"s{c}-{k}", f"c{c:04d}", day, 25.0))
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount"])
    con = engine.connect(empty_app_db, shared=False)
    cur = con.cursor()
    cur.register("_lines", frame)
    cur.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount) "
        "SELECT order_id, customer_id, order_date, amount FROM _lines"
    )
    engine.bump_data_version(cur)
    cur.close()
    con.close()
    at = _open()
    assert any("do not suit the prediction model" in i.value for i in at.info)
    assert "subscription" in " ".join(m.value for m in at.markdown)
    assert not at.get("plotly_chart") and not at.metric


def test_segment_member_export_can_carry_predicted_value_and_risk(app_db):
    from tests.dashboard.test_segments_page import open_segments, open_tab

    at = open_tab(open_segments(), "export")
    at.multiselect(key="segments_export_choice").set_value(["At Risk"]).run()
    at.toggle(key="segments_export_predictions").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = at.dataframe[0].value
    assert {"p_alive", "clv", "churn_risk", "risk_band"} <= set(shown.columns)
    assert shown["clv"].notna().all() and (shown["churn_risk"].between(0, 1)).all()


def test_segment_table_can_carry_predicted_value_per_segment(app_db):
    from tests.dashboard.test_segments_page import open_segments, open_tab

    at = open_tab(open_segments(), "rfm")
    at.toggle(key="segments_summary_predictions").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = at.dataframe[0].value
    assert {"clv", "clv_per_customer", "churn_risk", "share_at_risk"} <= set(shown.columns)
    con = engine.connect(app_db, shared=False)
    prediction = engine.predict_customers(con)
    scores = engine.prediction_scores(con, prediction)
    con.close()
    buyers = shown[shown["segment"] != engine.NO_PURCHASES]
    assert buyers["clv"].sum() == pytest.approx(scores["clv"].sum(), rel=1e-9)


def test_persona_table_can_carry_predicted_value_per_segment(app_db):
    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.switch_page("app_pages/personas.py")
    at.run()
    at.toggle(key="personas_predictions").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "clv_per_customer" in d.value.columns)
    con = engine.connect(app_db, shared=False)
    prediction = engine.predict_customers(con)
    scores = engine.prediction_scores(con, prediction)
    segments = engine.customer_segments(con)[["customer_id", "segment"]]
    con.close()
    joined = scores.merge(segments.astype({"customer_id": str}), on="customer_id")
    per_customer = joined.groupby("segment")["clv"].mean()
    got = table.set_index("group")["clv_per_customer"].dropna()
    assert len(got) > 0
    assert np.allclose(got, per_customer.reindex(got.index))


def _loyal_top_orders() -> pd.DataFrame:
    """Sixty big spenders who buy every week or two up to the last day, and 240 small one-to-three-time
    buyers: whoever is in the top fifth by value is still buying."""
    rng = np.random.default_rng(20)
    start, rows = pd.Timestamp("2024-01-01"), []
    for c in range(300):
        loyal = c < 60
        if loyal:
            days = np.cumsum(rng.integers(4, 12, 80))
            days = days[days < 365]
        else:
            days = np.sort(rng.integers(0, 365, int(rng.integers(1, 4))))
        for k, day in enumerate(days):
            amount = float(rng.uniform(150, 250) if loyal else rng.uniform(5, 15))
            rows.append((f"o{c}-{k}", f"c{c:04d}", start + pd.Timedelta(days=int(day)), round(amount, 2)))
    rows.append(("o-last", "c0000", pd.Timestamp("2024-12-31"), 200.0))
    return pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount"])


def test_no_sentence_about_an_empty_win_back_list(empty_app_db):
    frame = _loyal_top_orders()
    con = engine.connect(empty_app_db, shared=False)
    cur = con.cursor()
    cur.register("_lines", frame)
    cur.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount) "
        "SELECT order_id, customer_id, order_date, amount FROM _lines"
    )
    engine.bump_data_version(cur)
    cur.close()
    con.close()
    at = _open()
    markdown = " ".join(m.value for m in at.markdown)
    assert "0 customers" not in markdown and "together $0" not in markdown
    assert "No customer is both valuable and at risk" in markdown
    # the claim checked on the stored scores: the top fifth by value all lean to buying again
    con = engine.connect(empty_app_db, shared=False)
    prediction = engine.predict_customers(con, dt.date(2024, 12, 31), 365, 0.01)
    scores = engine.prediction_scores(con, prediction)
    con.close()
    top = scores[scores["clv"] >= scores["clv"].quantile(0.8)]
    assert len(top) >= 55 and (top["churn_risk"] < 0.5).all()
