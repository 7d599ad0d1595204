"""Real-export shapes through ``segmint load``, into a store that holds the sample (a newcomer's first
contact); the stored rows are checked against an independent pandas reading of the same file."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

import engine
from tests.conformance import shapes
from tests.conformance.conftest import stored


def test_headerless_ratings_with_9_digit_epochs_load_with_the_issue_command(exports, sample_store, cli):
    path = exports["u.data"]
    code, out, _ = cli(
        "load", path, "--as", "interactions", "--db", sample_store,
        "--map", "customer_id=column0", "--map", "product_id=column1",
        "--map", "rating=column2", "--map", "timestamp=column3", "--yes",
    )  # fmt: skip
    assert code == 0, out
    assert "Unix seconds" in out
    expected = pd.read_csv(
        path, sep="\t", header=None, names=["u", "i", "r", "t"], dtype={"u": str, "i": str}
    )
    got = stored(
        sample_store,
        "SELECT customer_id, product_id, rating, timestamp FROM interactions ORDER BY _load_id, rowid",
    )
    assert len(got) == len(expected) == 100_000
    assert got["customer_id"].tolist() == expected["u"].tolist()
    assert got["product_id"].tolist() == expected["i"].tolist()
    assert got["rating"].tolist() == expected["r"].astype(float).tolist()
    assert (got["timestamp"] == pd.to_datetime(expected["t"], unit="s")).all()
    # the sample rule: the first load of one's own data empties every other table, said in one line
    assert "the sample data was removed" in out
    counts = stored(sample_store, "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM orders) n")
    assert counts["n"][0] == 0


def test_latin1_pipe_catalogue_with_apostrophes(exports, sample_store, cli):
    path = exports["u.item"]
    code, out, _ = cli(
        "load", path, "--as", "products", "--db", sample_store,
        "--map", "product_id=column00", "--map", "name=column01", "--yes",
    )  # fmt: skip
    assert code == 0, out
    assert "Windows-1252" in out
    expected = pd.read_csv(
        path,
        sep="|",
        header=None,
        encoding="latin-1",
        quoting=csv.QUOTE_NONE,
        dtype=str,
        keep_default_na=False,
    )
    got = stored(sample_store, "SELECT product_id, name FROM products ORDER BY CAST(product_id AS INTEGER)")
    assert got["product_id"].tolist() == expected[0].tolist()
    assert got["name"].tolist() == expected[1].tolist()
    assert "'Til There Was You (1932)" in got["name"].tolist()
    assert any("Misérables" in name for name in got["name"])


def test_email_test_without_id_applies_no_weak_guess(exports, sample_store, cli):
    path = exports["email"]
    code, out, _ = cli(
        "load", path, "--as", "experiments", "--db", sample_store,
        "--map", "experiment_id=:email_2008", "--map", "variant=segment", "--map", "revenue=spend", "--yes",
    )  # fmt: skip
    assert code == 0, out
    mapped = out.split("File ")[0]
    assert "customer_id" not in mapped  # 'recency' (12 values) never becomes a customer id
    assert "exposures" not in mapped  # 'visit' is a 0/1 flag, never a count
    expected = pd.read_csv(path)
    got = stored(
        sample_store,
        "SELECT variant, count(*) AS n, sum(revenue) AS revenue, count(customer_id) AS ids, "
        "count(exposures) AS exposures, sum(CAST(converted AS INTEGER)) AS conversions "
        "FROM experiments GROUP BY variant ORDER BY variant",
    )
    by_arm = expected.groupby("segment").agg(
        n=("spend", "size"), revenue=("spend", "sum"), conv=("conversion", "sum")
    )
    assert got["variant"].tolist() == by_arm.index.tolist()
    assert got["n"].tolist() == by_arm["n"].tolist()
    assert np.allclose(got["revenue"], by_arm["revenue"])
    assert got["conversions"].tolist() == by_arm["conv"].tolist()
    assert got["ids"].sum() == 0 and got["exposures"].sum() == 0


def test_ad_level_export_keeps_ids_out_of_names_and_dimensions(exports, sample_store, cli):
    path = exports["ads"]
    code, out, _ = cli("load", path, "--as", "campaigns", "--db", sample_store, "--yes")
    assert code == 0, out
    assert "campaign_id    <- 'xyz_campaign_id'" in out
    assert "campaign_name" not in out.split("File ")[0]
    expected = pd.read_csv(path)
    con = engine.connect(sample_store, shared=False)
    try:
        got = con.execute(
            "SELECT campaign_id, campaign_name, spend, impressions, clicks, conversions FROM campaigns ORDER BY rowid"
        ).df()
        dimensions = engine.campaign_dimensions(con)
    finally:
        con.close()
    assert got["campaign_id"].tolist() == expected["xyz_campaign_id"].astype(str).tolist()
    assert got["campaign_name"].isna().all()
    assert np.allclose(got["spend"], expected["Spent"])
    assert got["impressions"].sum() == expected["Impressions"].sum()
    assert got["conversions"].sum() == expected["Approved_Conversion"].sum()
    assert set(dimensions) == {"age", "gender", "interest"}


def test_invoice_log_with_guest_orders_and_cancellations(exports, sample_store, cli):
    path = exports["retail"]
    code, out, _ = cli("load", path, "--as", "orders", "--db", sample_store, "--yes")
    assert code == 0, out
    expected = pd.read_csv(path, encoding="latin-1", dtype={"CustomerID": str, "InvoiceNo": str})
    got = stored(
        sample_store,
        "SELECT count(*) AS n, count(*) FILTER (WHERE customer_id IS NULL) AS guests, sum(amount) AS amount, "
        "sum(amount) FILTER (WHERE customer_id IS NULL) AS guest_amount, count(*) FILTER (WHERE is_return) AS returns, "
        "min(order_date) AS first, max(order_date) AS last, "
        "count(*) FILTER (WHERE contains(description, '£')) AS pounds, "
        "count(*) FILTER (WHERE customer_id LIKE '%.0') AS float_ids FROM orders",
    ).iloc[0]
    line_amount = (expected["Quantity"] * expected["UnitPrice"]).round(4)
    guests = expected["CustomerID"].isna()
    assert got["n"] == len(expected) == 150_000
    assert got["guests"] == guests.sum() > 30_000
    assert got["amount"] == pytest.approx(line_amount.sum(), abs=0.01)
    assert got["guest_amount"] == pytest.approx(line_amount[guests].sum(), abs=0.01)
    assert got["returns"] == (expected["Quantity"] < 0).sum()
    assert got["first"] == pd.to_datetime(expected["InvoiceDate"], format="%m/%d/%Y %H:%M").min()
    assert got["last"] == pd.to_datetime(expected["InvoiceDate"], format="%m/%d/%Y %H:%M").max()
    assert got["pounds"] == expected["Description"].str.contains("£").sum()
    assert got["float_ids"] == 0  # 17850.0 is stored as the id 17850


def test_crm_export_with_line_breaks_inside_quotes(exports, sample_store, cli):
    path = exports["crm"]
    code, out, err = cli("load", path, "--as", "customers", "--db", sample_store, "--yes")
    assert code == 0, out + err
    expected = pd.read_csv(path, dtype=str)
    got = stored(sample_store, "SELECT customer_id, address FROM customers ORDER BY customer_id")
    assert got["customer_id"].tolist() == expected["customer_id"].tolist()
    assert got["address"].tolist() == expected["address"].tolist()
    assert got["address"].str.contains("\n").sum() == expected["address"].str.contains("\n").sum() > 5_000


def test_placeholder_dates_and_non_finite_amounts_rejected_with_lines_and_money(exports, sample_store, cli):
    path = exports["placeholders"]
    code, out, _ = cli("load", path, "--as", "orders", "--db", sample_store)
    assert code == 1  # rejected rows (and the sample) need --yes
    for line, (_, value) in shapes.BAD_VALUES.items():
        assert f"line {line}: {value!r}" in out
    assert "date outside 1900-01-01 .. a year from today" in out
    assert "not a finite number" in out
    assert "beyond the amount limit" in out
    expected = pd.read_csv(path, dtype=str)
    bad_dates = expected["order_date"].isin(["9999-12-31", "0001-01-01"])
    assert f"rejected rows hold amount {expected.loc[bad_dates, 'amount'].astype(float).sum():,.2f}" in out
    code, out, _ = cli("load", path, "--as", "orders", "--db", sample_store, "--yes")
    assert code == 0
    got = stored(
        sample_store, "SELECT count(*) n, max(order_date) last, max(abs(amount)) biggest FROM orders"
    ).iloc[0]
    assert got["n"] == len(expected) - len(shapes.BAD_VALUES)
    assert got["last"].year == 2024 and np.isfinite(got["biggest"]) and got["biggest"] < 1e6


def test_nul_bytes_after_64kb_are_reported_with_lines(exports, sample_store, cli):
    before = stored(sample_store, "SELECT count(*) n FROM orders")["n"][0]
    code, _, err = cli("load", exports["nul"], "--as", "orders", "--db", sample_store, "--yes")
    assert code == 2
    assert "NUL bytes" in err and "3,001" in err and "3,002" in err
    assert stored(sample_store, "SELECT count(*) n FROM orders")["n"][0] == before
    assert not any((sample_store.parent / "staging").iterdir())


def test_sample_rule_asks_then_empties_everything_and_undo_brings_it_back(exports, sample_store, cli):
    con = engine.connect(sample_store, shared=False)
    sample_counts = engine.table_counts(con)
    con.close()
    code, out, _ = cli("load", exports["ads"], "--as", "campaigns", "--db", sample_store)
    assert code == 1 and "the sample data will be removed" in out and "--yes" in out
    code, out, _ = cli("load", exports["ads"], "--as", "campaigns", "--db", sample_store, "--yes")
    assert code == 0
    con = engine.connect(sample_store, shared=False)
    try:
        after = engine.table_counts(con)
        assert after == {name: (1_143 if name == "campaigns" else 0) for name in after}
        assert not engine.is_sample_data(con)
        engine.undo_last_load(con)
        assert engine.table_counts(con) == sample_counts
        assert engine.is_sample_data(con)
    finally:
        con.close()


def test_email_test_variants_are_hinted_from_the_control_name(exports, sample_store, cli):
    """The MineThatData file names its arms in a column called 'segment': nothing was suggested for the
    required variant. Its 'No E-Mail' label is a control name, so the column is offered as a hint (content
    only: shown, not applied), and --accept-suggestions takes it."""
    path = exports["email"]
    code, out, _ = cli("load", path, "--as", "experiments", "--db", sample_store, "--map", "experiment_id=:t")
    assert code != 0  # the required variant is not filled silently
    assert "'segment'" in out and "No E-Mail" in out
    code, out, _ = cli(
        "load", path, "--as", "experiments", "--db", sample_store, "--map", "experiment_id=:t",
        "--accept-suggestions", "--yes",
    )  # fmt: skip
    assert code == 0, out
    expected = pd.read_csv(path)["segment"].value_counts().sort_index()
    got = stored(
        sample_store, "SELECT variant, count(*) AS n FROM experiments GROUP BY variant ORDER BY variant"
    )
    assert got["variant"].tolist() == expected.index.tolist() and got["n"].tolist() == expected.tolist()
