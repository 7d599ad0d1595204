"""Campaign metrics, trends, funnels and segment response on tiny hand-computed data."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import engine
from engine import CampaignFilter

NA = pd.NA

# c1: two search days (CTR 5% and 10%: the campaign CTR is 150/2000, not the mean of the two).
# c2: zero spend, zero impressions, zero clicks.  c3: no channel, no revenue column value, no clicks.
CAMPAIGN_ROWS = """
INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, conversions,
                       revenue) VALUES
    ('c1', 'Spring', 'search', DATE '2024-01-01', 100, 1000, 50, 5, 300),
    ('c1', 'Spring', 'search', DATE '2024-01-02', 100, 1000, 100, 5, NULL),
    ('c2', 'Zero', 'social', DATE '2024-01-01', 0, 0, 0, 0, 0),
    ('c3', NULL, NULL, DATE '2024-02-05', 50, 500, 0, 0, NULL)
"""


@pytest.fixture
def camp(con):
    con.execute(CAMPAIGN_ROWS)
    return con


def _float_cols(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.select_dtypes(include=["number", "Float64"])


def test_campaign_metrics_are_ratios_of_sums(camp):
    frame = engine.campaign_metrics(camp)
    assert list(frame["campaign_id"]) == ["c1", "c2", "c3"]
    assert list(frame["campaign_name"]) == ["Spring", "Zero", "c3"]
    assert list(frame["channel"]) == ["search", "social", engine.NO_CHANNEL]
    got = frame.set_index("campaign_id")[
        [
            "spend",
            "impressions",
            "clicks",
            "conversions",
            "revenue",
            "ctr",
            "conversion_rate_click",
            "conversion_rate_impression",
            "cpc",
            "cpm",
            "cpa",
            "roas",
            "roi",
        ]
    ]
    expected = pd.DataFrame(
        {
            "spend": [200.0, 0.0, 50.0],
            "impressions": [2000.0, 0.0, 500.0],
            "clicks": [150.0, 0.0, 0.0],
            "conversions": [10.0, 0.0, 0.0],
            "revenue": [300.0, 0.0, NA],
            "ctr": [150 / 2000, NA, 0.0],  # not (0.05 + 0.10) / 2
            "conversion_rate_click": [10 / 150, NA, NA],
            "conversion_rate_impression": [10 / 2000, NA, 0.0],
            "cpc": [200 / 150, NA, NA],
            "cpm": [100.0, NA, 100.0],
            "cpa": [20.0, NA, NA],
            "roas": [1.5, NA, NA],
            "roi": [0.5, NA, NA],
        },
        index=pd.Index(["c1", "c2", "c3"], name="campaign_id"),
    ).astype("Float64")
    assert_frame_equal(got, expected)
    assert list(frame["rows_without_revenue"]) == [1, 0, 1]


def test_zero_denominators_never_give_inf_or_nan(camp):
    for by in ("campaign", "channel", ()):
        frame = engine.campaign_metrics(camp, by)
        for col in _float_cols(frame).columns:
            values = frame[col]
            assert not np.isinf(values.astype("float64").fillna(0)).any(), col
            if str(values.dtype) == "Float64":
                # nullable: missing values are <NA>, never a NaN hiding inside
                assert not (values.notna() & values.astype("float64").isna()).any(), col


def test_value_per_conversion_fills_only_rows_without_revenue(camp):
    frame = engine.campaign_metrics(camp, value_per_conversion=10.0).set_index("campaign_id")
    # c1: 300 reported + 5 conversions x 10 on the day without revenue
    assert frame.loc["c1", "revenue"] == 350.0
    assert frame.loc["c1", "reported_revenue"] == 300.0
    assert frame.loc["c1", "assumed_revenue"] == 50.0
    assert frame.loc["c1", "roas"] == 1.75
    # c3: no conversions: assumed revenue 0, so ROI = -100%
    assert frame.loc["c3", "revenue"] == 0.0
    assert frame.loc["c3", "roi"] == -1.0
    assert pd.isna(frame.loc["c2", "assumed_revenue"])  # c2 had revenue: nothing assumed
    with pytest.raises(engine.SchemaError, match="value per conversion"):
        engine.campaign_metrics(camp, value_per_conversion=-1)


def test_totals_use_none_for_missing_ratios(camp):
    totals = engine.campaign_totals(camp)
    assert totals.campaigns == 3
    assert totals.spend == 250.0
    assert totals.revenue == 300.0
    assert totals.roas == pytest.approx(1.2)
    assert totals.roi == pytest.approx(0.2)
    assert totals.ctr == pytest.approx(150 / 2500)
    assert totals.rows_without_revenue == 2
    assert totals.assumed_revenue is None
    zero = engine.campaign_totals(camp, CampaignFilter(campaigns=("c2",)))
    assert (zero.roas, zero.roi, zero.ctr, zero.cpc, zero.cpa, zero.cpm) == (None,) * 6
    empty = engine.campaign_totals(camp, CampaignFilter(campaigns=("nope",)))
    assert empty.campaigns == 0 and empty.spend is None and empty.roi is None


def test_channel_and_dimension_breakdowns(camp):
    camp.execute('ALTER TABLE campaigns ADD COLUMN "ad set" VARCHAR')
    camp.execute("""UPDATE campaigns SET "ad set" = CASE WHEN date = DATE '2024-01-01' THEN 'A' END""")
    by_channel = engine.campaign_metrics(camp, "channel")
    assert list(by_channel["channel"]) == [engine.NO_CHANNEL, "search", "social"]
    assert list(by_channel["spend"]) == [50.0, 200.0, 0.0]
    assert engine.campaign_dimensions(camp) == ["ad set"]
    by_set = engine.campaign_metrics(camp, "ad set")
    assert list(by_set["ad set"]) == ["(blank)", "A"]
    assert list(by_set["clicks"]) == [100.0, 50.0]
    both = engine.campaign_metrics(camp, ["channel", "ad set"])
    assert len(both) == 4
    with pytest.raises(engine.SchemaError, match="ad set"):
        engine.campaign_metrics(camp, "gender")


def test_filters(camp):
    january = engine.campaign_metrics(
        camp, filters=CampaignFilter(start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 1))
    )
    assert list(january["campaign_id"]) == ["c1", "c2"]
    assert list(january["clicks"]) == [50.0, 0.0]
    search = engine.campaign_metrics(camp, filters=CampaignFilter(channels=("search", engine.NO_CHANNEL)))
    assert list(search["campaign_id"]) == ["c1", "c3"]
    one = engine.campaign_metrics(camp, filters=CampaignFilter(campaigns=("c3",)))
    assert list(one["campaign_id"]) == ["c3"]


def test_campaign_spanning_channels_is_labelled(camp):
    camp.execute(
        "INSERT INTO campaigns (campaign_id, channel, date, spend) VALUES ('c2', 'email', DATE "
        "'2024-01-03', 5)"
    )
    frame = engine.campaign_metrics(camp).set_index("campaign_id")
    assert frame.loc["c2", "channel"] == engine.MULTIPLE_CHANNELS


def test_trend_by_week_and_month(camp):
    weekly = engine.campaign_trend(camp, "week")
    assert list(weekly["period"]) == [dt.date(2024, 1, 1), dt.date(2024, 2, 5)] or list(
        pd.to_datetime(weekly["period"]).dt.date
    ) == [dt.date(2024, 1, 1), dt.date(2024, 2, 5)]
    assert list(weekly["spend"]) == [200.0, 50.0]
    monthly = engine.campaign_trend(camp, "month", by="channel")
    assert list(zip(pd.to_datetime(monthly["period"]).dt.month, monthly["channel"], strict=True)) == [
        (1, "search"),
        (1, "social"),
        (2, engine.NO_CHANNEL),
    ]
    assert list(monthly["ctr"].astype("float64").fillna(-1)) == [0.075, -1, 0.0]
    daily = engine.campaign_trend(camp, "day", filters=CampaignFilter(channels=("search",)))
    assert list(daily["ctr"]) == [0.05, 0.10]
    with pytest.raises(engine.SchemaError, match="grain"):
        engine.campaign_trend(camp, "year")


def test_best_and_worst_skip_na_and_never_overlap(camp):
    camp.execute(
        "INSERT INTO campaigns (campaign_id, channel, date, spend, revenue) VALUES "
        "('c4', 'email', DATE '2024-01-05', 100, 50)"
    )
    frame = engine.campaign_metrics(camp)
    best, worst = engine.best_and_worst(frame, "roi", n=1)
    assert list(best["campaign_id"]) == ["c1"]
    assert list(worst["campaign_id"]) == ["c4"]
    best, worst = engine.best_and_worst(frame, "roi", n=5)
    # best means earning back the spend, worst losing money: c4 (ROI -50%) is never "best"
    assert list(best["campaign_id"]) == ["c1"]  # c2 and c3 have no ROI
    assert list(worst["campaign_id"]) == ["c4"]
    only_losers = frame[frame["campaign_id"] == "c4"]
    best, worst = engine.best_and_worst(only_losers, "roi")
    assert best.empty and list(worst["campaign_id"]) == ["c4"]
    best, _ = engine.best_and_worst(frame, "roas", n=5)
    assert list(best["campaign_id"]) == ["c1"]  # ROAS above 1 only


ORDER_ROWS = """
INSERT INTO orders (order_id, customer_id, order_date, product_id, amount, campaign_id, channel, is_return)
VALUES
    ('o1', 'u1', TIMESTAMP '2024-01-01 10:00', 'p1', 30, 'c1', NULL, false),
    ('o1', 'u1', TIMESTAMP '2024-01-01 10:00', 'p2', 10, 'c1', NULL, false),
    ('o2', 'u2', TIMESTAMP '2024-01-02 10:00', 'p1', 20, NULL, 'social', false),
    ('R1', 'u1', TIMESTAMP '2024-01-03 10:00', 'p2', -10, 'c1', NULL, true),
    ('o3', 'u3', TIMESTAMP '2024-01-04 10:00', 'p1', 99, NULL, 'organic', false),
    ('o4', 'u3', TIMESTAMP '2024-01-04 11:00', 'p1', 15, 'c9', NULL, false),
    ('o5', 'u4', TIMESTAMP '2024-03-01 11:00', 'p1', 40, 'c3', NULL, false)
