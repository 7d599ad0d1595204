"""Campaign charts (return, spend, trends, channels, funnels, segments) and the readable table style."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard.charts.literal import escape
from dashboard.charts.overview import mark_partial
from dashboard.charts.theme import PRIMARY, SEGMENT_COLORS, color_map, style
from engine.money import chart_symbol, hover_money, money_axis, money_text

GOOD = "#54a24b"
BAD = "#e45756"
NEUTRAL = "#bab0ac"

# How each metric is shown on an axis and in a hover label: (label, tick format, hover format).
METRIC_FORMATS: dict[str, tuple[str, str, str]] = {
    "spend": ("Spend", "$,.0f", "$,.0f"),
    "revenue": ("Revenue", "$,.0f", "$,.0f"),
    "revenue_minus_spend": ("Revenue - spend", "$,.0f", "$,.0f"),
    "impressions": ("Impressions", ",.0f", ",.0f"),
    "clicks": ("Clicks", ",.0f", ",.0f"),
    "conversions": ("Conversions", ",.0f", ",.0f"),
    "ctr": ("CTR", ".1%", ".2%"),
    "conversion_rate_click": ("Conversion rate per click", ".1%", ".2%"),
    "conversion_rate_impression": ("Conversion rate per impression", ".2%", ".3%"),
    "cpc": ("CPC", "$,.2f", "$,.2f"),
    "cpm": ("CPM", "$,.2f", "$,.2f"),
    "cpa": ("CPA", "$,.2f", "$,.2f"),
    "roas": ("ROAS", ".2f", ".2f"),
    "roi": ("ROI", ".0%", ".1%"),
}


def _metric_formats(metric: str) -> tuple[str, str, str, str]:
    """(label, tick format, hover format, prefix): a "$" in METRIC_FORMATS means money, written with the
    store's currency symbol as a prefix (d3's own "$" is always a dollar)."""
    label, tick, hover = METRIC_FORMATS.get(metric, (metric, ",.2f", ",.2f"))
    if "$" not in tick:
        return label, tick, hover, ""
    return label, tick.replace("$", ""), hover.replace("$", ""), chart_symbol()


def _floats(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Copy with nullable numbers as plain floats (NaN where missing) so plotly draws gaps, not errors."""
    out = frame.copy()
    for col in columns:
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    return out


def words(column: str) -> str:
    """A column name as a person writes it: ``age_band`` -> ``Age band``."""
    return str(column).replace("_", " ").strip().capitalize()


# Where a metric breaks even, drawn as a reference line on bar charts of it.
BREAK_EVEN: dict[str, float] = {"roas": 1.0, "roi": 0.0}


def _label(row: pd.Series) -> str:
    name, cid = str(row.get("campaign_name", "")), str(row.get("campaign_id", ""))
    return name if name == cid or not name else f"{name} ({cid})"


