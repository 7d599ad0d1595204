"""An online-shop invoice log shaped like the UCI Online Retail file: invoice lines with quantity and unit
price, a quarter of the lines without a customer (guests), cancellations ('C' invoices, negative
quantities) netted, and a last month that stops on the 9th. Expected figures come from pandas on the
generated frame.

Guest lines are inserted straight into the store here: loading them from a file is the upload path's job
(customer_id becomes optional there).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import engine


@pytest.fixture(scope="module")
def invoice_log(tmp_path_factory):
    rng = np.random.default_rng(541909)
    invoices = []
    start = pd.Timestamp("2010-12-01 08:26")
    for number in range(3000):
        when = start + pd.Timedelta(minutes=int(rng.integers(0, 60 * 24 * 373)))
        guest = rng.random() < 0.25
        customer = None if guest else f"{12346 + int(rng.integers(0, 700))}"
        for _ in range(int(rng.integers(1, 8))):
            quantity = int(rng.integers(1, 24))
            price = round(float(rng.choice([0.85, 1.25, 2.55, 4.95, 12.75])), 2)
            invoices.append(
                (f"{536365 + number}", customer, when, f"2{rng.integers(1000, 3000)}", quantity, price)
            )
    frame = pd.DataFrame(
        invoices, columns=["InvoiceNo", "CustomerID", "InvoiceDate", "StockCode", "Quantity", "UnitPrice"]
    )
    # cancellations: 'C' + the invoice number, negative quantity, same customer
    cancelled = frame.sample(frac=0.03, random_state=7).copy()
    cancelled["InvoiceNo"] = "C" + cancelled["InvoiceNo"]
    cancelled["Quantity"] = -cancelled["Quantity"]
    cancelled["InvoiceDate"] += pd.Timedelta(hours=5)
    frame = pd.concat([frame, cancelled], ignore_index=True)
    frame = frame[frame["InvoiceDate"] < pd.Timestamp("2011-12-10")].reset_index(drop=True)
    frame["amount"] = (frame["Quantity"] * frame["UnitPrice"]).round(4)

    con = engine.connect(tmp_path_factory.mktemp("invoices") / "store.duckdb", shared=False)
    rows = pd.DataFrame(
        {
            "order_id": frame["InvoiceNo"],
            "customer_id": frame["CustomerID"],
            "order_date": frame["InvoiceDate"],
            "product_id": frame["StockCode"],
            "quantity": frame["Quantity"].astype(float),
            "unit_price": frame["UnitPrice"],
            "amount": frame["amount"],
            "is_return": frame["Quantity"] < 0,
        }
    )
    con.register("_lines", rows)
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, unit_price, amount, "
        "is_return) SELECT * FROM _lines"
    )
    con.unregister("_lines")
    yield frame, con
    con.close()


def test_revenue_and_orders_include_guests_and_agree(invoice_log):
    frame, con = invoice_log
    k = engine.kpis(con)
    assert k.revenue == pytest.approx(frame["amount"].sum(), abs=1e-6)
    purchases = frame[frame["Quantity"] > 0]
    assert k.orders == purchases["InvoiceNo"].nunique()
    assert k.average_order_value == pytest.approx(frame["amount"].sum() / purchases["InvoiceNo"].nunique())
    assert k.average_order_value * k.orders == pytest.approx(k.revenue)
    buyers = purchases["CustomerID"].dropna()
    assert k.customers == buyers.nunique()  # guests are no customers
    per_customer = purchases.dropna(subset=["CustomerID"]).groupby("CustomerID")["InvoiceNo"].nunique()
    assert k.repeat_rate == pytest.approx((per_customer >= 2).mean())


def test_guest_orders_are_counted_and_said(invoice_log):
    frame, con = invoice_log
    guests = engine.guest_orders(con)
    guest_lines = frame[frame["CustomerID"].isna()]
    assert guests.orders == guest_lines.loc[guest_lines["Quantity"] > 0, "InvoiceNo"].nunique()
    assert guests.revenue == pytest.approx(guest_lines["amount"].sum())
    assert guests.revenue_share == pytest.approx(guest_lines["amount"].sum() / frame["amount"].sum())
    k = engine.kpis(con)
    assert (k.guest_orders, k.guest_revenue) == (guests.orders, pytest.approx(guests.revenue))
    # customer analyses leave guests out
    segments = engine.rfm_scores(con)
    assert segments["customer_id"].notna().all()
    assert set(segments["customer_id"]) == set(frame["CustomerID"].dropna())
    assert engine.cohort_retention(con).groupby("cohort")["customers"].first().sum() == (
        frame.loc[frame["Quantity"] > 0, "CustomerID"].dropna().nunique()
    )


def test_the_partial_last_month_is_marked(invoice_log):
    frame, con = invoice_log
    trend = engine.revenue_over_time(con, "month")
    monthly = frame.groupby(frame["InvoiceDate"].dt.to_period("M"))["amount"].sum()
    assert trend["revenue"].tolist() == pytest.approx(monthly.tolist())
    assert trend["partial"].tolist() == [False] * (len(trend) - 1) + [True]  # Dec 1-9 2011
    assert pd.Timestamp(trend["period"].iloc[-1]).date() == dt.date(2011, 12, 1)
    weekly = engine.revenue_over_time(con, "week")
    assert bool(weekly["partial"].iloc[0])  # 2010-12-01 is a Wednesday
    assert engine.new_vs_returning(con, "month")["partial"].tolist()[-1]
