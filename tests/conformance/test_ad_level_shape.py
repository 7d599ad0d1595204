"""An ad-level Facebook Ads export shaped like Kaggle's KAG_conversion_data.csv, loaded through
``segmint load``: one row per ad, three campaigns, age/gender/interest columns, no dates and no revenue,
and zero-spend ad rows inside paid campaigns that still report conversions. Expected figures come from
pandas on the generated file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import engine
from engine.cli import main as segmint


@pytest.fixture(scope="module")
def ads(tmp_path_factory):
    rng = np.random.default_rng(916)
    rows = []
    for campaign, count, cost in ((916, 54, 2.8), (936, 464, 6.2), (1178, 625, 89.0)):
        for _ in range(count):
            spend = 0.0 if rng.random() < 0.15 else round(float(rng.gamma(2, cost)), 6)
            impressions = int(rng.integers(100, 50_000))
            clicks = int(rng.binomial(impressions, 0.0002)) if spend else 0
            total = int(rng.poisson(2))
            rows.append(
                {
                    "ad_id": 700_000 + len(rows),
                    "xyz_campaign_id": campaign,
                    "fb_campaign_id": 103_000 + len(rows) // 2,
                    "age": rng.choice(["30-34", "35-39", "40-44", "45-49"]),
                    "gender": rng.choice(["M", "F"]),
                    "interest": int(rng.integers(2, 115)),
                    "Impressions": impressions,
                    "Clicks": clicks,
                    "Spent": spend,
                    "Total_Conversion": total,
                    "Approved_Conversion": int(rng.binomial(total, 0.4)),
                }
            )
    frame = pd.DataFrame(rows)
    folder = tmp_path_factory.mktemp("ads")
    path = folder / "KAG_conversion_data.csv"
    frame.to_csv(path, index=False)
    db = folder / "store.duckdb"
    code = segmint(
        [
            "load", str(path), "--as", "campaigns", "--db", str(db), "--map", "campaign_id=xyz_campaign_id",
            "--map", "conversions=Approved_Conversion", "--map", "spend=Spent", "--yes",
        ]
    )  # fmt: skip
    assert code == 0
    con = engine.connect(db, shared=False)
    yield frame, con
    con.close()


def test_cpa_is_spend_over_every_conversion_of_a_paid_campaign(ads):
    frame, con = ads
    assert (frame["Spent"] == 0).any() and frame.loc[frame["Spent"] == 0, "Approved_Conversion"].sum() > 0
    sums = frame.groupby("xyz_campaign_id")[["Spent", "Approved_Conversion", "Clicks"]].sum()
    metrics = engine.campaign_metrics(con).set_index("campaign_id")
    for campaign in (916, 936, 1178):
        expected = sums.loc[campaign, "Spent"] / sums.loc[campaign, "Approved_Conversion"]
        assert metrics.loc[str(campaign), "cpa"] == pytest.approx(expected, rel=1e-9)
    totals = engine.campaign_totals(con)
    assert totals.cpa == pytest.approx(frame["Spent"].sum() / frame["Approved_Conversion"].sum(), rel=1e-9)
    assert totals.unpaid_campaigns == 0 and not totals.unpaid_conversions
    assert totals.cpc == pytest.approx(frame["Spent"].sum() / frame["Clicks"].sum(), rel=1e-9)


def test_defaults_fit_a_file_without_revenue_or_dates(ads):
    frame, con = ads
    totals = engine.campaign_totals(con)
    available = engine.available_metrics(totals)
    assert "roas" not in available and "roi" not in available and "cpa" in available
    first = next(m for m in engine.BREAKDOWN_METRIC_ORDER if m in available)
    assert first == "cpa"
    # ad ids and campaign ids are identifiers, not breakdowns; age is the first real dimension
    profiles = {p.name: p for p in engine.dimension_profiles(con)}
    assert profiles["ad_id"].looks_like_id
    assert profiles["age"].distinct == frame["age"].nunique() and not profiles["age"].looks_like_id
    assert engine.default_breakdown(con) == "age"
    by_age = engine.campaign_metrics(con, "age").set_index("age")
    sums = frame.groupby("age")[["Spent", "Approved_Conversion"]].sum()
    assert by_age["cpa"].to_dict() == pytest.approx((sums["Spent"] / sums["Approved_Conversion"]).to_dict())
    assert engine.campaign_filter_options(con)["date_bounds"] is None


def test_a_newsletter_that_never_spent_stays_out_of_cost_metrics(ads):
    frame, con = ads
    con.execute(
        "INSERT INTO campaigns (campaign_id, spend, impressions, clicks, conversions) "
        "VALUES ('newsletter', 0, 10000, 300, 40)"
    )
    try:
        totals = engine.campaign_totals(con)
        assert totals.unpaid_campaigns == 1 and totals.unpaid_conversions == 40
        assert totals.cpa == pytest.approx(
            frame["Spent"].sum() / frame["Approved_Conversion"].sum(), rel=1e-9
        )
        assert totals.conversions == frame["Approved_Conversion"].sum() + 40
    finally:
        con.execute("DELETE FROM campaigns WHERE campaign_id = 'newsletter'")


def test_click_through_rates_below_a_tenth_of_a_percent_keep_two_significant_digits(ads):
    """On an ad-level export the click-through rate is about 0.02%: the funnel said "0.0% of previous" and
    every campaign's CTR read "0.02%", hiding the difference between campaigns."""
    from dashboard.charts import campaigns as cc

    frame, con = ads
    clicks, impressions = int(frame["Clicks"].sum()), int(frame["Impressions"].sum())
    ctr = clicks / impressions
    assert ctr < 0.001
    expected = f"{ctr * 100:.3f}%" if ctr >= 0.0001 else f"{ctr * 100:.4f}%"
    labels = [
        t for trace in cc.funnel_chart(engine.campaign_funnel(con)).to_dict()["data"] for t in trace["text"]
    ]
    assert f"{clicks:,} ({expected} of previous)" in labels
    assert "0.0% of previous" not in " ".join(labels)
    by_campaign = frame.groupby("xyz_campaign_id")[["Clicks", "Impressions"]].sum()
    table = cc.styled_table(engine.campaign_metrics(con, "campaign")[["campaign_id", "ctr"]]).to_html()
    for row in by_campaign.itertuples():
        rate = row.Clicks / row.Impressions
        assert f"{rate * 100:.3f}%" in table  # 0.0179%-0.0244% show as 0.018% .. 0.024%, not all "0.02%"
    assert cc.pct_text(0.0283, 1) == "2.8%" and cc.pct_text(0.0, 2) == "0.00%"
