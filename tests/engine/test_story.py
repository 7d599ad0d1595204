"""The story's takeaways state the right numbers: each sentence is checked against pandas arithmetic over the
sample store's raw rows, not against the engine's own aggregates."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import engine


@pytest.fixture(scope="module")
def story(sample_con):
    return engine.build_story(sample_con)


@pytest.fixture(scope="module")
def lines(sample_con) -> pd.DataFrame:
    frame = sample_con.execute(
        "SELECT order_id, customer_id, order_date, amount, is_return FROM orders ORDER BY order_id"
    ).df()
    frame["month"] = frame["order_date"].dt.to_period("M")
    return frame


def chart(story, key: str) -> engine.StoryChart:
    return next(c for s in story.sections for c in s.charts if c.key == key)


def test_compact_numbers_fit_a_card():
    assert engine.compact_number(993_412) == "993k"
    assert engine.compact_number(4_991_000) == "4.99M"
    assert engine.compact_number(401_234_567, money=True) == "$401M"
    assert engine.compact_number(9_950) == "9,950"
    assert engine.compact_number(999_999) == "1.00M"
    assert engine.compact_number(-12_500, money=True) == "-$12.5k"
    assert engine.compact_number(None) == "n/a"


def test_story_has_five_sections_in_meeting_order(story):
    assert [s.slug for s in story.sections] == [
        "overview",
        "customers",
        "actions",
        "campaigns",
        "experiments",
    ]
    assert story.start.isoformat() == "2024-01-01" and story.end.isoformat() == "2025-12-31"
    assert len(story.loads) >= 6


def test_revenue_takeaway_matches_order_lines(story, lines):
    text = chart(story, "overview.revenue_trend").takeaway
    total = lines["amount"].sum()
    orders = lines.loc[~lines["is_return"], "order_id"].nunique()
    by_month = lines.groupby("month")["amount"].sum()
    best = by_month.idxmax()
    assert f"${total / 1e6:.2f}M" in text
    assert f"{orders:,} orders" in text
    assert f"over {len(by_month)} months" in text
    assert best.strftime("%b %Y") in text
    assert f"({by_month.max() / total:.0%} of the total)" in text


def test_new_vs_returning_takeaway_counts_last_month(story, lines):
    text = chart(story, "overview.new_vs_returning").takeaway
    bought = lines[~lines["is_return"]]
    first = bought.groupby("customer_id")["month"].min()
    last_month = bought["month"].max()
    buyers = bought.loc[bought["month"] == last_month, "customer_id"].unique()
    returning = int((first.loc[buyers] < last_month).sum())
    assert last_month.strftime("%b %Y") in text
    assert f"{returning:,} of {len(buyers):,} buying customers ({returning / len(buyers):.0%})" in text


def test_cohort_takeaway_is_second_month_retention(story, lines):
    text = chart(story, "overview.cohorts").takeaway
    bought = lines[~lines["is_return"]]
    first = bought.groupby("customer_id")["month"].min().rename("cohort")
    last_month = bought["month"].max()
    eligible = first[first < last_month]
    again = bought.merge(first, on="customer_id")
    again = again[again["month"] == again["cohort"] + 1]["customer_id"].nunique()
    assert f"({again:,} of {len(eligible):,}, over {eligible.nunique()} monthly cohorts)" in text
    assert text.startswith(f"{again / len(eligible):.0%} of new customers")


def test_segment_takeaway_states_shares_of_the_top_segment(story, sample_con, lines):
    text = chart(story, "segments.share_bars").takeaway
    members = engine.customer_segments(sample_con)[["customer_id", "segment"]]
    revenue = lines.groupby("customer_id")["amount"].sum()
    members = members.assign(revenue=members["customer_id"].map(revenue).fillna(0.0))
    by_segment = members.groupby("segment").agg(customers=("customer_id", "size"), revenue=("revenue", "sum"))
    top = by_segment["revenue"].idxmax()
    customer_share = by_segment.loc[top, "customers"] / len(members)
    revenue_share = by_segment.loc[top, "revenue"] / lines["amount"].sum()
    assert text == f"{top} are {customer_share:.0%} of customers and {revenue_share:.0%} of revenue."


def test_campaign_takeaways_match_campaign_rows(story, sample_con):
    rows = sample_con.execute("SELECT campaign_name, channel, spend, revenue FROM campaigns").df()
    per = rows.groupby("campaign_name")[["spend", "revenue"]].sum()
    paid = per[per["spend"] > 0]
    roi = (paid["revenue"] - paid["spend"]) / paid["spend"]
    overall = (paid["revenue"].sum() - paid["spend"].sum()) / paid["spend"].sum()
    text = chart(story, "campaigns.roi").takeaway
    assert f"(ROI {overall:+.0%})" in text
    assert f"{roi.idxmax()} did best (ROI {roi.max():+.0%})" in text
    assert f"{int((roi < 0).sum())} of {len(paid)} lost money" in text

    channels = rows.groupby("channel")[["spend", "revenue"]].sum()
    top = channels["revenue"].idxmax()
    text = chart(story, "campaigns.channel_mix").takeaway
    revenue_share = channels.loc[top, "revenue"] / channels["revenue"].sum()
    spend_share = channels.loc[top, "spend"] / channels["spend"].sum()
    assert text == f"{top} brought {revenue_share:.0%} of campaign revenue for {spend_share:.0%} of spend."


def test_lift_takeaway_matches_exposure_rows(story, sample_con):
    rows = sample_con.execute("SELECT experiment_id, variant, converted FROM experiments").df()
    rates = rows.groupby("variant")["converted"].mean()
    text = chart(story, "experiments.lift").takeaway
    lift = rates["treatment"] / rates["control"] - 1
    assert f"treatment converted {rates['treatment']:.1%} against control's {rates['control']:.1%}" in text
    assert f"a lift of {lift:+.0%}" in text
    low, high = (float(x) / 100 for x in re.findall(r"between ([+-]\d+)% and ([+-]\d+)%", text)[0])
    assert low < lift < high


def test_a_store_with_orders_only_still_tells_five_sections(con):
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, unit_price, amount, "
        "is_return) VALUES ('A', 'C1', '2025-01-05', 'P1', 1, 10, 10, false), "
        "('B', 'C2', '2025-02-07', 'P1', 2, 10, 20, false)"
    )
    story = engine.build_story(con)
    assert len(story.sections) == 5
    campaigns = story.sections[3]
    assert not campaigns.charts and "no campaign" in campaigns.note.lower()


def test_an_empty_store_still_tells_five_sections(con):
    story = engine.build_story(con)
    assert [bool(s.note) for s in story.sections] == [True] * 5
    assert story.start is None and story.loads.empty


def test_actions_carry_predicted_value_and_risk_per_group(story, sample_con):
    actions = story.sections[2]
    labels = {h.label: h.value for h in actions.headlines}
    prediction = engine.predict_customers(sample_con, story.end)
    value = engine.segment_value(sample_con, prediction)
    at_risk = round(float((value["customers"] * value["share_at_risk"]).sum()))
    assert labels["Customers at risk"] == f"{at_risk:,}"
    table = actions.tables[0][1]
    assert {"clv_per_customer", "share_at_risk", "action"} <= set(table.columns)
    # the frames are joined on the group name, not by row order
    champions = table.set_index("group").loc["Champions"]
    assert champions["clv_per_customer"] == value.set_index("segment").loc["Champions", "clv_per_customer"]


def test_the_tests_page_charts_four_tests_and_says_how_many_more(con):
    counts = {f"test_{i}": (1000, 100 + 5 * i) for i in range(6)}  # control converts 100 of 1,000 in each
    for test, (exposed, converted) in counts.items():
        con.execute(
            "INSERT INTO experiments (experiment_id, variant, exposures, conversions) VALUES "
            "(?, 'control', 1000, 100), (?, 'treatment', ?, ?)",
            [test, test, exposed, converted],
        )
    section = engine.build_story(con).sections[4]
    assert [c.title for c in section.charts] == [f"Lift over control: test_{i}" for i in range(4)]
    for i, chart in enumerate(section.charts):
        assert f"a lift of {(100 + 5 * i) / 100 - 1:+.0%}" in chart.takeaway
    assert "Charts show the first 4 of 6 tests; 2 more are in the table." in section.note
    assert section.headlines[0].value == "6"
