"""Segments page: an empty row or column of the R-by-F heatmap is explained in one line with numbers from the
data. On an invoice log where a third of the buyers ordered once, those tied customers all score F=1 and the
customers with two orders (the next tied block) land on F=3, so no customer has F=2. Expected shares and
scores come from pandas (the documented mid-rank rule written out independently)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP
from tests.engine.test_rfm import shop  # noqa: F401  (fixture)


def _store(path) -> pd.DataFrame:
    """100 customers: 34 ordered once, 30 twice, 20 three times, 10 four times, 6 five times; each on
    different days and with different amounts, so R and M have no ties."""
    rng = np.random.default_rng(34)
    counts = [1] * 34 + [2] * 30 + [3] * 20 + [4] * 10 + [5] * 6
    rows, start = [], dt.date(2024, 1, 1)
    for i, count in enumerate(counts):
        for k in range(count):
            rows.append(
                {
                    "order_id": f"O{i:03d}-{k}",
                    "customer_id": f"C{i:03d}",
                    "order_date": start + dt.timedelta(days=i * 3 + k * 300 // count),
                    "amount": round(float(rng.uniform(5, 95)) + i / 1000, 3),
                }
            )
    frame = pd.DataFrame(rows)
    con = engine.connect(path, shared=False)
    con.register("frame", frame)
    con.execute("INSERT INTO orders (order_id, customer_id, order_date, amount) SELECT * FROM frame")
    engine.bump_data_version(con)
    con.close()
    return frame


def _scores(values: pd.Series) -> pd.Series:
    """The documented rule: 1 + floor(5 (below + at_or_below) / 2n); the tied worst block scores 1."""
    n = len(values)
    below = values.map(lambda v: (values < v).sum())
    at_or_below = values.map(lambda v: (values <= v).sum())
    score = 1 + (5 * (below + at_or_below)) // (2 * n)
    return score.where(~((values == values.min()) & (at_or_below < n)), 1)


def test_an_empty_frequency_column_says_why(tmp_path, monkeypatch):
    frame = _store(tmp_path / "shop.duckdb")
    monkeypatch.setenv("SEGMINT_DB", str(tmp_path / "shop.duckdb"))
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    try:
        orders = frame.groupby("customer_id")["order_id"].nunique()
        f = _scores(orders)
        assert 2 not in set(f) and {1, 3, 4, 5} <= set(f)  # the data really has no F=2
        once = (orders == 1).mean()

        at = AppTest.from_file(APP, default_timeout=120)
        at.run()
        at.switch_page("app_pages/segments.py")
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        (heat,) = [
            json.loads(c.proto.spec)
            for c in at.get("plotly_chart")
            if "Recency by frequency score" in json.loads(c.proto.spec)["layout"]["title"]["text"]
        ]
        z = heat["data"][0]["z"]
        if isinstance(z, dict):  # plotly's typed array: dtype, shape and base64 bytes
            shape = [int(n) for n in str(z["shape"]).split(",")]
            z = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape).tolist()
        column = [row[1] for row in z]
        assert column == [0, 0, 0, 0, 0]  # F2 is empty in every row
        notes = [str(c.value).replace("\\", "") for c in at.caption if "No customer has" in str(c.value)]
        assert len(notes) == 1  # one line
        assert (
            f"No customer has F=2: {once:.0%} of buyers ordered once, and tied customers share one score"
            in (notes[0])
        )
        assert "No customer has R=" not in notes[0] and "F=1" not in notes[0]
    finally:
        st.cache_data.clear()
        st.cache_resource.clear()
        engine.close_all()


def test_every_empty_score_of_a_small_shop_is_explained(shop):  # noqa: F811
    # 5 buyers as of 2024-03-11: c and d ordered that day (R5, no R4); b, d, e ordered once (F1), a and c
    # twice (F5), so F2, F3 and F4 are empty (see tests/engine/test_rfm.py)
    notes = engine.empty_score_notes(shop, "2024-03-11")
    assert notes == [
        "No customer has R=4: 40% of buyers last ordered on the same day, Mar 11, 2024, and tied customers "
        "share one score (see the definitions below).",
        "No customer has F=2: 60% of buyers ordered once, and tied customers share one score (see the "
        "definitions below).",
        "No customer has F=3: 60% of buyers ordered once, and tied customers share one score (see the "
        "definitions below).",
        "No customer has F=4: 40% of buyers ordered twice, and tied customers share one score (see the "
        "definitions below).",
    ]
    # M has no ties here: only the R row is explained
    assert engine.empty_score_notes(shop, "2024-03-11", y="m_score") == notes[:1]
