"""The store's currency: set once on the Data page, every card, chart, table and takeaway writes it."""

from __future__ import annotations

import contextvars
import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import engine
from dashboard import components
from dashboard.charts import campaigns as campaign_charts
from dashboard.charts import overview as overview_charts
from tests.dashboard.test_app_pages import APP

DATA_PAGE = "dashboard/app_pages/data.py"


def in_currency(symbol: str, function, *args, **kwargs):
    """Call ``function`` with ``symbol`` in use, in a copied context so no other test sees it."""

    def run():
        engine.use_currency(symbol)
        return function(*args, **kwargs)

    return contextvars.copy_context().run(run)


@pytest.mark.parametrize(
    "text, stored", [("£", "£"), ("€", "€"), ("  CHF ", "CHF "), ("kr.", "kr."), ("R$", "R$")]
)
def test_valid_symbols_are_kept_as_typed(text, stored):
    assert engine.validate_currency(text) == stored


@pytest.mark.parametrize("text", ["", "   ", "EUROS", "<b>", "£*", "[x]", "1$", "a\nb", "%{x}"])
def test_symbols_that_could_format_or_inject_are_refused(text):
    with pytest.raises(engine.CurrencyError):
        engine.validate_currency(text)


def test_the_setting_is_kept_in_the_store_and_defaults_to_dollar(tmp_path):
    path = tmp_path / "store.duckdb"
    con = engine.connect(path, shared=False)
    assert engine.currency_setting(con) == "$"
    assert engine.set_currency_setting(con, "£") == "£"
    con.close()
    con = engine.connect(path, shared=False)
    assert engine.currency_setting(con) == "£"
    with pytest.raises(engine.CurrencyError):
        engine.set_currency_setting(con, "<script>")
    assert engine.currency_setting(con) == "£"  # a refused symbol changes nothing
    con.close()


def test_formatters_charts_and_takeaways_write_the_symbol():
    assert in_currency("£", components.fmt_money, -1234.5) == "-£1,234"
    assert in_currency("£", components.fmt_money_short, 2_030_000) == "£2.03M"
    assert in_currency("CHF ", components.fmt_money, 950, 2) == "CHF 950.00"
    assert components.fmt_money(1234) == "$1,234"  # nothing set: dollars, as before

    trend = pd.DataFrame(
        {
            "period": pd.to_datetime(["2025-01-01", "2025-02-01"]),
            "revenue": [1000.0, 3000.0],
            "orders": [5, 7],
        }
    )
    sentence = in_currency("£", engine.revenue_trend_takeaway, trend)
    assert "£4,000" in sentence and "£3,000" in sentence and "$" not in sentence
    assert "$4,000" in engine.revenue_trend_takeaway(trend)

    metrics = pd.DataFrame(
        {
            "campaign_name": ["Spring", "Summer"],
            "channel": ["email", "search"],
            "spend": [100.0, 400.0],
            "revenue": [300.0, 200.0],
            "roi": [2.0, -0.5],
        }
    )
    sentence = in_currency("€", engine.campaign_roi_takeaway, metrics)
    assert "€500 on €500 spent" in sentence and "$" not in sentence

    figure = json.dumps(
        in_currency("£", campaign_charts.spend_revenue_bubble, metrics.assign(conversions=[3, 4])).to_dict(),
        ensure_ascii=False,
    )
    assert "£" in figure and "$" not in figure
    layout = in_currency("£", campaign_charts.roi_bar, metrics).to_dict()["layout"]
    assert "$" not in json.dumps(layout)
    fig = in_currency("£", overview_charts.revenue_trend, trend.assign(partial=False)).to_dict()
    assert fig["layout"]["yaxis"]["tickprefix"] == "£"
    assert "$" not in fig["data"][0]["hovertemplate"] and "£%{y" in fig["data"][0]["hovertemplate"]


def _metric_values(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_pages_show_the_store_currency(app_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    dollars = _metric_values(at)
    assert dollars["Revenue"].startswith("$")  # the default store: dollars as today

    con = engine.connect(app_db)
    engine.set_currency_setting(con, "£")
    k = engine.kpis(con)
    at.run()
    assert not at.exception
    pounds = _metric_values(at)
    assert pounds["Avg order"] == f"£{k.revenue / k.orders:,.2f}"
    assert pounds["Revenue"].startswith("£")
    assert not any("$" in value for value in pounds.values())
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    prefixes = [s["layout"].get("yaxis", {}).get("tickprefix") for s in specs]
    assert "£" in prefixes and "$" not in prefixes
    hovers = [t.get("hovertemplate", "") for s in specs for t in s["data"]]
    assert any("£" in h for h in hovers) and not any("$" in h for h in hovers)


def test_the_data_page_sets_the_currency_for_every_page(app_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(DATA_PAGE.removeprefix("dashboard/"))
    at.run()
    assert not at.exception
    at.radio(key="currency_choice").set_value("other")
    at.text_input(key="currency_other").set_value("<b>")
    at.button[[b.label for b in at.button].index("Save currency")].click().run()
    assert "use currency signs, letters, a dot or a space only" in " ".join(e.value for e in at.error)
    assert engine.currency_setting(engine.connect(app_db)) == "$"
    at.radio(key="currency_choice").set_value("€")
    at.button[[b.label for b in at.button].index("Save currency")].click().run()
    assert not at.exception
    assert engine.currency_setting(engine.connect(app_db)) == "€"
    assert at.expander[0].label.startswith("Money is shown in €")


def test_the_story_and_pdf_headlines_use_the_store_currency(sample_copy):
    _, con = sample_copy
    engine.set_currency_setting(con, "£")
    story = contextvars.copy_context().run(engine.build_story, con)
    values = [h.value for s in story.sections for h in s.headlines]
    money = [v for v in values if "£" in v]
    assert len(money) >= 3 and not any("$" in v for v in values)
    takeaways = [c.takeaway for s in story.sections for c in s.charts]
    assert any("£" in t for t in takeaways) and not any("$" in t for t in takeaways)
