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
