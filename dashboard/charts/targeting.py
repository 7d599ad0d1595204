"""Targeting charts: DataFrame -> plotly Figure for the gain and Qini curves, deciles, profit and profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.theme import PALETTE, PRIMARY, style
from engine.money import chart_symbol

RANDOM = "#9ca3af"
GOOD = "#1b9e77"
BAD = "#d95f02"
BAND = "rgba(76, 120, 168, 0.15)"


def gain_curve(
    curve: pd.DataFrame, extra: str = "extra outcomes", chosen_share: float | None = None
) -> go.Figure:
    """Extra outcomes gained by sending to the top share of the list (observed on held-out units), with its
    95% band, against sending to a random share of the same size."""
    data = curve.astype({"share": float})
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([data["share"], data["share"][::-1]]),
            y=np.concatenate([data["incremental_high"], data["incremental_low"][::-1]]),
            fill="toself",
            fillcolor=BAND,
            line=dict(width=0),
            hoverinfo="skip",
            name="95% band",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data["share"],
            y=data["incremental"],
            mode="lines",
            line=dict(color=PRIMARY, width=3),
            name="Top of the list by predicted uplift",
            customdata=np.stack([data["units"], data["incremental_low"], data["incremental_high"]], axis=1),
            hovertemplate="Top %{x:.0%} (%{customdata[0]:,} units): %{y:,.1f} "
            + extra
            + " (%{customdata[1]:,.1f} to %{customdata[2]:,.1f})<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data["share"],
            y=data["random"],
            mode="lines",
            line=dict(color=RANDOM, dash="dash", width=2),
            name="A random share",
            hovertemplate="Random %{x:.0%}: %{y:,.1f} " + extra + "<extra></extra>",
        )
    )
    if chosen_share is not None:
        fig.add_vline(x=chosen_share, line_color="#374151", line_width=1, line_dash="dot")
    fig.update_layout(
        xaxis=dict(title="Share of the list sent to", tickformat=".0%", range=[0, 1]),
        yaxis=dict(title=extra.capitalize(), rangemode="tozero"),
    )
    return style(fig, f"{extra.capitalize()} by how far down the list you send", height=400)


def qini_curve(curve: pd.DataFrame) -> go.Figure:
    """The Qini curve (treated outcomes minus control outcomes scaled to the treated count among the top of
    the list) against the random line: the area between them is the Qini coefficient."""
    data = curve.astype({"share": float})
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=data["share"],
            y=data["qini"],
            mode="lines",
            line=dict(color=PRIMARY, width=3),
            name="Model",
            fill=None,
            hovertemplate="Top %{x:.0%}: %{y:,.1f}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data["share"],
            y=data["qini_random"],
            mode="lines",
            line=dict(color=RANDOM, dash="dash", width=2),
            name="Random",
            fill="tonexty",
            fillcolor=BAND,
            hovertemplate="Random %{x:.0%}: %{y:,.1f}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis=dict(
            title="Share of the list (highest predicted uplift first)", tickformat=".0%", range=[0, 1]
        ),
        yaxis=dict(title="Incremental outcomes (Qini)"),
    )
    return style(fig, "Qini curve against random targeting", height=400)


def decile_bars(
    deciles: pd.DataFrame, average: float, outcome: str = "outcome", rate: bool = True
) -> go.Figure:
    """Observed uplift in each tenth of the list (1 = highest predicted uplift) with its 95% interval, and
    the test's average uplift: what every tenth would show if targeting were random."""
    data = deciles.astype({"uplift": float, "uplift_low": float, "uplift_high": float})
    colors = np.where(
        data["uplift_low"] > average, GOOD, np.where(data["uplift_high"] < average, BAD, PALETTE[0])
    )
    fmt = ".2%" if rate else ",.3f"
    fig = go.Figure(
        go.Bar(
            x=data["decile"].astype(int),
            y=data["uplift"],
            marker_color=colors,
            error_y=dict(
                type="data",
                symmetric=False,
                array=data["uplift_high"] - data["uplift"],
                arrayminus=data["uplift"] - data["uplift_low"],
                thickness=1.5,
                width=6,
                color="#374151",
            ),
            customdata=np.stack(
                [data["uplift_low"], data["uplift_high"], data["units"], data["vs_average"]], axis=1
            ),
            hovertemplate="Tenth %{x}: uplift %{y:"
            + fmt
            + "} (%{customdata[0]:"
            + fmt
            + "} to %{customdata[1]:"
            + fmt
            + "})<br>%{customdata[3]:.2f}x the average · %{customdata[2]:,} units<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_hline(
        y=average,
        line_color=RANDOM,
        line_dash="dash",
        annotation_text="average (random targeting)",
        annotation_position="top right",
    )
    fig.update_layout(
        xaxis=dict(title="Tenth of the list (1 = highest predicted uplift)", tickmode="linear", dtick=1),
        yaxis=dict(title=f"Observed uplift in {outcome}", tickformat=".1%" if rate else None),
        bargap=0.25,
    )
    return style(fig, "Observed uplift by tenth of the list", height=400)


def profit_chart(
    curve: pd.DataFrame, chosen_share: float, best_share: float, money: bool = True
) -> go.Figure:
    """Profit (value of the extra outcomes minus the cost of the sends) by share of the list sent to."""
    data = curve.astype({"share": float, "profit": float})
    fig = go.Figure(
        go.Scatter(
            x=data["share"],
            y=data["profit"],
            mode="lines",
            line=dict(color=PRIMARY, width=3),
            hovertemplate="Top %{x:.0%}: profit %{y:,.0f}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_hline(y=0, line_color=RANDOM, line_width=1)
    fig.add_vline(
        x=chosen_share,
        line_color="#374151",
        line_dash="dot",
        annotation_text="your choice",
        annotation_position="top right" if chosen_share < 0.25 else "top left",
    )
    fig.add_vline(
        x=best_share,
        line_color=GOOD,
        line_dash="dash",
        annotation_text="most profit",
        annotation_position="top left" if best_share > 0.75 else "top right",
    )
    fig.update_layout(
        xaxis=dict(title="Share of the list sent to", tickformat=".0%", range=[0, 1]),
        yaxis=dict(title="Expected profit", tickprefix=chart_symbol() if money else None),
    )
    return style(fig, "Expected profit by how far down the list you send", height=340)


def balance_chart(table: pd.DataFrame, limit: float = 0.1) -> go.Figure:
    """Standardised mean difference of each attribute between the arms, with the +-limit band."""
    data = table.dropna(subset=["smd"]).astype({"smd": float})
    data = data.iloc[data["smd"].abs().argsort()]
    colors = np.where(data["smd"].abs() > limit, BAD, PALETTE[0])
    labels = [f"{c} ({d})" if d != "mean" else c for c, d in zip(data["column"], data["detail"], strict=True)]
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=data["smd"],
            orientation="h",
            marker_color=colors,
            hovertemplate="%{y}: %{x:+.3f} standard deviations<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vrect(x0=-limit, x1=limit, fillcolor=GOOD, opacity=0.08, line_width=0)
    span = max(limit * 1.5, float(data["smd"].abs().max()) * 1.1 if len(data) else limit)
    fig.update_layout(
        xaxis=dict(title="Difference between arms (standard deviations)", range=[-span, span]),
        yaxis=dict(title=None, type="category"),
    )
    return style(fig, "Attribute balance between the arms", height=max(240, 28 * len(data) + 120))


def profile_chart(profiles: pd.DataFrame) -> go.Figure:
    """Each top attribute's mean or share by tenth of the list, scaled 0-1 across tenths so the attributes
    fit one heatmap; the cell text shows the real value."""
    if profiles.empty:
        fig = go.Figure()
        fig.add_annotation(
            text="No attributes to profile", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
        return style(fig, "What sets the top of the list apart", height=240)
    pivot = profiles.pivot(index="label", columns="decile", values="value")
    order = list(dict.fromkeys(profiles["label"]))
    pivot = pivot.loc[order]
    low = pivot.min(axis=1)
    span = (pivot.max(axis=1) - low).replace(0, 1)
    scaled = pivot.sub(low, axis=0).div(span, axis=0)
    text = [
        [f"{v:.0%}" if str(label).endswith("(share)") else f"{v:,.3g}" for v in pivot.loc[label]]
        for label in pivot.index
    ]
    fig = go.Figure(
        go.Heatmap(
            z=scaled.to_numpy(),
            x=[str(int(c)) for c in pivot.columns],
            y=list(pivot.index),
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
            hovertemplate="%{y}<br>tenth %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis=dict(title="Tenth of the list (1 = highest predicted uplift)", side="bottom"),
        yaxis=dict(title=None, autorange="reversed"),
    )
    return style(fig, "What sets the top of the list apart", height=max(260, 48 * len(pivot) + 130))


__all__ = ["gain_curve", "qini_curve", "decile_bars", "profit_chart", "balance_chart", "profile_chart"]
