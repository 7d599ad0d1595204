"""Overview charts: revenue and orders over time, new vs returning customers, cohort retention."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard.charts.theme import PALETTE, PRIMARY, SEGMENT_COLORS, color_map, style  # noqa: F401
from engine.money import chart_symbol

# ---------------------------------------------------------------- overview


GRAIN_DAYS = {"day": 1, "week": 7, "month": 30.4, "quarter": 91.3}


def mark_partial(fig: go.Figure, partial, grain: str) -> go.Figure:
    """Shade each partial period (the data covers only part of it) and label it, on any time chart."""
    half = pd.Timedelta(days=GRAIN_DAYS.get(grain, 7) / 2)
    for period in partial:
        at = pd.Timestamp(period)
        fig.add_vrect(
            x0=at - half,
            x1=at + half,
            fillcolor="#9e9e9e",
            opacity=0.15,
            line_width=0,
            annotation_text="partial",
            annotation_position="top left",
            annotation_font_size=11,
        )
    return fig


def partial_caption(partial, grain: str) -> str:
    """One line under a time chart that has partial periods."""
    names = ", ".join(pd.Timestamp(p).strftime("%b %d, %Y") for p in partial)
    return (
        f"Shaded {grain}s are partial (the data or the chosen dates cover only part of them), so their "
        f"totals are lower than a full {grain}'s: the {grain} starting {names}."
    )


def revenue_trend(frame: pd.DataFrame, grain: str = "month", partial=()) -> go.Figure:
    """Net revenue as bars with orders as a line on a second axis; partial periods shaded and faded."""
    fig = go.Figure()
    faded = {pd.Timestamp(p) for p in partial}
    fig.add_bar(
        x=frame["period"],
        y=frame["revenue"],
        name="Net revenue",
        marker_color=PRIMARY,
        marker_opacity=[0.45 if pd.Timestamp(p) in faded else 1.0 for p in frame["period"]],
        hovertemplate="%{x|%b %d, %Y}<br>" + chart_symbol() + "%{y:,.0f}<extra>Revenue</extra>",
    )
    fig.add_scatter(
        x=frame["period"],
        y=frame["orders"],
        name="Orders",
        yaxis="y2",
        mode="lines+markers",
        line=dict(color="#f58518", width=2),
        hovertemplate="%{x|%b %d, %Y}<br>%{y:,} orders<extra></extra>",
    )
    fig.update_layout(
        yaxis=dict(title="Revenue", tickprefix=chart_symbol(), separatethousands=True),
        yaxis2=dict(
            title="Orders",
            overlaying="y",
            side="right",
            showgrid=False,
            rangemode="tozero",
            tickmode="auto",
            tickformat=",d",
        ),
    )
    fig.update_yaxes(rangemode="tozero", selector=dict(title_text="Revenue"))
    mark_partial(fig, partial, grain)
    return style(fig, f"Revenue and orders per {grain}")


def new_vs_returning_chart(frame: pd.DataFrame, grain: str = "month", partial=()) -> go.Figure:
    """Stacked bars of new and returning buying customers per period; partial periods shaded."""
    fig = go.Figure()
    fig.add_bar(x=frame["period"], y=frame["returning_customers"], name="Returning", marker_color=PRIMARY)
    fig.add_bar(x=frame["period"], y=frame["new_customers"], name="New", marker_color="#54a24b")
    fig.update_layout(barmode="stack", yaxis_title="Buying customers")
    mark_partial(fig, partial, grain)
    return style(fig, "New vs returning customers")


def cohort_heatmap(frame: pd.DataFrame) -> go.Figure:
    """Retention by acquisition month (rows) and months since first order (columns)."""
    if frame.empty:
        return style(go.Figure(), "Cohort retention")
    pivot = frame.pivot(index="cohort", columns="months_since", values="retention").sort_index()
    sizes = frame.drop_duplicates("cohort").set_index("cohort")["customers"].reindex(pivot.index)
    labels = [f"{c:%b %Y} ({n:,})" for c, n in zip(pivot.index, sizes, strict=True)]
    text = pivot.map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    fig = px.imshow(
        pivot.values,
        x=[str(c) for c in pivot.columns],
        y=labels,
        color_continuous_scale="Blues",
        zmin=0,
        zmax=max(0.05, float(pivot.iloc[:, 1:].max().max() if pivot.shape[1] > 1 else 1)),
        aspect="auto",
    )
    if len(labels) <= 12:
        fig.update_traces(text=text.values, texttemplate="%{text}")
    fig.update_traces(hovertemplate=("Cohort %{y}<br>Month %{x}<br>Retention %{z:.1%}<extra></extra>"))
    fig.update_layout(
        xaxis_title="Months since first order",
        yaxis_title="First-order month (customers)",
        coloraxis_colorbar=dict(title="Retention", tickformat=".0%"),
    )
    return style(fig, "Monthly cohort retention", height=max(380, 22 * len(labels) + 120))
