"""Overview: headline KPIs with change vs the previous period, revenue, new vs returning, cohorts."""

from __future__ import annotations

import streamlit as st

import engine
from dashboard import charts, checks, components, share, state
from dashboard.components import Kpi, fmt_int, fmt_money, fmt_pct


@st.cache_data(show_spinner=False, max_entries=64)
def load_kpis(version: int, start, end):
    return engine.kpis(state.cursor(), start, end)


@st.cache_data(show_spinner=False, max_entries=64)
def load_trend(version: int, grain: str, start, end):
    return engine.revenue_over_time(state.cursor(), grain, start, end)


@st.cache_data(show_spinner=False, max_entries=64)
def load_new_returning(version: int, grain: str, start, end):
    return engine.new_vs_returning(state.cursor(), grain, start, end)


@st.cache_data(show_spinner=False, max_entries=16)
def load_cohorts(version: int):
    return engine.cohort_retention(state.cursor())


DEFINE = engine.KPI_DEFINITIONS


def _delta(now, before, kind: str) -> str | None:
    if now is None or before is None:
        return None
    if kind == "pct_points":
        return f"{(now - before) * 100:+.1f} pts"
    if not before:
        return None
    return f"{(now - before) / abs(before):+.1%}"


st.title("Overview")
version = state.data_version()
counts = state.table_counts(version)
if counts["orders"] == 0:
    components.no_data("orders", "orders")
    st.stop()
checks.show_id_warnings(version)  # tables that share no ids or few

chosen = state.date_range()
start, end = chosen if chosen else (None, None)
k = load_kpis(version, start, end)
prev = k.previous
days = (k.end - k.start).days + 1
compared = (
    f"changes compare with the {days:,} days before"
    if prev.get("orders")
    else f"no orders in the {days:,} days before, so there is no change to show"
)
st.caption(f"{k.start:%b %d, %Y} to {k.end:%b %d, %Y}; {compared}. Set the dates in the sidebar.")
dates = f"Data from {k.start:%b %d, %Y} to {k.end:%b %d, %Y}"
with st.expander("Share: PDF report and presentation", icon=":material/ios_share:"):
    st.caption(
        "The PDF tells the story of these dates on one page per part: the business at a glance, who the "
        "customers are, what to do for each, what the campaigns earned, what the tests proved. "
        "**Presentation mode** (in the sidebar, or add `?present=1` to the address) shows the same story "
        "as slides."
    )
    share.report_download(start, end)
components.kpi_row(
    [
        Kpi(
            "Customers",
            engine.compact_number(k.customers),
            _delta(k.customers, prev["customers"], "ratio"),
            help=f"{DEFINE['customers']} Exactly {fmt_int(k.customers)}; {counts['customers']:,} customers are on file.",
        ),
        Kpi(
            "Active 90 days",
            engine.compact_number(k.active_90d),
            _delta(k.active_90d, prev["active_90d"], "ratio"),
            help=f"{DEFINE['active_90d']} Exactly {fmt_int(k.active_90d)}.",
        ),
        Kpi(
            "Orders",
            engine.compact_number(k.orders),
            _delta(k.orders, prev["orders"], "ratio"),
            help=f"{DEFINE['orders']} Exactly {fmt_int(k.orders)}.",
        ),
        Kpi(
            "Revenue",
            engine.compact_number(k.revenue, money=True),
            _delta(k.revenue, prev["revenue"], "ratio"),
            help=f"{DEFINE['revenue']} Exactly {fmt_money(k.revenue, 2)}.",
        ),
        Kpi(
            "Avg order",
            fmt_money(k.average_order_value, 2),
            _delta(k.average_order_value, prev["average_order_value"], "ratio"),
            help=DEFINE["average_order_value"],
        ),
        Kpi(
            "Repeat rate",
            fmt_pct(k.repeat_rate),
            _delta(k.repeat_rate, prev["repeat_rate"], "pct_points"),
            help=DEFINE["repeat_rate"],
        ),
    ]
)

components.guest_caption(engine.GuestOrders(k.guest_orders, k.guest_revenue, None), k.revenue)

grain = (
    st.segmented_control("Show per", ["week", "month", "quarter"], default="month", key="overview_grain")
    or "month"
)
trend = load_trend(version, grain, start, end)
partial = [p for p, flag in zip(trend["period"], trend["partial"], strict=True) if flag]
share.chart(
    charts.revenue_trend(trend, grain, partial),
    trend,
    "overview_trend",
    dates,
    engine.revenue_trend_takeaway(trend, grain),
)
if partial:
    st.caption(charts.partial_caption(partial, grain))

left, right = st.columns(2)
with left:
    split = load_new_returning(version, grain, start, end)
    split_partial = [p for p, flag in zip(split["period"], split["partial"], strict=True) if flag]
    share.chart(
        charts.new_vs_returning_chart(split, grain, split_partial),
        split,
        "overview_new_returning",
        dates,
        engine.new_vs_returning_takeaway(split),
    )
with right:
    cohorts = load_cohorts(version)
    share.chart(
        charts.cohort_heatmap(cohorts), cohorts, "overview_cohorts", None, engine.cohort_takeaway(cohorts)
    )
    st.caption(
        "Each row is the customers whose first order fell in that month; each cell the share who "
        "bought again n months later. Cohorts use all dates, not the sidebar filter."
    )

with st.expander("The numbers behind the charts"):
    st.dataframe(
        trend,
        hide_index=True,
        width="stretch",
        column_config={
            "period": st.column_config.DateColumn(f"{grain.capitalize()} starting", format="YYYY-MM-DD"),
            "revenue": st.column_config.NumberColumn("Net revenue", format="dollar"),
            "orders": st.column_config.NumberColumn("Orders", format="localized"),
            "customers": st.column_config.NumberColumn("Buying customers", format="localized"),
            "returns": st.column_config.NumberColumn("Returns", format="dollar"),
            "partial": st.column_config.CheckboxColumn("Partial", help="The data covers only part of it"),
        },
    )
    components.csv_download(trend, f"revenue_per_{grain}.csv", key="dl_trend")
    components.csv_download(
        cohorts, "cohort_retention.csv", "Download cohort retention CSV", key="dl_cohorts"
    )
