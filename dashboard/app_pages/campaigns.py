"""Campaigns: which campaigns and channels earned back their spend, over time, by dimension and segment."""

from __future__ import annotations

import datetime as dt

import streamlit as st

import engine
from dashboard import charts, components, share, state
from dashboard.charts import campaigns as cc
from dashboard.components import Kpi, fmt_int, fmt_money, fmt_pct

# --------------------------------------------------------------------------- cached reads


@st.cache_data(show_spinner=False, max_entries=8)
def load_options(version: int) -> dict:
    return engine.campaign_filter_options(state.cursor())


@st.cache_data(show_spinner=False, max_entries=8)
def load_dimensions(version: int) -> list[str]:
    return engine.campaign_dimensions(state.cursor())


@st.cache_data(show_spinner=False, max_entries=8)
def load_default_breakdown(version: int) -> str | None:
    return engine.default_breakdown(state.cursor())


@st.cache_data(show_spinner=False, max_entries=64)
def load_metrics(version: int, by, filters: engine.CampaignFilter, value: float | None):
    return engine.campaign_metrics(state.cursor(), by, filters, value)


@st.cache_data(show_spinner=False, max_entries=64)
def load_totals(version: int, filters: engine.CampaignFilter, value: float | None):
    return engine.campaign_totals(state.cursor(), filters, value)


@st.cache_data(show_spinner=False, max_entries=64)
def load_trend(version: int, grain: str, by: str | None, filters: engine.CampaignFilter, value: float | None):
    return engine.campaign_trend(state.cursor(), grain, by, filters, value)


@st.cache_data(show_spinner=False, max_entries=64)
def load_funnel(version: int, by: str | None, filters: engine.CampaignFilter):
    return engine.campaign_funnel(state.cursor(), by, filters)


@st.cache_data(show_spinner=False, max_entries=32)
def load_response(version: int, source: str, filters: engine.CampaignFilter | None):
    return engine.segment_response(state.cursor(), source, filters)


# --------------------------------------------------------------------------- page

TABLE_COLUMNS = [
    "campaign_id",
    "campaign_name",
    "channel",
    "spend",
    "revenue",
    "roi",
    "roas",
    "conversions",
    "cpa",
    "clicks",
    "cpc",
    "impressions",
    "cpm",
    "ctr",
    "conversion_rate_click",
    "conversion_rate_impression",
    "revenue_minus_spend",
]
HEADERS = {
    "campaign_id": "Campaign id",
    "campaign_name": "Campaign",
    "channel": "Channel",
    "spend": "Spend",
    "revenue": "Revenue",
    "roi": "ROI",
    "roas": "ROAS",
    "conversions": "Conversions",
    "cpa": "CPA",
    "clicks": "Clicks",
    "cpc": "CPC",
    "impressions": "Impressions",
    "cpm": "CPM",
    "ctr": "CTR",
    "conversion_rate_click": "Conv. rate / click",
    "conversion_rate_impression": "Conv. rate / impr.",
    "revenue_minus_spend": "Revenue - spend",
    "assumed_revenue": "Assumed revenue",
    "period": "Period",
    "step": "Step",
    "value": "Count",
    "step_conversion": "Of previous step",
    "drop_off": "Drop-off",
    "from_first": "Of impressions",
    "segment": "Segment",
    "campaign": "Campaign / variant",
    "base_customers": "Customers in base",
    "responders": "Responders",
    "response_rate": "Response rate",
    "revenue_per_customer": "Revenue / customer",
}
TREND_METRICS = [
    "spend",
    "revenue",
    "roas",
    "roi",
    "conversions",
    "cpa",
    "clicks",
    "ctr",
    "impressions",
    "cpm",
    "conversion_rate_click",
]


def show_table(frame, columns, key: str, file_name: str, label: str = "Download CSV") -> None:
    """A sortable table with readable numbers (a dash where a ratio is undefined) and its CSV download."""
    shown = frame[[c for c in columns if c in frame.columns]]
    st.dataframe(
        cc.styled_table(shown, HEADERS), hide_index=True, width="stretch", key=f"tbl_{key}", placeholder="—"
    )
    components.csv_download(shown, file_name, label, key=f"dl_{key}")


