"""Campaigns page on an ad-level Facebook export with no dates and no revenue (the shape of Kaggle's
KAG_conversion_data.csv): no empty filter column, one note about the missing revenue, and a cost per
conversion chart by campaign instead of three empty ROI charts. Expected CPAs come from pandas."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import engine
from engine.cli import main as segmint
from tests.conformance import shapes
from tests.dashboard.test_app_pages import APP

PAGE = "app_pages/campaigns.py"


@pytest.fixture
def kag_app_db(tmp_path, monkeypatch):
    path = shapes.facebook_ads_kag(tmp_path / "KAG_conversion_data.csv")
    db = tmp_path / "ads.duckdb"
    code = segmint(
        [
            "load", str(path), "--as", "campaigns", "--db", str(db), "--map", "campaign_id=xyz_campaign_id",
            "--map", "conversions=Approved_Conversion", "--map", "spend=Spent", "--yes",
        ]
    )  # fmt: skip
    assert code == 0
    engine.close_all()
    monkeypatch.setenv("SEGMINT_DB", str(db))
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield pd.read_csv(path)
    st.cache_data.clear()
    st.cache_resource.clear()
    engine.close_all()


def _values(column) -> list:
    """A plotly array from a chart spec: a plain list, or plotly's typed array (dtype + base64 bytes)."""
    if isinstance(column, dict):
        return np.frombuffer(base64.b64decode(column["bdata"]), dtype=column["dtype"]).tolist()
    return list(column)


def test_an_ad_export_without_revenue_ranks_campaigns_by_cost_per_conversion(kag_app_db):
    frame = kag_app_db
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]

    # the filters have no date picker and leave no empty column where it would be
    assert not [d for d in at.date_input if d.label == "Campaign dates"]
    assert all(len(column.children) > 0 for column in at.columns)

    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    text = json.dumps(specs) + " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.info])
    assert "No campaign has both spend and revenue" not in text
    assert text.count("has no revenue") == 1  # one note says so

    (cpa,) = [s for s in specs if s["layout"]["title"]["text"].startswith("Cost per conversion by campaign")]
    by_campaign = frame.groupby("xyz_campaign_id")[["Spent", "Approved_Conversion"]].sum()
    expected = (by_campaign["Spent"] / by_campaign["Approved_Conversion"]).sort_values()
    bars = cpa["data"][0]
    assert [str(y) for y in bars["y"]] == [str(c) for c in expected.index]  # cheapest first
    assert _values(bars["x"]) == pytest.approx(expected.tolist(), rel=1e-9)
    assert cpa["layout"]["xaxis"]["tickprefix"] == "$"


def test_the_roi_takeaway_says_there_is_no_revenue_instead_of_failing():
    metrics = pd.DataFrame(
        {
            "campaign_name": ["916", "936"],
            "spend": [100.0, 50.5],
            "revenue": [None, None],
            "roi": [None, None],
        }
    ).astype({"revenue": "Float64", "roi": "Float64"})
    sentence = engine.campaign_roi_takeaway(metrics)
    assert (
        sentence
        == "Paid campaigns spent $150; the file has no revenue for them, so there is no return to show."
    )
