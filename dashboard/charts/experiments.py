"""Experiment charts: conversion per variant, lift over control, and the sample size a next test needs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.campaigns import BAD, GOOD, NEUTRAL, _floats, empty_figure
from dashboard.charts.theme import PALETTE, PRIMARY, style


def variant_rates(variants: pd.DataFrame, confidence: float = 0.95) -> go.Figure:
    """Conversion rate per variant with its interval; the control's interval shaded across the chart."""
    data = _floats(variants, ["conversion_rate", "rate_ci_low", "rate_ci_high"])
    colors = [
        PALETTE[0] if c else PALETTE[1 + i % (len(PALETTE) - 1)] for i, c in enumerate(data["is_control"])
    ]
    fig = go.Figure(
        go.Scatter(
            x=data["variant"].astype(str),
            y=data["conversion_rate"],
            mode="markers",
            marker=dict(size=14, color=colors),
            error_y=dict(
                type="data",
                symmetric=False,
                array=data["rate_ci_high"] - data["conversion_rate"],
                arrayminus=data["conversion_rate"] - data["rate_ci_low"],
                thickness=2,
                width=10,
            ),
            customdata=np.stack([data["rate_ci_low"], data["rate_ci_high"], data["exposures"]], axis=1),
            hovertemplate="%{x}<br>%{y:.2%} (%{customdata[0]:.2%} to %{customdata[1]:.2%})"
            "<br>%{customdata[2]:,} customers<extra></extra>",
            showlegend=False,
        )
    )
    control = data[data["is_control"]]
    if not control.empty and pd.notna(control["rate_ci_low"].iloc[0]):
        fig.add_hrect(
            y0=control["rate_ci_low"].iloc[0],
            y1=control["rate_ci_high"].iloc[0],
            fillcolor=PALETTE[0],
            opacity=0.1,
            line_width=0,
        )
    fig.update_layout(
        yaxis=dict(title="Conversion rate", tickformat=".1%"), xaxis=dict(title=None, type="category")
    )
    return style(fig, f"Conversion rate with {confidence:.0%} interval", height=360)


def lift_chart(variants: pd.DataFrame, confidence_label: str = "95%") -> go.Figure:
    """Relative lift of each variant over control with its interval, and the no-change line."""
    data = _floats(variants[~variants["is_control"]], ["rel_lift", "rel_lift_ci_low", "rel_lift_ci_high"])
    data = data[data["rel_lift"].notna()]
    if data.empty:
        return empty_figure("Lift over control", "No lift to show: the control has no conversions")
    colors = np.where(data["rel_lift_ci_low"] > 0, GOOD, np.where(data["rel_lift_ci_high"] < 0, BAD, NEUTRAL))
    fig = go.Figure(
        go.Scatter(
            y=data["variant"].astype(str),
            x=data["rel_lift"],
            mode="markers",
            orientation="h",
            marker=dict(size=14, color=colors),
            error_x=dict(
                type="data",
                symmetric=False,
                array=data["rel_lift_ci_high"] - data["rel_lift"],
                arrayminus=data["rel_lift"] - data["rel_lift_ci_low"],
                thickness=2,
                width=10,
            ),
            customdata=np.stack([data["rel_lift_ci_low"], data["rel_lift_ci_high"]], axis=1),
            hovertemplate="%{y}<br>Lift %{x:+.1%}<br>Interval %{customdata[0]:+.1%} to %{customdata[1]:+.1%}"
            "<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=0, line_color="#6b7280", line_dash="dash", line_width=1)
    fig.update_layout(
        xaxis=dict(title=f"Relative lift vs control ({confidence_label} interval)", tickformat="+.0%"),
        yaxis=dict(title=None, type="category"),
    )
    return style(fig, "Lift over control", height=max(240, 70 * len(data) + 140))


def plan_curve(curve: pd.DataFrame, chosen_lift: float | None = None) -> go.Figure:
    """Customers needed per variant (log scale) against the relative lift to detect."""
    fig = go.Figure(
        go.Scatter(
            x=curve["relative_lift"],
            y=curve["per_variant"],
            mode="lines",
            line=dict(color=PRIMARY, width=2),
            hovertemplate="Lift %{x:+.0%}<br>%{y:,} customers per variant<extra></extra>",
            showlegend=False,
        )
    )
    if chosen_lift is not None:
        fig.add_vline(x=chosen_lift, line_color=GOOD, line_dash="dot")
    fig.update_layout(
        xaxis=dict(title="Relative lift to detect", tickformat="+.0%"),
        yaxis=dict(title="Customers per variant", type="log", dtick=1),
    )
    return style(fig, "Sample size needed", height=320)