def default_dates(bounds: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    """The sidebar date range clipped to the campaign dates, or every campaign date."""
    chosen = state.date_range()
    if chosen:
        start, end = max(chosen[0], bounds[0]), min(chosen[1], bounds[1])
        if start <= end:
            return start, end
    return bounds


st.title("Campaigns")
st.caption(
    "Which campaigns and channels earned back their spend, how that moved over time, and who responded."
)
version = state.data_version()
counts = state.table_counts(version)
if counts["campaigns"] == 0:
    components.no_data("campaign performance", "campaigns")
    st.caption(
        "An ad-platform export works as it is: one row per campaign (and day, ad set, age band ...) "
        "with spend, impressions, clicks and conversions; revenue is optional."
    )
    st.stop()

options = load_options(version)

# ---- filters
with st.container(border=True):
    # no date picker (and no empty column where it would be) for a file without dates
    dated = bool(options["date_bounds"])
    *f1, f2, f3, f4 = st.columns([1.3, 1.2, 1.6, 1] if dated else [1.2, 1.6, 1])
    f1 = f1[0] if f1 else None
    start = end = None
    if dated:
        bounds = options["date_bounds"]
        default = default_dates(bounds)
        picked = f1.date_input(
            "Campaign dates",
            value=default,
            min_value=bounds[0],
            max_value=bounds[1],
            key=f"cmp_dates_{default[0]}_{default[1]}",
            help="Starts from the sidebar date range, limited to the dates campaigns ran.",
        )
        if isinstance(picked, (tuple, list)) and len(picked) == 2:
            start, end = picked
    channels = f2.multiselect("Channels", options["channels"], placeholder="All channels", key="cmp_channels")
    names = dict(zip(options["campaigns"]["campaign_id"], options["campaigns"]["campaign_name"], strict=True))
    # a readable, unique label per campaign: its name, with the id when two campaigns share a name
    name_counts = options["campaigns"]["campaign_name"].value_counts()
    labels = {c: n if name_counts[n] == 1 else f"{n} ({c})" for c, n in names.items()}
    picked_campaigns = f3.multiselect(
        "Campaigns",
        list(names),
        format_func=lambda c: f"{names[c]} ({c})" if names[c] != c else c,
        placeholder="All campaigns",
        key="cmp_campaigns",
    )
    value = f4.number_input(
        "Value per conversion",
        min_value=0.0,
        value=None,
        step=5.0,
        format="%.2f",
        placeholder="not set",
        key="cmp_value",
        help="An assumption for rows with no revenue (ad-platform exports often have "
        "none): revenue = conversions x this value. Leave empty to leave them out.",
    )

filters = engine.CampaignFilter(start, end, tuple(channels) or None, tuple(picked_campaigns) or None)
totals = load_totals(version, filters, value)
if totals.campaigns == 0:
    st.info(
        "No campaign rows match these filters. Widen the dates or clear the channel and campaign filters.",
        icon=":material/filter_alt_off:",
    )
    st.stop()

if totals.assumed_revenue:
    st.warning(
        f"**Assumption:** {fmt_money(totals.assumed_revenue)} of the revenue below is estimated at "
        f"{fmt_money(value, 2)} per conversion for campaign rows that had no revenue. Revenue, ROAS and ROI "
        f"include it.",
        icon=":material/warning:",
    )
elif totals.rows_without_revenue and totals.revenue is not None:
    st.info(
        f"{totals.rows_without_revenue:,} campaign rows have no revenue, so revenue, ROAS and ROI count only the "
        f"rows that do. Set a **value per conversion** above to estimate the rest.",
        icon=":material/info:",
    )

rev_label = "Est. revenue" if totals.assumed_revenue else "Revenue"  # short: a card is ~120 px wide
available = set(engine.available_metrics(totals))
COST_RULE = "over every row of the campaigns that spent (campaigns that never spent are left out)"
candidates = [
    Kpi(
        "Spend",
        engine.compact_number(totals.spend, money=True),
        help=f"{fmt_money(totals.spend)} over {totals.campaigns:,} campaigns in the selection.",
    ),
    Kpi(
        rev_label,
        engine.compact_number(totals.revenue, money=True),
        help=f"{fmt_money(totals.revenue)}: revenue attributed to the campaigns in the file"
        + (" plus the assumed value per conversion (estimated)." if totals.assumed_revenue else "."),
    )
    if totals.revenue is not None
    else None,
    Kpi("ROAS", f"{totals.roas:.2f}", help=f"Return on ad spend: revenue / spend, {COST_RULE}.")
    if "roas" in available
    else None,
    Kpi(
        "ROI",
        fmt_pct(totals.roi),
        help=f"(revenue - spend) / spend, {COST_RULE}. Above 0% the campaigns earned back their spend.",
    )
    if "roi" in available
    else None,
    Kpi(
        "Conversions",
        engine.compact_number(totals.conversions),
        help=f"{fmt_int(totals.conversions)} conversions reported in the file, every row.",
    )
    if totals.conversions is not None
    else None,
    Kpi("CPA", fmt_money(totals.cpa, 2), help=f"Cost per acquisition: spend / conversions, {COST_RULE}.")
    if "cpa" in available
    else None,
    Kpi(
        "CTR",
        "n/a" if totals.ctr is None else cc.pct_text(totals.ctr, 2),
        help="Click-through rate: clicks / impressions, every row.",
    )
    if "ctr" in available
    else None,
    Kpi("CPC", fmt_money(totals.cpc, 2), help=f"Cost per click: spend / clicks, {COST_RULE}.")
    if "cpc" in available
    else None,
    Kpi("CPM", fmt_money(totals.cpm, 2), help=f"Cost per 1,000 impressions, {COST_RULE}.")
    if "cpm" in available
    else None,
]
# the cards the file can fill, at most six: a file without revenue shows CPA and CPC instead of ROAS and ROI
components.kpi_row([k for k in candidates if k is not None][:6])
if totals.revenue is None:
    st.info(
        "The campaign file has no revenue, so ROAS and ROI are not shown. Set a **value per conversion** "
        "above to estimate them.",
        icon=":material/info:",
    )

if totals.unpaid_revenue or totals.unpaid_conversions:
    brought = [
        f"{fmt_money(totals.unpaid_revenue)} of revenue" if totals.unpaid_revenue else "",
        f"{fmt_int(totals.unpaid_conversions)} conversions" if totals.unpaid_conversions else "",
    ]
    count = totals.unpaid_campaigns
    st.caption(
        f":material/info: ROAS, ROI and CPA count only campaigns that spent. {count:,} "
        f"campaign{'s' if count != 1 else ''} never spent (a newsletter, organic posts) and brought "
        f"{' and '.join(b for b in brought if b)} on top: real results, but no spend bought them."
    )

metrics = load_metrics(version, "campaign", filters, value)
REVENUE_COLUMNS = ("revenue", "roi", "roas", "revenue_minus_spend")


def revenue_columns(columns: list[str]) -> list[str]:
    """Table columns without the revenue ones when the selection has no revenue (they would be all dashes)."""
    return columns if totals.revenue is not None else [c for c in columns if c not in REVENUE_COLUMNS]


# ---- best and worst
best, worst = engine.best_and_worst(metrics, "roi", n=3)
# ROAS is ROI + 1, so the half-width tables leave it out; the full table below has it
summary_cols = ["campaign_name", "channel", "spend", "revenue", "roi", "cpa"]
has_roi = metrics["roi"].notna().any()
# without revenue there is no ROI to rank by: the note above says so once, and the charts rank by CPA
if has_roi or totals.revenue is not None:
    b_col, w_col = st.columns(2)
    with b_col:
        st.markdown("##### :material/trending_up: Best campaigns by ROI")
        if not has_roi:
            st.caption(
                "No campaign has both spend and revenue in this selection, so none can be ranked by ROI."
            )
        elif best.empty:
            st.caption("No campaign earned back its spend (ROI above 0%) in this selection.")
        else:
            show_table(best, summary_cols, "best", "best_campaigns_by_roi.csv", "Download best campaigns")
    with w_col:
        st.markdown("##### :material/trending_down: Campaigns losing money")
        if not has_roi:
            st.caption("Without revenue no campaign can be ranked by ROI.")
        elif worst.empty:
            st.caption("No campaign lost money (ROI below 0%) in this selection.")
        else:
            show_table(
                worst, summary_cols, "worst", "worst_campaigns_by_roi.csv", "Download campaigns losing money"
            )
no_roi = metrics[metrics["roi"].isna()]
if has_roi and len(no_roi):
    st.caption(
        f"{len(no_roi):,} campaign{'s have' if len(no_roi) != 1 else ' has'} no ROI (no spend or no revenue): "
        f"{', '.join(no_roi['campaign_name'].astype(str).head(5))}{' ...' if len(no_roi) > 5 else ''}."
    )

# controls inside the tabs below keep their values while their tab is closed
components.keep_state(
    "cmp_metric", "cmp_split", "cmp_dim", "cmp_dim_metric", "cmp_resp_source", "cmp_resp_value", "cmp_ch_metric",
    cmp_grain="week", cmp_funnel_by="All",
)  # fmt: skip
tabs = st.tabs(
    [
        ":material/table: Campaigns",
        ":material/show_chart: Trends",
        ":material/hub: Channels",
        ":material/splitscreen: Breakdowns",
        ":material/filter_alt: Funnel",
        ":material/grid_on: Segment response",
    ],
    key="cmp_tab",
    on_change="rerun",
)

with tabs[0]:
    if tabs[0].open:
        if not has_roi and metrics["cpa"].notna().any():  # no revenue: rank by what a conversion cost
            share.chart(
                cc.cpa_bar(metrics),
                metrics,
                "campaigns_cpa",
                f"Campaigns from {start:%b %d, %Y} to {end:%b %d, %Y}" if start and end else None,
                engine.campaign_cpa_takeaway(metrics),
            )
        else:
            left, right = st.columns(2)
            with left:
                share.chart(
                    cc.roi_bar(metrics),
                    metrics,
                    "campaigns_roi",
                    f"Campaigns from {start:%b %d, %Y} to {end:%b %d, %Y}" if start and end else None,
                    engine.campaign_roi_takeaway(metrics),
                )
            with right:
                share.chart(
                    cc.spend_revenue_bubble(metrics),
                    metrics,
                    "campaigns_bubble",
                    f"Campaigns from {start:%b %d, %Y} to {end:%b %d, %Y}" if start and end else None,
                )
        st.markdown("##### All campaigns")
        st.caption(
            "Click a column header to sort. Ratios are ratios of totals (not averages of daily ratios); "
            "a dash where the denominator is zero."
        )
        show_table(
            metrics,
            TABLE_COLUMNS + (["assumed_revenue"] if totals.assumed_revenue else []),
            "campaigns",
            "campaign_metrics.csv",
            "Download campaign table CSV",
        )

with tabs[1]:
    if tabs[1].open and not options["date_bounds"]:
        st.info(
            "The campaign file has no dates, so there is nothing to show over time. Load a file with a date "
            "column (day, reporting start ...) to see trends.",
            icon=":material/event_busy:",
        )
    elif tabs[1].open:
        c1, c2, c3 = st.columns(3)
        grain = (
            c1.segmented_control("Per", list(engine.GRAINS), format_func=str.capitalize, key="cmp_grain")
            or "week"
        )
        trend_choices = [m for m in TREND_METRICS if m not in engine.RATIO_NAMES or m in available]
        if st.session_state.get("cmp_metric") not in trend_choices:
            st.session_state.pop("cmp_metric", None)
        metric = c2.selectbox(
            "Metric", trend_choices, format_func=lambda m: cc.METRIC_FORMATS[m][0], key="cmp_metric"
        )
        split_choice = c3.selectbox(
            "Split by",
            ["total", "channel", "campaign"],
            key="cmp_split",
            format_func={"total": "Nothing (total)", "channel": "Channel", "campaign": "Campaign"}.get,
        )
        split_by = None if split_choice == "total" else split_choice
        trend = load_trend(version, grain, split_by, filters, value)
        group_col = {"channel": "channel", "campaign": "campaign_name"}.get(split_by)
        if trend.empty:
            st.info("No campaign rows with a date in this selection.", icon=":material/event_busy:")
        else:
            partial = engine.partial_periods(trend["period"], grain, start or options["date_bounds"][0],
                                             end or options["date_bounds"][1])  # fmt: skip
            share.chart(
                cc.trend_chart(trend, metric, group_col, partial=partial, grain=grain),
                trend,
                "campaigns_trend",
                f"Campaigns from {start:%b %d, %Y} to {end:%b %d, %Y}" if start and end else None,
            )
            if partial:
                st.caption(charts.partial_caption(partial, grain))
        with st.expander("The numbers behind the chart"):
            keys = ["period"] + (
                ["campaign_id", "campaign_name", "channel"]
                if split_by == "campaign"
                else ["channel"]
                if split_by == "channel"
                else []
            )
            show_table(
                trend,
                keys + [c for c in TABLE_COLUMNS if c not in ("campaign_id", "campaign_name", "channel")],
                "trend",
                f"campaign_trend_per_{grain}.csv",
            )

with tabs[2]:
    if tabs[2].open:
        by_channel = load_metrics(version, "channel", filters, value)
        left, right = st.columns(2)
        with left:
            share.chart(
                cc.channel_mix(by_channel),
                by_channel,
                "campaigns_mix",
                f"Campaigns from {start:%b %d, %Y} to {end:%b %d, %Y}" if start and end else None,
                engine.channel_mix_takeaway(by_channel),
            )
        with right:
            # without revenue there is no ROAS: the cost view instead (the note at the top says why, once)
            cost_view = [m for m in ("cpa", "cpc", "ctr") if m in available]
            if "roas" in available or not cost_view:
                ch_metric = "roas"
            else:
                if st.session_state.get("cmp_ch_metric") not in cost_view:
                    st.session_state["cmp_ch_metric"] = cost_view[0]
                ch_metric = (
                    st.segmented_control(
                        "Channel metric",
                        cost_view,
                        format_func=lambda m: cc.METRIC_FORMATS[m][0],
                        key="cmp_ch_metric",
                        help="CPA: spend / conversions. CPC: spend / clicks. CTR: clicks / impressions.",
                    )
                    or cost_view[0]
                )
            share.chart(
                cc.breakdown_bar(by_channel, "channel", ch_metric),
                by_channel,
                f"campaigns_ch_{ch_metric}",
                f"Campaigns from {start:%b %d, %Y} to {end:%b %d, %Y}" if start and end else None,
            )
        show_table(by_channel, revenue_columns(TABLE_COLUMNS[2:]), "channels", "channel_metrics.csv",
                   "Download channel table")  # fmt: skip

with tabs[3]:
    if tabs[3].open:
        dims = load_dimensions(version)
        if not dims:
            st.info(
                "The campaign file has no extra columns to break down by. Columns such as age band, gender, "
                "interest or ad set are kept automatically when you upload them.",
                icon=":material/info:",
            )
        else:
            c1, c2 = st.columns(2)
            if st.session_state.get("cmp_dim") not in dims:  # first visit, or kept from other data
                st.session_state["cmp_dim"] = load_default_breakdown(version) or dims[0]
            dim = c1.selectbox(
                "Break down by",
                dims,
                format_func=cc.words,
                key="cmp_dim",
                help="Opens on the first column that is no identifier and has a few values (age, gender, "
                "device ...).",
            )
            metric_choices = [
                m
                for m in ["roas", "roi", "cpa", "conversion_rate_click", "ctr", "cpc", "spend", "conversions"]
                if m not in engine.RATIO_NAMES or m in available
            ]
            if st.session_state.get("cmp_dim_metric") not in metric_choices:
                st.session_state["cmp_dim_metric"] = next(
                    m for m in [*engine.BREAKDOWN_METRIC_ORDER, "spend"] if m in metric_choices
                )
            bmetric = c2.selectbox(
                "Metric",
                metric_choices,
                format_func=lambda m: cc.METRIC_FORMATS[m][0],
                key="cmp_dim_metric",
                help="Metrics the file cannot give (ROAS without revenue, CTR without impressions) are not offered.",
            )
            breakdown = load_metrics(version, dim, filters, value)
            share.chart(
                cc.breakdown_bar(breakdown, dim, bmetric),
                breakdown,
                "campaigns_breakdown",
                f"Campaigns from {start:%b %d, %Y} to {end:%b %d, %Y}" if start and end else None,
            )
            show_table(
                breakdown,
                [dim] + revenue_columns(TABLE_COLUMNS[3:]),
                "breakdown",
                f"campaigns_by_{dim}.csv",
                f"Download {cc.words(dim).lower()} table",
            )

with tabs[4]:
    if tabs[4].open:
        funnel_by = (
            st.segmented_control("Funnel for", ["All", "Channel", "Campaign"], key="cmp_funnel_by") or "All"
        )
        by = {"All": None, "Channel": "channel", "Campaign": "campaign"}[funnel_by]
        funnel = load_funnel(version, by, filters)
        if by == "campaign":
            funnel = funnel.assign(group=funnel["group"].map(lambda c: labels.get(c, c)))
        share.chart(
            cc.funnel_chart(funnel),
            funnel,
            "campaigns_funnel",
            f"Campaigns from {start:%b %d, %Y} to {end:%b %d, %Y}" if start and end else None,
        )
        if "Orders" in set(funnel["step"]):
            st.caption(
                "Orders come from your order file (order lines that carry this campaign, or this channel when "
                "they name no campaign), so they can differ from the conversions the ad platform reports. "
                "Revenue on the orders step is net of returns."
            )
        show_table(
            funnel.rename(columns={"group": funnel_by}),
            ([] if by is None else [funnel_by])
            + ["step", "value", "step_conversion", "drop_off", "from_first", "revenue"],
            "funnel",
            "campaign_funnel.csv",
        )

with tabs[5]:
    if tabs[5].open:
        c1, c2 = st.columns(2)
        source = c1.radio(
            "Customers",
            ["orders", "experiments"],
            horizontal=True,
            key="cmp_resp_source",
            format_func=lambda s: {
                "orders": "Buyers through campaigns (orders)",
                "experiments": "Exposed customers (experiments)",
            }[s],
        )
        shown = c2.radio(
            "Colour by",
            ["response_rate", "revenue_per_customer"],
            horizontal=True,
            key="cmp_resp_value",
            format_func=lambda v: {
                "response_rate": "Response rate",
                "revenue_per_customer": "Revenue per customer",
            }[v],
        )
        try:
            with st.spinner("Joining customers to their segments ..."):
                # orders name campaigns, not channels: the channel filter becomes the campaigns it leaves
                in_view = tuple(metrics["campaign_id"]) if (channels or picked_campaigns) else None
                resp_filters = engine.CampaignFilter(start, end, None, in_view)
                response = load_response(version, source, resp_filters if source == "orders" else None)
        except engine.EngineError as error:
            components.show_error(error)
        else:
            if source == "orders":
                response = response.assign(campaign=response["campaign"].map(lambda c: labels.get(c, c)))
                st.caption(
                    "Orders record no exposures, so the base is every customer of the segment: the rate is the "
                    "share of the segment who bought through the campaign, revenue is per segment customer."
                )
            else:
                st.caption("Each experiment variant is a column; the base is the customers exposed to it.")
            share.chart(cc.segment_heatmap(response, shown), response, "campaigns_heat")
            show_table(response, list(response.columns), "response", f"segment_response_{source}.csv")
