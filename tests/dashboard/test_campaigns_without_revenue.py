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


TABS = {"channels": ":material/hub: Channels", "breakdowns": ":material/splitscreen: Breakdowns"}


def _page_text(at: AppTest) -> tuple[list[dict], str]:
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    words = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.info, *at.warning])
    words = words.replace("\\", "")  # captions are escaped markdown
    return specs, json.dumps(specs) + " " + words


def test_the_cost_per_conversion_chart_names_the_cheapest_and_dearest_campaign(kag_app_db):
    frame = kag_app_db
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()
    sums = frame.groupby("xyz_campaign_id")[["Spent", "Approved_Conversion"]].sum()
    cpa = (sums["Spent"] / sums["Approved_Conversion"]).sort_values()
    cheap, dear = cpa.index[0], cpa.index[-1]
    # the caption is escaped markdown (names read as typed): drop the escapes to read the words
    captions = [str(c.value).replace("\\", "") for c in at.caption]
    captions = [c for c in captions if c.startswith("Cheapest:")]
    assert len(captions) == 1, [c.value for c in at.caption]
    sentence = captions[0]
    assert f"Cheapest: {cheap} at ${cpa[cheap]:,.2f} per conversion" in sentence
    assert f"({sums.loc[cheap, 'Approved_Conversion']:,} conversions for $" in sentence
    assert f"dearest: {dear} at ${cpa[dear]:,.2f} per conversion" in sentence
    assert f"({sums.loc[dear, 'Approved_Conversion']:,} conversions for $" in sentence
    assert sentence.endswith(f", {cpa[dear] / cpa[cheap]:.1f} times as much per conversion.")


def test_channels_and_breakdowns_show_costs_when_the_file_has_no_revenue(kag_app_db):
    frame = kag_app_db
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(PAGE)
    at.run()

    at.session_state["cmp_tab"] = TABS["channels"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    specs, text = _page_text(at)
    assert "The file has no ROAS" not in text and "No channel brought revenue" not in text
    assert text.count("has no revenue") <= 1
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert "CPA by channel" in titles, titles
    (by_channel,) = [s for s in specs if s["layout"]["title"]["text"].startswith("CPA by channel")]
    # every campaign spent, so the one channel's CPA is all spend over all conversions
    expected = frame["Spent"].sum() / frame["Approved_Conversion"].sum()
    assert _values(by_channel["data"][0]["y"]) == pytest.approx([expected], rel=1e-9)
    (mix,) = [s for s in specs if s["layout"]["title"]["text"].startswith("Channel mix")]
    assert [list(t["y"]) for t in mix["data"]] == [["Spend", "Conversions"]]  # no empty revenue row
    conversions = f"{frame['Approved_Conversion'].sum():,}"
    assert f"One channel, (no channel), holds every campaign: {conversions} conversions for $" in text
    headers = [c for table in at.dataframe for c in table.value.columns]
    assert "CPA" in headers and not {"Revenue", "ROAS", "ROI"} & set(headers)

    # the cost view switches to cost per click and click-through rate
    at.segmented_control(key="cmp_ch_metric").set_value("cpc").run()
    specs, _ = _page_text(at)
    (cpc,) = [s for s in specs if s["layout"]["title"]["text"].startswith("CPC by channel")]
    assert _values(cpc["data"][0]["y"]) == pytest.approx([frame["Spent"].sum() / frame["Clicks"].sum()])
    at.segmented_control(key="cmp_ch_metric").set_value("ctr").run()
    specs, _ = _page_text(at)
    (ctr,) = [s for s in specs if s["layout"]["title"]["text"].startswith("CTR by channel")]
    assert _values(ctr["data"][0]["y"]) == pytest.approx([frame["Clicks"].sum() / frame["Impressions"].sum()])

    at.session_state["cmp_tab"] = TABS["breakdowns"]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    specs, text = _page_text(at)
    assert "The file has no" not in text and text.count("has no revenue") <= 1
    assert [o for o in at.selectbox(key="cmp_dim_metric").options if o in ("ROAS", "ROI")] == []
    (by_age,) = [s for s in specs if s["layout"]["title"]["text"] == "CPA by age"]
    sums = frame.groupby("age")[["Spent", "Approved_Conversion"]].sum()
    expected = sums["Spent"] / sums["Approved_Conversion"]
    assert dict(zip(by_age["data"][0]["x"], _values(by_age["data"][0]["y"]), strict=True)) == pytest.approx(
        expected.to_dict()
    )
    headers = [c for table in at.dataframe for c in table.value.columns]
    assert "CPA" in headers and not {"Revenue", "ROAS", "ROI"} & set(headers)


def test_the_channel_takeaway_without_revenue_compares_conversions_with_spend():
    channels = pd.DataFrame(
        {
            "channel": ["Search", "Social"],
            "spend": [300.0, 100.0],
            "revenue": [None, None],
            "conversions": [20, 60],
        }
    ).astype({"revenue": "Float64"})
    # Social: 60 / 80 = 75% of conversions for 100 / 400 = 25% of spend
    assert engine.channel_mix_takeaway(channels) == "Social brought 75% of conversions for 25% of spend."


def test_the_cost_takeaway_with_one_campaign_or_none():
    one = pd.DataFrame({"campaign_name": ["Spring"], "spend": [120.0], "conversions": [8], "cpa": [15.0]})
    assert engine.campaign_cpa_takeaway(one) == (
        "One campaign has a cost per conversion: Spring at $15.00 per conversion (8 conversions for $120)."
    )
    none = one.assign(cpa=[None], conversions=[0])
    assert engine.campaign_cpa_takeaway(none).startswith("No campaign has both spend and conversions")
