"""``segmint report``: every page in JSON and CSV from the sample store, its numbers checked against
independent pandas arithmetic on the stored tables (and the CSV against the JSON)."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

import engine
from engine.cli import main as segmint


@pytest.fixture(scope="module")
def store_file(sample_db_file, tmp_path_factory):
    import shutil

    path = tmp_path_factory.mktemp("report") / "store.duckdb"
    shutil.copy(sample_db_file, path)
    return path


def _run(capsys, store_file, *args) -> str:
    code = segmint(["report", *args, "--db", str(store_file)])
    out = capsys.readouterr().out
    assert code == 0, out
    engine.close_all()  # let the next reader open the file
    return out


def _json(capsys, store_file, *args) -> dict:
    return json.loads(_run(capsys, store_file, *args, "--format", "json"))


def _table(store_file, sql: str) -> pd.DataFrame:
    con = engine.connect(store_file, shared=False)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_overview_numbers_by_hand(capsys, store_file):
    report = _json(capsys, store_file, "overview")
    kpis = report["sections"]["kpis"]
    orders = _table(store_file, "SELECT * FROM orders")
    purchases = orders[~orders["is_return"]]
    assert kpis["revenue"] == pytest.approx(orders["amount"].sum(), rel=1e-12)
    assert kpis["orders"] == purchases["order_id"].nunique()
    assert kpis["average_order_value"] == pytest.approx(
        orders["amount"].sum() / purchases["order_id"].nunique()
    )
    assert kpis["customers"] == purchases["customer_id"].nunique()
    assert isinstance(kpis["repeat_rate"], float) and 0 < kpis["repeat_rate"] < 1  # a fraction, not "12%"
    months = report["sections"]["revenue_per_month"]
    by_month = orders.groupby(orders["order_date"].dt.to_period("M"))["amount"].sum()
    assert [m["revenue"] for m in months] == pytest.approx(by_month.tolist())
    assert set(report["sections"]["definitions"]) >= {"revenue", "orders", "average_order_value"}


def test_overview_date_range(capsys, store_file):
    report = _json(capsys, store_file, "overview", "--from", "2025-07-01", "--to", "2025-09-30")
    orders = _table(
        store_file, "SELECT * FROM orders WHERE order_date >= '2025-07-01' AND order_date < '2025-10-01'"
    )
    assert report["sections"]["kpis"]["revenue"] == pytest.approx(orders["amount"].sum())
    assert report["options"]["start"] == "2025-07-01"


def test_segments_and_personas(capsys, store_file):
    report = _json(capsys, store_file, "segments")
    segments = pd.DataFrame(report["sections"]["segments"])
    buyers = _table(store_file, "SELECT DISTINCT customer_id FROM orders WHERE NOT is_return")
    everyone = _table(store_file, "SELECT customer_id FROM customers UNION SELECT customer_id FROM orders")
    assert segments["customers"].sum() == len(everyone)
    assert segments.loc[segments["segment"] != engine.NO_PURCHASES, "customers"].sum() == len(buyers)
    choice = report["sections"]["cluster_choice"]
    assert choice["k"] >= 2 and -1 <= choice["silhouette"] <= 1 and choice["reason"]
    assert "worst value" in report["sections"]["score_rule"]["rule"]
    personas = _json(capsys, store_file, "personas")["sections"]["personas"]
    sizes = dict(zip(segments["segment"], segments["customers"], strict=True))
    for card in personas:
        assert card["customers"] == sizes[card["group"]]


def test_campaigns_by_hand(capsys, store_file):
    report = _json(capsys, store_file, "campaigns")
    rows = _table(store_file, "SELECT * FROM campaigns")
    totals = report["sections"]["totals"]
    assert totals["spend"] == pytest.approx(rows["spend"].sum())
    paid_ids = set(rows.loc[rows["spend"] > 0, "campaign_id"])
    paid = rows[rows["campaign_id"].isin(paid_ids)]
    assert totals["cpa"] == pytest.approx(paid["spend"].sum() / paid["conversions"].sum())
    assert totals["roi"] == pytest.approx((paid["revenue"].sum() - paid["spend"].sum()) / paid["spend"].sum())
    assert all(row["roi"] > 0 for row in report["sections"]["best_by_roi"])
    assert all(row["roi"] < 0 for row in report["sections"]["losing_money"])


def test_experiments_by_hand(capsys, store_file):
    report = _json(capsys, store_file, "experiments", "--experiment", "checkout_redesign")
    rows = _table(store_file, "SELECT * FROM experiments WHERE experiment_id = 'checkout_redesign'")
    per_customer = rows.groupby(["variant", "customer_id"])["converted"].max().groupby("variant").mean()
    analysis = report["sections"]["analysis"]
    assert analysis["control"] == "control" and analysis["control_rule"] == "named"
    variants = {v["variant"]: v for v in report["sections"]["variants"]}
    for name, rate in per_customer.items():
        assert variants[name]["conversion_rate"] == pytest.approx(rate)
    switched = _json(
        capsys, store_file, "experiments", "--experiment", "checkout_redesign", "--control", "treatment",
        "--outcome", "converted",
    )  # fmt: skip
    assert switched["sections"]["analysis"]["control"] == "treatment"
    assert switched["sections"]["analysis"]["comparisons"] == 1


def test_recommendations_summary(capsys, store_file):
    report = _json(capsys, store_file, "recommendations")
    summary = report["sections"]["summary"]
    con = engine.connect(store_file, shared=False)
    try:
        table = engine.recommendations_table(con)
        stored = con.execute(f"SELECT * FROM {engine.quote_ident(table)}").df()
    finally:
        con.close()
    assert summary["customers"] == stored["customer_id"].nunique()
    assert summary["rows"] == len(stored)


@pytest.mark.parametrize("page", engine.PAGES)
def test_csv_carries_the_same_numbers_as_json(capsys, store_file, page):
    as_json = _json(capsys, store_file, page)
    long = list(csv.DictReader(io.StringIO(_run(capsys, store_file, page, "--format", "csv"))))
    assert long and set(long[0]) == {"section", "row", "field", "value"}
    sections = {r["section"] for r in long}
    assert sections == set(as_json["sections"])
    # a numeric cell reads back exactly (full precision, no percent strings)
    for name, data in as_json["sections"].items():
        first = data[0] if isinstance(data, list) else data
        if not first:
            continue
        for field_name, value in first.items():
            if isinstance(value, float):
                cell = next(
                    r for r in long if r["section"] == name and r["row"] == "0" and r["field"] == field_name
                )
                assert float(cell["value"]) == value
                break
    # one section as a plain table
    name, data = next((n, d) for n, d in as_json["sections"].items() if d)
    plain = pd.read_csv(io.StringIO(_run(capsys, store_file, page, "--format", "csv", "--section", name)))
    assert len(plain) == (len(data) if isinstance(data, list) else 1)


def test_report_errors_are_plain(capsys, store_file):
    assert segmint(["report", "experiments", "--control", "A", "--db", str(store_file)]) == 2
    assert "--experiment" in capsys.readouterr().err
    assert segmint(["report", "experiments", "--experiment", "nope", "--db", str(store_file)]) == 2
    engine.close_all()


def test_every_report_page_and_section_is_documented():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Numbers from the command line") :]
    for page in engine.PAGES:
        assert f"| `{page}` |" in table, page
    for section in (
        "kpis",
        "revenue_per_month",
        "cluster_choice",
        "totals",
        "best_by_roi",
        "analysis",
        "results",
    ):
        assert f"`{section}`" in table, section
    definitions = readme[readme.index("## Definitions") :]
    for word in ("Revenue", "Orders", "Average order", "Repeat rate", "Active customers", "ROAS", "ROI", "CPA",
                 "CTR", "Conversion rate"):  # fmt: skip
        assert f"**{word}**" in definitions, word
