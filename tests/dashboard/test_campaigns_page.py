"""The Campaigns page through AppTest: renders on the sample, reacts to filters, handles an empty store."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

import engine
from dashboard.components import fmt_money_short
from tests.dashboard.test_app_pages import APP

PAGE = "app_pages/campaigns.py"


def _open(**session) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


TABS = {
    "campaigns": ":material/table: Campaigns",
    "trends": ":material/show_chart: Trends",
    "channels": ":material/hub: Channels",
    "breakdowns": ":material/splitscreen: Breakdowns",
    "funnel": ":material/filter_alt: Funnel",
    "response": ":material/grid_on: Segment response",
}


def _tab(at: AppTest, tab: str) -> AppTest:
    """Only the open tab runs."""
    at.session_state["cmp_tab"] = TABS[tab]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    parts += [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def test_campaigns_page_on_the_sample(app_db):
    at = _open()
    assert at.title[0].value == "Campaigns"
    labels = [m.label for m in at.metric]
    assert labels[:4] == ["Spend", "Revenue", "ROAS", "ROI"]
    assert all(m.value not in ("inf", "nan", "NaN") for m in at.metric)
    assert "Best campaigns by ROI" in _texts(at)
    # the newsletter has no spend: it has no ROI, said in words
    assert "1 campaign has no ROI (no spend or no revenue)" in _texts(at)
    # ...and its free revenue is said apart instead of lifting ROAS and ROI
    assert "ROAS, ROI and CPA count only campaigns that spent. 1 campaign never spent" in _texts(at)
    assert "n/a" not in _texts(at)
    tables = downloads = charts = 0
    for tab in TABS:
        _tab(at, tab)
        tables += len(at.dataframe)
        downloads += len(at.get("download_button"))
        charts += len(at.get("plotly_chart"))
        # every table a marketer acts on has its download
        assert len(at.get("download_button")) >= len(at.dataframe), tab
    assert tables >= 8 and downloads >= tables and charts >= 8


def test_channel_filter_changes_the_numbers(app_db):
    at = _open()
    spend_all = at.metric[0].value
    con = engine.connect(app_db, shared=False)
    email = engine.campaign_totals(con, engine.CampaignFilter(channels=("email",)))
    display = engine.campaign_totals(con, engine.CampaignFilter(channels=("display",)))
    con.close()
    at.multiselect(key="cmp_channels").select("email").run()
    assert not at.exception
    assert at.metric[0].value != spend_all
    assert at.metric[0].value == fmt_money_short(email.spend)
    assert at.metric[3].value == ("n/a" if email.roi is None else f"{email.roi * 100:.1f}%")
    at.multiselect(key="cmp_channels").unselect("email").select("display").run()
    assert not at.exception
    assert at.metric[0].value == fmt_money_short(display.spend)


def test_value_per_conversion_is_labelled_as_an_assumption(app_db):
    con = engine.connect(app_db, shared=False)
    con.execute("UPDATE campaigns SET revenue = NULL WHERE channel = 'display'")
    con.close()
    at = _open()
    assert "campaign rows have no revenue" in _texts(at)
    at.number_input(key="cmp_value").set_value(50.0).run()
    assert not at.exception
    assert "Assumption:" in _texts(at)
    assert at.metric[1].label == "Est. revenue"
    assert "assumed value per conversion" in at.metric[1].help


def test_empty_store_says_what_to_upload(empty_app_db):
    at = _open()
    assert "No campaign performance yet" in _texts(at)
    assert not at.metric


def _chart_titles(at: AppTest) -> list[str]:
    titles = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        titles.append(spec.get("layout", {}).get("title", {}).get("text", ""))
    return titles


def test_tab_controls_change_what_is_shown(app_db):
    at = _tab(_open(), "trends")
    assert "Spend over time" in _chart_titles(at)
    at.selectbox(key="cmp_metric").set_value("roas").run()
    at.selectbox(key="cmp_split").set_value("channel").run()
    assert not at.exception
    assert "ROAS over time" in _chart_titles(at)
    _tab(at, "breakdowns")
    at.selectbox(key="cmp_dim").set_value("device").run()
    assert not at.exception
    assert "ROAS by device" in _chart_titles(at)
    _tab(at, "response")
    at.radio(key="cmp_resp_source").set_value("experiments").run()
    assert not at.exception
    assert "the customers exposed to it" in _texts(at)
    assert "Response rate by segment and campaign" in _chart_titles(at)


def test_controls_in_a_closed_tab_keep_their_values(app_db, caplog):
    at = _tab(_open(), "trends")
    at.selectbox(key="cmp_metric").set_value("roas").run()
    at.segmented_control(key="cmp_grain").set_value("month").run()
    _tab(at, "funnel")
    at.segmented_control(key="cmp_funnel_by").set_value("Channel").run()
    _tab(at, "channels")  # neither tab runs now
    _tab(at, "trends")
    assert at.selectbox(key="cmp_metric").value == "roas"
    assert at.selectbox(key="cmp_split").value == "total"  # a kept default still shows, never a placeholder
    assert at.segmented_control(key="cmp_grain").value == "month"
    assert "ROAS over time" in _chart_titles(at)
    assert _tab(at, "funnel").segmented_control(key="cmp_funnel_by").value == "Channel"
    # the starting values come from the session state alone (no "default value ... Session State" warning)
    assert "Session State API" not in caplog.text


AD_ROWS = """
INSERT INTO campaigns (campaign_id, campaign_name, spend, impressions, clicks, conversions)
SELECT CASE WHEN i % 3 = 0 THEN '916' WHEN i % 3 = 1 THEN '936' ELSE '1178' END,
       'fb ' || CAST(i // 2 AS VARCHAR),
       CASE WHEN i % 7 = 0 THEN 0 ELSE 1.5 + i % 11 END,
       1000 + i * 37, CASE WHEN i % 7 = 0 THEN 0 ELSE 1 + i % 4 END, i % 3
FROM range(300) t(i)
"""


def test_an_ad_level_file_without_revenue_or_dates(empty_app_db):
    con = engine.connect(empty_app_db, shared=False)
    con.execute('ALTER TABLE campaigns ADD COLUMN "ad_id" VARCHAR')
    con.execute('ALTER TABLE campaigns ADD COLUMN "age" VARCHAR')
    con.execute(AD_ROWS)
    con.execute("UPDATE campaigns SET ad_id = CAST(700000 + impressions AS VARCHAR), "
                "age = ['30-34', '35-39', '40-44'][CAST(1 + impressions % 3 AS BIGINT)]")  # fmt: skip
    totals = engine.campaign_totals(con)
    con.close()
    at = _open()
    labels = [m.label for m in at.metric]
    # cards the file can fill: no ROAS or ROI without revenue, CPA instead
    assert "ROAS" not in labels and "ROI" not in labels and "CPA" in labels
    assert at.metric[labels.index("CPA")].value == f"${totals.cpa:,.2f}"
    text = _texts(at)
    assert "The campaign file has no revenue, so ROAS and ROI are not shown" in text
    assert "none can be ranked by ROI" not in text and "n/a" not in text  # said once, by the note above
    _tab(at, "trends")
    assert "The campaign file has no dates, so there is nothing to show over time" in _texts(at)
    _tab(at, "breakdowns")
    assert at.selectbox(key="cmp_dim").value == "age"  # not the ad id
    assert at.selectbox(key="cmp_dim_metric").value == "cpa"
    assert "CPA by age" in _chart_titles(at)
