"""An invoice log names its products on every line (UCI Online Retail's Description) and comes with no
products table: lists, histories and best-sellers show those names, not bare stock codes. Expected names
come from pandas on the generated file (each code's most frequent description)."""

from __future__ import annotations

import numpy as np
import pandas as pd

import engine
from engine.cli import main as segmint


def invoice_lines(path, rows: int = 3_000):
    rng = np.random.default_rng(22423)
    codes = np.array(["22423", "85123A", "47566", "84879", "DOT", "23166"])
    names = {
        "22423": "REGENCY CAKESTAND 3 TIER",
        "85123A": "WHITE HANGING HEART T-LIGHT HOLDER",
        "47566": "PARTY BUNTING",
        "84879": "ASSORTED COLOUR BIRD ORNAMENT",
        "DOT": "DOTCOM POSTAGE",
        "23166": "MEDIUM CERAMIC TOP STORAGE JAR",
    }
    code = codes[rng.integers(0, len(codes), rows)]
    description = np.array([names[c] for c in code], dtype=object)
    # real logs name a code differently now and then, and leave some descriptions empty
    description[rng.random(rows) < 0.05] = "CREAM HANGING HEART T-LIGHT HOLDER"
    description[rng.random(rows) < 0.02] = None
    frame = pd.DataFrame(
        {
            "InvoiceNo": (536365 + np.arange(rows) // 4).astype(str),
            "StockCode": code,
            "Description": description,
            "Quantity": rng.integers(1, 13, rows),
            "InvoiceDate": [f"12/{1 + i % 28}/2010 8:{26 + i % 30}" for i in range(rows)],
            "UnitPrice": 2.55,
            "CustomerID": (12346 + rng.integers(0, 150, rows)).astype(float),
            "Country": "United Kingdom",
        }
    )
    frame.to_csv(path, index=False)
    return frame


def test_products_are_named_from_the_order_lines_when_there_is_no_products_table(tmp_path):
    frame = invoice_lines(tmp_path / "online_retail.csv")
    db = tmp_path / "store.duckdb"
    code = segmint(["load", str(tmp_path / "online_retail.csv"), "--as", "orders", "--db", str(db), "--yes"])
    assert code == 0
    named = frame.dropna(subset=["Description"])
    counts = named.groupby(["StockCode", "Description"]).size().reset_index(name="lines")
    counts = counts.sort_values(["StockCode", "lines", "Description"], ascending=[True, False, True])
    expected = counts.drop_duplicates("StockCode").set_index("StockCode")["Description"]

    con = engine.connect(db)
    try:
        catalogue = engine.recommend.catalogue(con).set_index("product_id")["name"]
        assert catalogue.sort_index().to_dict() == expected.sort_index().to_dict()
        customer = str(int(frame["CustomerID"].iloc[0]))
        history = engine.recommend.customer_history(con, customer)
        bought = frame[frame["CustomerID"] == float(customer)]["StockCode"].unique()
        assert set(history["product_id"]) == set(bought)
        assert history["name"].tolist() == [expected[c] for c in history["product_id"]]
        best = engine.recommend.best_seller_list(con, "nobody")
        assert best["name"].tolist() == [expected[c] for c in best["product_id"]]
        assert not best["name"].isin(expected.index).any()  # names, not stock codes

        # a products table's own name still wins
        con.execute("INSERT INTO products (product_id, name) VALUES ('DOT', 'Postage (website)')")
        engine.bump_data_version(con)
        assert (
            engine.recommend.catalogue(con).set_index("product_id").loc["DOT", "name"] == "Postage (website)"
        )
    finally:
        engine.close_all()
