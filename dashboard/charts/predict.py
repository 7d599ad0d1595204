"""Predict charts: DataFrame -> plotly Figure for the tracking chart, CLV spread, risk bands and the check by
number of past purchases."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.theme import PRIMARY, style
from engine.money import chart_symbol

ACTUAL = "#374151"
PREDICTED = PRIMARY
BAND_COLORS = {"Likely active": "#1b9e77", "At risk": "#fdb462", "Probably lost": "#e41a1c"}


def tracking_chart(tracking: pd.DataFrame, calibration_end: dt.date, cumulative: bool = False) -> go.Figure:
    """Repeat purchases per week, actual against predicted (the tracking chart of Fader, Hardie & Lee 2005),
    with the calibration date marked: left of it the model saw the orders, right of it it did not."""
    actual, predicted = (
        ("actual_cumulative", "predicted_cumulative") if cumulative else ("actual", "predicted")
    )
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=tracking["week_start"],
            y=tracking[actual],
            mode="lines",
            line=dict(color=ACTUAL, width=2),
            name="Actual",
            hovertemplate="Week of %{x|%Y-%m-%d}: %{y:,.0f} repeat purchases<extra>Actual</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=tracking["week_start"],
            y=tracking[predicted],
            mode="lines",
            line=dict(color=PREDICTED, width=3, dash="dash"),
            name="Predicted",
            hovertemplate="Week of %{x|%Y-%m-%d}: %{y:,.1f} expected<extra>Predicted</extra>",
        )
    )
    fig.add_vline(x=pd.Timestamp(calibration_end).timestamp() * 1000, line_color="#9ca3af", line_dash="dot")
    fig.add_annotation(
        x=pd.Timestamp(calibration_end),
        y=1,
        yref="paper",
        text="model fitted up to here",
        showarrow=False,
        xanchor="right",
        yanchor="bottom",
        font=dict(size=11, color="#6b7280"),
    )
    title = "Repeat purchases so far" if cumulative else "Repeat purchases per week"
    fig.update_layout(xaxis_title=None, yaxis=dict(title=title, rangemode="tozero"))
    return style(fig, f"{title}: predicted against what happened", height=400)


def by_purchases_chart(by_purchases: pd.DataFrame) -> go.Figure:
    """Mean purchases after the calibration date by number of repeat purchases before it."""
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=by_purchases["calibration_purchases"],
            y=by_purchases["actual"],
            name="Actual",
            marker_color=ACTUAL,
            customdata=by_purchases["customers"],
            hovertemplate="%{x} repeat purchases before (%{customdata:,} customers): %{y:.2f} after"
            "<extra>Actual</extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=by_purchases["calibration_purchases"],
            y=by_purchases["predicted"],
            name="Predicted",
            marker_color=PREDICTED,
            hovertemplate="%{x} repeat purchases before: %{y:.2f} expected<extra>Predicted</extra>",
        )
    )
    fig.update_layout(
        barmode="group",
        xaxis=dict(title="Repeat purchases before the calibration date", type="category"),
        yaxis=dict(title="Purchases per customer after"),
    )
    return style(fig, "Purchases after the calibration date, by purchases before", height=360)


def clv_histogram(scores: pd.DataFrame, horizon_days: int) -> go.Figure:
    """How predicted value spreads over customers; the top 1% are gathered in the last bar so the bulk is
    readable."""
    values = scores["clv"].to_numpy(float)
    cap = float(np.quantile(values, 0.99)) if len(values) else 0.0
    shown = np.minimum(values, cap)
    fig = go.Figure(
        go.Histogram(
            x=shown,
            nbinsx=40,
            marker_color=PRIMARY,
            hovertemplate="CLV %{x}: %{y:,} customers<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis=dict(
            title=f"Predicted value over the next {horizon_days} days ({chart_symbol().strip()}; top 1% in the last bar)"
        ),
        yaxis=dict(title="Customers"),
        bargap=0.05,
    )
    return style(fig, "Predicted customer value (CLV)", height=360)


def risk_band_chart(bands: pd.DataFrame) -> go.Figure:
    """Customers and predicted value per risk band (``band, customers, clv``)."""
    colors = [BAND_COLORS.get(b, PRIMARY) for b in bands["band"]]
    fig = go.Figure(
        go.Bar(
            x=bands["band"],
            y=bands["customers"],
            marker_color=colors,
            customdata=bands["clv"],
            text=[f"{c:,}" for c in bands["customers"]],
            textposition="outside",
            hovertemplate="%{x}: %{y:,} customers, predicted value "
            + chart_symbol()
            + "%{customdata:,.0f}<extra></extra>",
        )
    )
    fig.update_layout(xaxis_title=None, yaxis=dict(title="Customers", rangemode="tozero"), showlegend=False)
    return style(fig, "Customers by churn risk", height=360)


__all__ = ["tracking_chart", "by_purchases_chart", "clv_histogram", "risk_band_chart", "BAND_COLORS"]
