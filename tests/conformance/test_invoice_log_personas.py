"""Personas and the segment builder on an invoice log shaped like UCI Online Retail: no customers table and
no products table; the lines carry Country and Description. Personas compare the products bought (named by
their description) and each customer's most frequent Country; the builder's shares are of customer revenue
and a customer who returned everything has no average order. Expected figures come from pandas on the
generated file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import engine
from engine.cli import main as segmint

NAMES = {
    "22423": "REGENCY CAKESTAND 3 TIER",
    "85123A": "WHITE HANGING HEART T-LIGHT HOLDER",
    "47566": "PARTY BUNTING",
    "84879": "ASSORTED COLOUR BIRD ORNAMENT",
    "23166": "MEDIUM CERAMIC TOP STORAGE JAR",
    "21730": "GLASS STAR FROSTED T-LIGHT HOLDER",
}
FULL_RETURN = 99999.0  # bought once and returned all of it


def invoice_log(path, customers: int = 600) -> pd.DataFrame:
    """Frequent buyers lean to France and the cake stand; the rest to the UK and the other products."""
    rng = np.random.default_rng(541)
    codes = np.array(list(NAMES))
    rows, invoice = [], 536365
    start = pd.Timestamp("2010-12-01 08:26")
    for i in range(customers):
        customer = 12346.0 + i
        frequent = i < customers // 4
        home = (
            "France" if frequent and rng.random() < 0.7 else rng.choice(["United Kingdom", "EIRE", "France"])
        )
        for _ in range(int(rng.integers(6, 12) if frequent else rng.integers(1, 3))):
            days = int(rng.integers(300, 373) if frequent else rng.integers(0, 300))
            when = start + pd.Timedelta(days=days, minutes=int(rng.integers(0, 600)))
            country = home if rng.random() < 0.9 else "Germany"  # now and then shipped elsewhere
            for _ in range(int(rng.integers(1, 4))):
                code = "22423" if frequent and rng.random() < 0.5 else str(rng.choice(codes[1:]))
                rows.append(
                    (str(invoice), code, NAMES[code], int(rng.integers(1, 13)), when, 2.55, customer, country)
                )
            invoice += 1
    # guests (no CustomerID) and one customer who returned everything
    for g in range(80):
        when = start + pd.Timedelta(days=int(rng.integers(0, 373)))
        rows.append((str(invoice + g), "47566", NAMES["47566"], 6, when, 4.95, np.nan, "United Kingdom"))
    day = start + pd.Timedelta(days=200)
    rows.append(("600000", "22423", NAMES["22423"], 2, day, 12.75, FULL_RETURN, "United Kingdom"))
    rows.append(
        (
            "C600000",
            "22423",
            NAMES["22423"],
            -2,
            day + pd.Timedelta(hours=3),
            12.75,
            FULL_RETURN,
            "United Kingdom",
        )
    )
    frame = pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )
    out = frame.copy()
    out["InvoiceDate"] = out["InvoiceDate"].map(
        lambda t: f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}"
    )
    out.to_csv(path, index=False, encoding="latin-1")
    return frame


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("invoice_personas")
    frame = invoice_log(folder / "online_retail.csv")
    db = folder / "store.duckdb"
    code = segmint(["load", str(folder / "online_retail.csv"), "--as", "orders", "--db", str(db), "--yes"])
    assert code == 0
    con = engine.connect(db, shared=False)
    yield frame, con
    con.close()
    engine.close_all()


def customer_ids(values: pd.Series) -> pd.Series:
    return values.dropna().astype(int).astype(str)


def test_personas_compare_products_and_the_country_of_the_lines(loaded):
    frame, con = loaded
    cards = {c.group: c for c in engine.persona_cards(con)}
    segments = engine.customer_segments(con)
    population = len(segments)
    champions = cards["Champions"]
    members = set(segments.loc[segments["segment"] == "Champions", "customer_id"])
    assert champions.customers == len(members)
    assert champions.evidence_note is None

    # products bought (returns left out), named by their description
    lines = frame.dropna(subset=["CustomerID"]).assign(customer_id=lambda f: customer_ids(f["CustomerID"]))
    bought = lines[lines["Quantity"] > 0].drop_duplicates(["customer_id", "Description"])
    overall = bought.groupby("Description")["customer_id"].nunique() / population
    mine = bought[bought["customer_id"].isin(members)].groupby("Description")["customer_id"].nunique()
    lift = (mine / len(members)) / overall[mine.index]
    top = champions.top("product", 1).iloc[0]
    assert top["trait"] == lift.idxmax() == "REGENCY CAKESTAND 3 TIER"
    assert top["lift"] == pytest.approx(lift.max())
    assert top["significant"]

    # each customer's country: the one on most of their lines (ties: first alphabetically)
    per_line = lines.groupby(["customer_id", "Country"]).size().reset_index(name="n")
    home = per_line.sort_values(["customer_id", "n", "Country"], ascending=[True, False, True])
    home = home.drop_duplicates("customer_id").set_index("customer_id")["Country"]
    france = champions.traits.set_index("trait").loc["country = France"]
    assert france["group_share"] == pytest.approx((home[list(members)] == "France").mean())
    assert france["overall_share"] == pytest.approx((home == "France").sum() / population)
    assert france["significant"]
    assert "country = France" in champions.description
    assert not any("add customer attributes" in (c.evidence_note or "") for c in cards.values())


def test_builder_shares_are_of_customer_revenue_and_a_full_return_has_no_order_value(loaded):
    frame, con = loaded
    frame = frame.assign(amount=frame["Quantity"] * frame["UnitPrice"])
    context = engine.audience_context(con, None)
    everyone = engine.audience_summary(con, {"match": "all", "conditions": []}, context)
    customer_revenue = frame.loc[frame["CustomerID"].notna(), "amount"].sum()
    assert everyone.total_revenue == pytest.approx(customer_revenue, abs=0.01)
    assert everyone.revenue_share == pytest.approx(1.0)
    # the Overview's revenue holds guests too: the builder's share is of customer revenue only
    all_revenue = engine.kpis(con).revenue
    assert all_revenue == pytest.approx(frame["amount"].sum(), abs=0.01)
    assert all_revenue > everyone.total_revenue

    champions = engine.audience_summary(con, engine.segment_definition(["Champions"]), context)
    members = engine.customer_segments(con).query("segment == 'Champions'")["customer_id"]
    lines = frame.dropna(subset=["CustomerID"]).assign(customer_id=lambda f: customer_ids(f["CustomerID"]))
    mine = lines.loc[lines["customer_id"].isin(members), "amount"].sum()
    assert champions.revenue_share == pytest.approx(mine / customer_revenue, abs=1e-4)

    # average order value per customer: net spend / orders, as the Overview's average order
    table = engine.audience_members(con, {"match": "all", "conditions": []}, context).set_index("customer_id")
    purchases = lines[lines["Quantity"] > 0].groupby("customer_id")["InvoiceNo"].nunique()
    net = lines.groupby("customer_id")["amount"].sum()
    expected = net[purchases.index] / purchases
    assert table.loc[expected.index, "aov"].to_numpy() == pytest.approx(expected.to_numpy(), abs=0.0051)
    returned = str(int(FULL_RETURN))
    assert (table.loc[returned, "monetary"], table.loc[returned, "frequency"]) == (0.0, 1)
    assert table.loc[returned, "aov"] == 0.0


def test_builder_offers_the_country_of_the_lines_as_each_customers_most_frequent_value(loaded):
    frame, con = loaded
    context = engine.audience_context(con, None)
    fields = engine.audience_fields(context).set_index("name")
    assert fields.loc["country", ["label", "kind", "source"]].tolist() == [
        "Country",
        "category",
        "order_attribute",
    ]
    # product names on the lines are no attribute (they have more than 50 values or are names)
    assert "description" not in fields.index
    assert engine.field_values(con, context, "country") == ["EIRE", "France", "Germany", "United Kingdom"]

    definition = {"match": "all", "conditions": [{"field": "country", "op": "in", "value": ["France"]}]}
    members = engine.audience_members(con, definition, context)
    lines = frame.dropna(subset=["CustomerID"]).assign(customer_id=lambda f: customer_ids(f["CustomerID"]))
    per_line = lines.groupby(["customer_id", "Country"]).size().reset_index(name="n")
    home = per_line.sort_values(["customer_id", "n", "Country"], ascending=[True, False, True])
    home = home.drop_duplicates("customer_id").set_index("customer_id")["Country"]
    expected = sorted(home.index[home == "France"])
    assert sorted(members["customer_id"]) == expected
    assert (members["country"] == "France").all()
    summary = engine.audience_summary(con, definition, context)
    assert summary.members == len(expected)
    assert engine.describe_definition(definition, context) == "Country is any of France"

    # combined with an RFM condition in the same single query; "is none of" keeps the rest
    both = {
        "match": "all",
        "conditions": [definition["conditions"][0], {"field": "frequency", "op": ">=", "value": 3}],
    }
    orders = lines[lines["Quantity"] > 0].groupby("customer_id")["InvoiceNo"].nunique()
    frequent = set(orders.index[orders >= 3])
    assert sorted(engine.audience_members(con, both, context)["customer_id"]) == sorted(
        set(expected) & frequent
    )
    others = {"match": "all", "conditions": [{"field": "country", "op": "not_in", "value": ["France"]}]}
    everyone = engine.audience_summary(con, {"match": "all", "conditions": []}, context).members
    assert engine.audience_summary(con, others, context).members == everyone - len(expected)