"""


def test_funnel_without_orders_has_three_steps(camp):
    funnel = engine.campaign_funnel(camp)
    assert list(funnel["step"]) == ["Impressions", "Clicks", "Conversions"]
    assert list(funnel["value"]) == [2500.0, 150.0, 10.0]
    assert pd.isna(funnel.loc[0, "step_conversion"])
    assert list(funnel["step_conversion"].iloc[1:]) == [0.06, 10 / 150]
    assert funnel.loc[1, "drop_off"] == pytest.approx(0.94)
    assert list(funnel["from_first"]) == [1.0, 0.06, 0.004]


def test_funnel_with_attributed_orders(camp):
    camp.execute(ORDER_ROWS)
    total = engine.campaign_funnel(camp)
    orders = total[total["step"] == "Orders"].iloc[0]
    # o1 (c1), o2 (social, no campaign) and o5 (c3); not o3 (organic has no campaign rows), not o4
    # (unknown campaign), not the return R1 (its amount still nets off revenue)
    assert orders["value"] == 3.0
    assert orders["revenue"] == 30 + 10 + 20 - 10 + 40
    assert orders["step_conversion"] == pytest.approx(3 / 10)
    per_campaign = engine.campaign_funnel(camp, "campaign")
    orders = per_campaign[per_campaign["step"] == "Orders"].set_index("group")
    assert list(orders["value"]) == [1.0, 0.0, 1.0]
    assert orders.loc["c1", "revenue"] == 30.0
    assert pd.isna(orders.loc["c3", "step_conversion"])  # c3 had no conversions: n/a, not inf
    per_channel = engine.campaign_funnel(camp, "channel")
    social = per_channel[per_channel["group"] == "social"].set_index("step")
    assert social.loc["Orders", "value"] == 1.0
    assert social["from_first"].isna().all()  # zero impressions
    dated = engine.campaign_funnel(camp, filters=CampaignFilter(end=dt.date(2024, 1, 31)))
    assert dated[dated["step"] == "Orders"]["value"].iloc[0] == 2.0
    only_c1 = engine.campaign_funnel(camp, filters=CampaignFilter(campaigns=("c1",)))
    assert only_c1[only_c1["step"] == "Orders"]["value"].iloc[0] == 1.0  # channel-only orders left out
    with pytest.raises(engine.SchemaError):
        engine.campaign_funnel(camp, "age_band")


@pytest.fixture
def segs(camp):
    camp.execute(ORDER_ROWS)
    camp.execute(
        "CREATE TABLE my_segments AS SELECT * FROM (VALUES ('u1', 'Champions'), ('u2', 'Lost'), "
        "('u5', 'Lost')) t(customer_id, segment)"
    )
    return camp


def test_segment_response_from_orders(segs):
    frame = engine.segment_response(segs, "orders", segment_table="my_segments")
    expected = pd.DataFrame(
        {
            "segment": ["(no segment)"] * 3 + ["Champions"] * 3 + ["Lost"] * 3,
            "campaign": ["c1", "c3", "c9"] * 3,
            "base_customers": [2, 2, 2, 1, 1, 1, 2, 2, 2],
            "responders": [0, 1, 1, 1, 0, 0, 0, 0, 0],
            "response_rate": [0.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "revenue": [0.0, 40.0, 15.0, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "revenue_per_customer": [0.0, 20.0, 7.5, 30.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        }
    )
    for col in ("response_rate", "revenue", "revenue_per_customer"):
        expected[col] = expected[col].astype("Float64")
    assert_frame_equal(frame, expected)
    january = engine.segment_response(
        segs, "orders", CampaignFilter(end=dt.date(2024, 1, 31)), segment_table="my_segments"
    )
    assert set(january["campaign"]) == {"c1", "c9"}


def test_segment_response_from_experiments(segs):
    segs.execute("""
        INSERT INTO experiments (experiment_id, variant, customer_id, converted, revenue, exposures, conversions)
        VALUES ('t', 'A', 'u1', false, NULL, 1, 0), ('t', 'A', 'u1', true, 12, 1, 1),
               ('t', 'B', 'u2', false, NULL, 1, 0), ('t', 'B', 'u5', true, 8, 1, 1),
               ('t', 'B', 'u9', false, NULL, 1, 0),
               ('t', 'B', NULL, NULL, NULL, 100, 10)
    """)
    frame = engine.segment_response(segs, "experiments", experiment_id="t", segment_table="my_segments")
    assert list(frame["segment"]) == ["(no segment)", "Champions", "Lost"]
    assert list(frame["campaign"]) == ["t / B", "t / A", "t / B"]
    assert list(frame["base_customers"]) == [1, 1, 2]
    assert list(frame["responders"]) == [0, 1, 1]
    assert list(frame["revenue_per_customer"]) == [0.0, 12.0, 4.0]


def test_segment_response_says_what_is_missing(camp):
    with pytest.raises(engine.InsufficientDataError, match="campaign_id"):
        engine.segment_response(camp, "orders", segment_table="nowhere")
    with pytest.raises(engine.InsufficientDataError, match="customer"):
        engine.segment_response(camp, "experiments", segment_table="nowhere")
    camp.execute(ORDER_ROWS)
    camp.execute("CREATE TABLE bad_segments AS SELECT 'u1' AS customer_id")
    with pytest.raises(engine.SchemaError, match="segment"):
        engine.segment_response(camp, "orders", segment_table="bad_segments")
    with pytest.raises(engine.SchemaError):
        engine.segment_response(camp, "tweets")


def test_empty_store_gives_empty_frames(con):
    assert engine.campaign_metrics(con).empty
    assert engine.campaign_trend(con).empty
    assert engine.campaign_funnel(con).empty
    assert engine.campaign_filter_options(con)["date_bounds"] is None


# ---------------------------------------------------------------- the sample shop


def test_sample_campaigns_recover_their_known_returns(sample_con):
    truth = engine.SAMPLE_STRUCTURE["campaigns"]
    frame = engine.campaign_metrics(sample_con).set_index("campaign_id")
    assert set(frame.index) == set(truth)
    for campaign_id, spec in truth.items():
        roi = frame.loc[campaign_id, "roi"]
        if spec["true_roas"] is None:  # the newsletter costs nothing: ROI is n/a, never inf
            assert frame.loc[campaign_id, "spend"] == 0 and pd.isna(roi)
        else:
            assert bool(roi > 0) == spec["profitable"], campaign_id
            assert frame.loc[campaign_id, "roas"] == pytest.approx(spec["true_roas"], rel=0.3), campaign_id


def test_sample_segment_response_uses_rfm_segments(sample_con):
    frame = engine.segment_response(sample_con, "orders")
    assert frame["responders"].sum() > 0
    assert "Champions" in set(frame["segment"])
    # one base per segment, the same for every campaign
    assert (frame.groupby("segment")["base_customers"].nunique() == 1).all()


def test_rows_without_spend_do_not_lift_roi_roas_or_cpa(camp):
    # a newsletter: no spend, real revenue and conversions, on the same channel as c1
    camp.execute(
        "INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, "
        "conversions, revenue) VALUES ('n1', 'Newsletter', 'search', DATE '2024-01-03', 0, 4000, 400, 40, 1000)"
    )
    totals = engine.campaign_totals(camp)
    assert totals.revenue == 1300.0 and totals.conversions == 50.0  # volumes count everything
    assert totals.roas == pytest.approx(300 / 250) and totals.roi == pytest.approx(50 / 250)
    assert totals.cpa == pytest.approx(250 / 10) and totals.cpc == pytest.approx(250 / 150)
    assert totals.cpm == pytest.approx(1000 * 250 / 2500)
    assert totals.ctr == pytest.approx(550 / 6500)  # rates are not cost metrics: every campaign counts
    # c2 (no spend, no revenue) and n1 are the campaigns without spend
    assert (totals.unpaid_campaigns, totals.unpaid_revenue, totals.unpaid_conversions) == (2, 1000.0, 40.0)
    search = engine.campaign_metrics(camp, "channel").set_index("channel").loc["search"]
    assert search["revenue"] == 1300.0 and search["roas"] == pytest.approx(1.5)
    assert search["unpaid_revenue"] == 1000.0 and search["cpa"] == pytest.approx(20.0)
    week = engine.campaign_trend(camp, "month")
    january = week[week["period"] == pd.Timestamp("2024-01-01")].iloc[0]
    assert january["roas"] == pytest.approx(1.5)
    # with an assumed value per conversion, only paid campaigns' assumed revenue enters ROAS
    assumed = engine.campaign_totals(camp, value_per_conversion=10.0)
    assert assumed.roas == pytest.approx((300 + 50 + 0) / 250)
    # the newsletter alone: it has spend 0, so every cost metric is n/a, never inf
    alone = engine.campaign_totals(camp, CampaignFilter(campaigns=("n1",)))
    assert (alone.roas, alone.roi, alone.cpa) == (None, None, None) and alone.unpaid_revenue == 1000.0