def empty_figure(title: str, message: str) -> go.Figure:
    """A blank chart that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        font=dict(size=14, color="#6b7280"),
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, title, height=260)


# --------------------------------------------------------------------------- campaigns


def cpa_bar(metrics: pd.DataFrame, limit: int = 30) -> go.Figure:
    """Cost per conversion per campaign as horizontal bars, cheapest on top: the ranking a file with spend
    and conversions but no revenue can give. Campaigns without spend or conversions are left out."""
    data = _floats(metrics, ["cpa", "spend", "conversions"])
    data = data[data["cpa"].notna()].sort_values(["cpa"], kind="mergesort")
    if data.empty:
        return empty_figure("Cost per conversion by campaign", "No campaign has both spend and conversions")
    if len(data) > limit:  # the cheapest and the dearest; the table has every campaign
        data = pd.concat([data.head(limit // 2), data.tail(limit - limit // 2)])
    fig = go.Figure(
        go.Bar(
            x=data["cpa"],
            y=[_label(r) for _, r in data.iterrows()],
            orientation="h",
            marker_color=PRIMARY,
            customdata=np.stack([data["spend"], data["conversions"]], axis=1),
            hovertemplate=f"%{{y}}<br>CPA {hover_money('x', ',.2f')}<br>Spend {hover_money('customdata[0]')}"
            "<br>Conversions %{customdata[1]:,.0f}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis=dict(title="Cost per conversion (CPA) = spend / conversions", **money_axis(",.2f")),
        yaxis=dict(title=None, automargin=True, autorange="reversed"),
    )
    return style(fig, "Cost per conversion by campaign", height=max(320, 26 * len(data) + 110))


def roi_bar(metrics: pd.DataFrame, limit: int = 30) -> go.Figure:
    """ROI per campaign as horizontal bars, green above break-even and red below; n/a campaigns left out."""
    data = _floats(metrics, ["roi", "spend", "revenue"])
    data = data[data["roi"].notna()].sort_values("roi", kind="mergesort")
    if data.empty:
        return empty_figure("ROI by campaign", "No campaign has both spend and revenue")
    if len(data) > limit:  # the extremes tell the story; the table has every campaign
        data = pd.concat([data.head(limit // 2), data.tail(limit - limit // 2)])
    labels = [_label(r) for _, r in data.iterrows()]
    fig = go.Figure(
        go.Bar(
            x=data["roi"],
            y=labels,
            orientation="h",
            marker_color=np.where(data["roi"] >= 0, GOOD, BAD),
            customdata=np.stack([data["spend"], data["revenue"]], axis=1),
            hovertemplate=f"%{{y}}<br>ROI %{{x:.1%}}<br>Spend {hover_money('customdata[0]')}<br>"
            f"Revenue {hover_money('customdata[1]')}<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_color="#6b7280", line_width=1)
    fig.update_layout(
        xaxis=dict(title="ROI = (revenue - spend) / spend", tickformat=".0%"),
        yaxis=dict(title=None, automargin=True),
    )
    return style(fig, "ROI by campaign", height=max(320, 26 * len(data) + 110))


def spend_revenue_bubble(metrics: pd.DataFrame) -> go.Figure:
    """Spend (x) against revenue (y) per campaign, bubbles sized by conversions and coloured by channel,
    with the break-even line revenue = spend."""
    data = _floats(metrics, ["spend", "revenue", "conversions", "roi"])
    data = data[data["spend"].notna() & data["revenue"].notna()]
    if data.empty:
        return empty_figure("Spend vs revenue", "No campaign has both spend and revenue")
    colors = color_map(data["channel"])
    fig = go.Figure()
    size_ref = 2.0 * max(float(data["conversions"].fillna(0).max()), 1.0) / (45.0**2)
    for channel in sorted(data["channel"].unique()):
        part = data[data["channel"] == channel]
        fig.add_scatter(
            x=part["spend"],
            y=part["revenue"],
            mode="markers",
            name=str(channel),
            text=[_label(r) for _, r in part.iterrows()],
            marker=dict(
                size=part["conversions"].fillna(0).clip(lower=0),
                sizemode="area",
                sizeref=size_ref,
                sizemin=5,
                color=colors[str(channel)],
                line=dict(width=1, color="white"),
                opacity=0.85,
            ),
            customdata=np.stack([part["conversions"].fillna(0), part["roi"]], axis=1),
            hovertemplate=f"%{{text}}<br>Spend {hover_money('x')}<br>Revenue {hover_money('y')}<br>"
            "Conversions %{customdata[0]:,.0f}<br>ROI %{customdata[1]:.1%}<extra></extra>",
        )
    top = float(max(data["spend"].max(), data["revenue"].max()) * 1.05)
    fig.add_scatter(
        x=[0, top],
        y=[0, top],
        mode="lines",
        name="Break-even (revenue = spend)",
        line=dict(color="#6b7280", dash="dash", width=1),
        hoverinfo="skip",
    )
    fig.update_layout(
        xaxis=dict(title="Spend", tickprefix=chart_symbol(), separatethousands=True, rangemode="tozero"),
        yaxis=dict(title="Revenue", tickprefix=chart_symbol(), separatethousands=True, rangemode="tozero"),
    )
    style(fig, "Spend vs revenue (bubble size: conversions)", height=440)
    # legend under the plot: beside it, it squeezed the chart to a sliver in a half-width column
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, x=0, xanchor="left"))
    pad = float(data["spend"].max()) * 0.04
    fig.update_xaxes(range=[-pad, float(data["spend"].max()) * 1.08 + pad])
    return fig


def trend_chart(
    trend: pd.DataFrame, metric: str = "spend", by: str | None = None, partial=(), grain: str = "week"
) -> go.Figure:
    """One metric over time, one line per group when ``by`` is set (periods where it is missing are gaps);
    partial periods shaded."""
    label, tick, hover, prefix = _metric_formats(metric)
    if trend.empty:
        return empty_figure(f"{label} over time", "No dated campaign rows in this selection")
    data = _floats(trend, [metric])
    fig = go.Figure()
    if by:
        colors = color_map(data[by].astype(str))
        for group in sorted(data[by].astype(str).unique()):
            part = data[data[by].astype(str) == group]
            fig.add_scatter(
                x=part["period"],
                y=part[metric],
                mode="lines+markers",
                name=group,
                line=dict(color=colors[group], width=2),
                marker=dict(size=4),
                hovertemplate=f"%{{x|%b %d, %Y}}<br>{escape(group)}: {prefix}%{{y:{hover}}}<extra></extra>",
            )
    else:
        fig.add_scatter(
            x=data["period"],
            y=data[metric],
            mode="lines+markers",
            name=label,
            line=dict(color=PRIMARY, width=2),
            marker=dict(size=4),
            hovertemplate=f"%{{x|%b %d, %Y}}<br>{prefix}%{{y:{hover}}}<extra></extra>",
        )
    fig.update_layout(
        yaxis=dict(title=label, tickformat=tick, tickprefix=prefix, rangemode="tozero"),
        xaxis_title=None,
        hovermode="x unified",
    )
    mark_partial(fig, partial, grain)
    return style(fig, f"{label} over time")


def channel_mix(channels: pd.DataFrame) -> go.Figure:
    """Share of spend, revenue and conversions per channel as 100% stacked bars (a measure the file does not
    have at all is left out)."""
    data = _floats(channels, ["spend", "revenue", "conversions"])
    if data.empty:
        return empty_figure("Channel mix", "No campaign rows in this selection")
    measures = [("Spend", "spend"), ("Revenue", "revenue"), ("Conversions", "conversions")]
    measures = [m for m in measures if data[m[1]].notna().any()]  # a file without revenue: no empty row
    colors = color_map(data["channel"])
    fig = go.Figure()
    for _, row in data.sort_values("channel").iterrows():
        shares, values = [], []
        for _, col in measures:
            total = data[col].sum()
            shares.append(row[col] / total if total and not pd.isna(row[col]) else None)
            values.append(row[col])
        fig.add_bar(
            y=[m for m, _ in measures],
            x=shares,
            name=str(row["channel"]),
            orientation="h",
            marker_color=colors[str(row["channel"])],
            customdata=values,
            hovertemplate=f"{escape(row['channel'])}<br>%{{y}}: %{{x:.1%}} (%{{customdata:,.0f}})<extra></extra>",
        )
    fig.update_layout(
        barmode="stack",
        xaxis=dict(tickformat=".0%", range=[0, 1], title="Share of total"),
        yaxis=dict(autorange="reversed"),
    )
    return style(fig, "Channel mix", height=320)


def breakdown_bar(frame: pd.DataFrame, dimension: str, metric: str = "roas") -> go.Figure:
    """One metric per value of a campaign dimension (age band, device ...); n/a values left out."""
    label, tick, hover, prefix = _metric_formats(metric)
    name = words(dimension)
    title = f"{label} by {name.lower()}"
    data = _floats(frame, [metric, "spend"])
    data = data[data[metric].notna()]
    if data.empty:
        return empty_figure(title, f"The file has no {label} for any {name.lower()}")
    values = data[dimension].astype(str)
    if dimension == "channel":  # the same colour per channel as on the mix and bubble charts
        colours = color_map(values)
        marker = [colours[v] for v in values]
    else:
        marker = PRIMARY
    fig = go.Figure(
        go.Bar(
            x=values,
            y=data[metric],
            marker_color=marker,
            customdata=data["spend"],
            hovertemplate=f"%{{x}}<br>{label} {prefix}%{{y:{hover}}}<br>Spend {hover_money('customdata')}"
            "<extra></extra>",
        )
    )
    if metric in BREAK_EVEN:
        fig.add_hline(
            y=BREAK_EVEN[metric],
            line_color="#6b7280",
            line_dash="dash",
            line_width=1,
            annotation_text="break-even",
            annotation_position="right",  # beside the plot, never on top of a bar
            annotation_xanchor="left",
            annotation_font_color="#374151",
        )
    if metric == "roas":
        tick = ".1f"
    fig.update_layout(
        yaxis=dict(title=label, tickformat=tick, tickprefix=prefix), xaxis=dict(title=name, type="category")
    )
    style(fig, title, height=340)
    if metric in BREAK_EVEN:
        fig.update_layout(margin=dict(r=80))  # room for the break-even label beside the plot
    return fig


def funnel_chart(funnel: pd.DataFrame) -> go.Figure:
    """Impressions -> clicks -> conversions (-> orders) per group, with the share kept at each step.

    The steps shrink by orders of magnitude, so the bars use a log axis and the labels give exact values.
    """
    if funnel.empty:
        return empty_figure("Funnel", "No campaign rows in this selection")
    data = _floats(funnel, ["value", "step_conversion", "from_first"])
    groups = list(dict.fromkeys(data["group"]))
    colors = color_map(groups) if len(groups) > 1 else {groups[0]: PRIMARY}
    fig = go.Figure()
    for group in groups:
        part = data[data["group"] == group]
        text = [
            f"{v:,.0f}" + ("" if pd.isna(c) else f" ({pct_text(c, 1)} of previous)")
            for v, c in zip(part["value"].fillna(0), part["step_conversion"], strict=True)
        ]
        fig.add_bar(
            x=part["step"],
            y=part["value"].where(part["value"] > 0),
            name=str(group),
            marker_color=colors[str(group)],
            text=text if len(groups) <= 3 else None,
            textposition="outside",
            cliponaxis=False,
            customdata=np.stack([part["step_conversion"], part["from_first"]], axis=1),
            hovertemplate=f"{escape(group)}<br>%{{x}}: %{{y:,.0f}}<br>of previous step: %{{customdata[0]:.2%}}"
            f"<br>of impressions: %{{customdata[1]:.3%}}<extra></extra>",
        )
    fig.update_layout(
        barmode="group",
        yaxis=dict(type="log", dtick=1, title="Count (log scale)"),
        xaxis_title=None,
        showlegend=len(groups) > 1,
    )
    return style(fig, "Funnel", height=400)


def segment_heatmap(response: pd.DataFrame, value: str = "response_rate") -> go.Figure:
    """Segments (rows) by campaign (columns) coloured by response rate or revenue per customer."""
    title = {
        "response_rate": "Response rate by segment and campaign",
        "revenue_per_customer": "Revenue per customer by segment and campaign",
    }.get(value, value)
    if response.empty:
        return empty_figure(title, "No customers to show")
    data = _floats(response, [value])
    pivot = data.pivot(index="segment", columns="campaign", values=value)
    # segments top to bottom from best to lost (the order of every other segment view), others after
    rank = {s: i for i, s in enumerate(SEGMENT_COLORS)}
    rows = sorted(pivot.index, key=lambda s: (rank.get(str(s), len(rank)), str(s)))
    pivot = pivot.reindex(rows)
    base = data.drop_duplicates("segment").set_index("segment")["base_customers"]
    rate = value == "response_rate"
    fmt, prefix = (".1%", "") if rate else (",.2f", chart_symbol())
    fig = px.imshow(
        pivot.values,
        x=[str(c) for c in pivot.columns],
        y=[f"{s} ({int(base.get(s, 0)):,})" if base.index.is_unique else str(s) for s in pivot.index],
        color_continuous_scale="Blues",
        aspect="auto",
    )
    text = pivot.map(lambda v: "" if pd.isna(v) else (f"{v:.1%}" if rate else chart_symbol() + f"{v:,.0f}"))
    if pivot.size <= 200:
        fig.update_traces(text=text.values, texttemplate="%{text}")
    fig.update_traces(hovertemplate=f"%{{y}}<br>%{{x}}<br>{prefix}%{{z:{fmt}}}<extra></extra>")
    fig.update_layout(
        xaxis=dict(title=None, type="category"),
        yaxis_title=None,
        coloraxis_colorbar=dict(title=None, tickformat=".0%" if rate else ",.0f", tickprefix=prefix),
    )
    return style(fig, title, height=max(360, 30 * len(pivot.index) + 140))


# --------------------------------------------------------------------------- tables

COLUMN_KINDS: dict[str, str] = {
    "spend": "money",
    "revenue": "money",
    "reported_revenue": "money",
    "assumed_revenue": "money",
    "revenue_minus_spend": "money",
    "cpc": "money2",
    "cpm": "money2",
    "cpa": "money2",
    "impressions": "count",
    "clicks": "count",
    "conversions": "count",
    "rows": "count",
    "rows_without_revenue": "count",
    "value": "count",
    "orders": "count",
    "ctr": "pct2",
    "conversion_rate_click": "pct2",
    "conversion_rate_impression": "pct3",
    "roi": "pct1",
    "roas": "ratio",
    "step_conversion": "pct2",
    "drop_off": "pct2",
    "from_first": "pct3",
    "response_rate": "pct1",
    "revenue_per_customer": "money2",
    "base_customers": "count",
    "responders": "count",
    "exposures": "count",
    "customers": "count",
    "conversion_rate": "pct2",
    "rate_ci_low": "pct2",
    "rate_ci_high": "pct2",
    "abs_lift": "pts",
    "abs_lift_ci_low": "pts",
    "abs_lift_ci_high": "pts",
    "rel_lift": "spct",
    "rel_lift_ci_low": "spct",
    "rel_lift_ci_high": "spct",
    "p_value": "p",
    "p_value_adjusted": "p",
    "prob_beat_control": "pct1",
    "revenue_per_exposed": "money2",
    "revenue_sd": "money2",
    "revenue_diff": "money2",
    "revenue_diff_ci_low": "money2",
    "revenue_diff_ci_high": "money2",
    "revenue_p_value": "p",
    "revenue_p_value_adjusted": "p",
    "intended_share": "pct1",
    "observed_share": "pct1",
    "control_rate": "pct2",
    "best_rate": "pct2",
    "srm_p_value": "p",
    "z_statistic": "ratio",
    "expected": "count",
}


def pct_text(value: float, digits: int = 1) -> str:
    """A share as a percentage with at least two significant digits: ad click-through rates are often
    below 0.1%, and "0.02%" for every campaign (or "0.0% of previous" in the funnel) hides 0.018% vs 0.024%.
    Adds at most four decimals; zero stays "0.0%"."""
    shown = digits
    if value and np.isfinite(value):
        shown = min(digits + 4, max(digits, 1 - int(np.floor(np.log10(abs(value) * 100)))))
    return f"{value * 100:.{shown}f}%"


def _money(digits: int):
    def fmt(v: float) -> str:
        return money_text(v, digits)

    return fmt


_FORMATTERS = {
    "money": _money(0),
    "money2": _money(2),
    "count": "{:,.0f}".format,
    "pct1": "{:.1%}".format,
    "pct2": lambda v: pct_text(v, 2),
    "pct3": lambda v: pct_text(v, 3),
    "spct": "{:+.1%}".format,
    "pts": lambda v: f"{v * 100:+.2f} pts",
    "ratio": "{:.2f}".format,
    "p": lambda v: "< 0.001" if v < 0.001 else f"{v:.3f}",
}


def styled_table(
    frame: pd.DataFrame, headers: dict[str, str] | None = None, kinds: dict[str, str] | None = None
):
    """A pandas Styler that shows money, rates and p-values readably and missing values as a dash, with
    columns renamed by ``headers``. Sorting in ``st.dataframe`` still uses the underlying numbers."""
    kinds = {**COLUMN_KINDS, **(kinds or {})}
    headers = {col: words(col) for col in frame.columns if isinstance(col, str)} | (headers or {})
    data = frame.copy()
    formats = {}
    for col in data.columns:
        if pd.api.types.is_datetime64_any_dtype(data[col]):
            # periods and days are dates: "2024-01-01", not "2024-01-01 00:00:00"
            stamps = data[col].dropna()
            if len(stamps) and (stamps == stamps.dt.normalize()).all():
                formats[headers.get(col, col)] = lambda v: "" if pd.isna(v) else f"{v:%Y-%m-%d}"
            continue
        kind = kinds.get(col)
        if kind and pd.api.types.is_numeric_dtype(data[col]):
            data[col] = pd.to_numeric(data[col], errors="coerce").astype("float64")
            formats[headers.get(col, col)] = _FORMATTERS[kind]
    data = data.rename(columns=headers)
    return data.style.format(formats, na_rep="—")
