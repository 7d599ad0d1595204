"""Segment, cluster, migration and persona charts: pure DataFrame -> plotly Figure functions.

Every chart colours groups with ``charts.color_map`` so a segment or cluster keeps one colour everywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.literal import escape
from dashboard.charts.theme import PRIMARY, color_map, style

# Above this many points the scatter switches to WebGL (as plotly express does).
WEBGL_THRESHOLD = 1000


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, title, height=260)


def segment_treemap(summary: pd.DataFrame, size: str = "customers") -> go.Figure:
    """Treemap of segments sized by ``customers`` or ``revenue``; hover shows both."""
    title = "Segments by " + ("customers" if size == "customers" else "revenue")
    data = summary[summary[size] > 0] if size in summary else summary.iloc[0:0]
    if data.empty:
        return _empty(title, "Nothing to show")
    colours = color_map(data["segment"])
    revenue_share = data["revenue_share"].fillna(0)
    # "0% of revenue" on a segment that did buy reads as nothing at all: small shares say "<1%"
    share_text = [_share_text(v) for v in revenue_share]
    fig = go.Figure(
        go.Treemap(
            labels=data["segment"],
            parents=[""] * len(data),
            values=data[size],
            marker=dict(colors=[colours[s] for s in data["segment"]]),
            customdata=np.column_stack(
                [
                    data["customers"],
                    data["customer_share"] * 100,
                    data["revenue"],
                    revenue_share * 100,
                ]
            ),
            text=share_text,
            texttemplate="<b>%{label}</b><br>%{customdata[0]:,} customers<br>%{text} of revenue",
            hovertemplate="<b>%{label}</b><br>%{customdata[0]:,} customers (%{customdata[1]:.1f}%)"
            "<br>$%{customdata[2]:,.0f} revenue (%{customdata[3]:.1f}%)<extra></extra>",
            sort=False,
        )
    )
    style(fig, title, height=420)
    fig.update_layout(margin=dict(t=40))
    return fig


def _share_text(share: float) -> str:
    if share <= 0:
        return "0%"
    return "<1%" if share < 0.01 else f"{share:.0%}"


def share_bars(summary: pd.DataFrame, label: str = "segment") -> go.Figure:
    """Share of customers next to share of revenue per group: where the value sits."""
    title = "Share of customers vs share of revenue"
    if summary.empty:
        return _empty(title, "Nothing to show")
    fig = go.Figure()
    fig.add_bar(
        y=summary[label],
        x=summary["customer_share"] * 100,
        name="Customers",
        orientation="h",
        marker_color="#bab0ac",
        hovertemplate="%{y}: %{x:.1f}% of customers<extra></extra>",
    )
    fig.add_bar(
        y=summary[label],
        x=summary["revenue_share"].fillna(0) * 100,
        name="Revenue",
        orientation="h",
        marker_color=PRIMARY,
        hovertemplate="%{y}: %{x:.1f}% of revenue<extra></extra>",
    )
    fig.update_layout(barmode="group", xaxis_title="% of total", yaxis=dict(autorange="reversed"))
    return style(fig, title, height=max(300, 28 * len(summary) + 120))


def score_heatmap(grid: pd.DataFrame, y: str = "f_score") -> go.Figure:
    """Customers per R score (rows, 5 = most recent at the top) by F (or M / FM) score (columns)."""
    axis = {"f_score": "Frequency score", "m_score": "Monetary score", "fm_score": "FM score"}.get(y, y)
    title = f"Recency by {axis.lower()}: customers per cell"
    if grid.empty or grid["customers"].sum() == 0:
        return _empty(title, "No buying customers")
    table = (
        grid.pivot(index="r_score", columns=y, values="customers")
        .reindex(index=[1, 2, 3, 4, 5], columns=[1, 2, 3, 4, 5])
        .fillna(0)
    )
    revenue = (
        grid.pivot(index="r_score", columns=y, values="revenue")
        .reindex(index=[1, 2, 3, 4, 5], columns=[1, 2, 3, 4, 5])
        .fillna(0)
    )
    fig = go.Figure(
        go.Heatmap(
            z=table.to_numpy(),
            x=[f"{axis[0]}{c}" for c in table.columns],
            y=[f"R{r}" for r in table.index],
            customdata=revenue.to_numpy(),
            colorscale="Blues",
            text=table.to_numpy().astype(int),
            texttemplate="%{text:,}",
            hovertemplate="%{y} %{x}: %{z:,} customers, $%{customdata:,.0f}<extra></extra>",
            colorbar=dict(title="Customers"),
        )
    )
    fig.update_xaxes(title=axis, side="bottom")
    fig.update_yaxes(title="Recency score (5 = most recent)")
    return style(fig, title, height=400)


def k_selection_chart(curve: pd.DataFrame, chosen: int) -> go.Figure:
    """Silhouette per k tried, the chosen k marked."""
    title = "How clearly the groups separate, by number of clusters"
    data = curve.dropna()
    if data.empty:
        return _empty(title, "Silhouette needs at least 3 customers and 2 clusters")
    fig = go.Figure()
    fig.add_scatter(
        x=data["k"],
        y=data["silhouette"],
        mode="lines+markers",
        name="Silhouette",
        line=dict(color=PRIMARY),
        hovertemplate="k = %{x}: %{y:.3f}<extra></extra>",
    )
    pick = data[data["k"] == chosen]
    if len(pick):
        fig.add_scatter(
            x=pick["k"],
            y=pick["silhouette"],
            mode="markers",
            name=f"Chosen k = {chosen}",
            marker=dict(size=14, color="#e45756", symbol="star"),
            hovertemplate="chosen k = %{x}: %{y:.3f}<extra></extra>",
        )
    fig.update_xaxes(title="Number of clusters (k)", dtick=1)
    fig.update_yaxes(title="Separation")  # the silhouette score; the page names it in help
    return style(fig, title, height=320)


def cluster_scatter(
    points: pd.DataFrame, color: str = "cluster_name", labels: list[str] | None = None
) -> go.Figure:
    """2-D projection of customers coloured by cluster (or segment); WebGL above ``WEBGL_THRESHOLD``."""
    title = "Customers on the two main axes of the clustering"
    if points.empty:
        return _empty(title, "No customers to show")
    order = labels or sorted(points[color].astype(str).unique())
    colours = color_map(order)
    trace = go.Scattergl if len(points) > WEBGL_THRESHOLD else go.Scatter
    fig = go.Figure()
    for label in order:
        part = points[points[color].astype(str) == label]
        if part.empty:
            continue
        fig.add_trace(
            trace(
                x=part["x"],
                y=part["y"],
                mode="markers",
                name=label,
                marker=dict(color=colours[label], size=5, opacity=0.7),
                customdata=np.column_stack(
                    [part["customer_id"], part["recency_days"], part["frequency"], part["monetary"]]
                ),
                hovertemplate="%{customdata[0]}<br>%{customdata[1]} days since last order<br>"
                "%{customdata[2]} orders, $%{customdata[3]:,.0f}<extra>" + escape(label) + "</extra>",
            )
        )
    # plain words on the axes; the caption under the chart names the method (principal components)
    fig.update_xaxes(title="Biggest difference between customers", zeroline=False)
    fig.update_yaxes(title="Next biggest difference", zeroline=False)
    style(fig, title, height=520)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.15, x=0))
    return fig


def migration_sankey(flows: pd.DataFrame, order: list[str], before_label: str, after_label: str) -> go.Figure:
    """Sankey of customers moving from segments at the earlier date (left) to the as-of date (right)."""
    title = f"Who moved where: {before_label} to {after_label}"
    if flows.empty:
        return _empty(title, "No customers at either date")
    present = set(flows["from_segment"]) | set(flows["to_segment"])
    names = [s for s in order if s in present] + sorted(present - set(order))
    colours = color_map(names)
    left = {s: i for i, s in enumerate(names)}
    right = {s: i + len(names) for i, s in enumerate(names)}
    link_colours = [_fade(colours[s]) for s in flows["from_segment"]]
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node=dict(
                label=names + names,
                color=[colours[s] for s in names] * 2,
                pad=12,
                thickness=14,
                hovertemplate="%{label}: %{value:,} customers<extra></extra>",
            ),
            link=dict(
                source=[left[s] for s in flows["from_segment"]],
                target=[right[s] for s in flows["to_segment"]],
                value=flows["customers"],
                color=link_colours,
                hovertemplate="%{source.label} → %{target.label}: %{value:,} customers<extra></extra>",
            ),
        )
    )
    style(fig, title, height=max(420, 26 * len(names) + 120))
    # say which side is which date: the node labels alone repeat the same segment names
    for x, text, anchor in ((0, before_label, "left"), (1, after_label, "right")):
        fig.add_annotation(
            x=x,
            y=1.0,
            xref="paper",
            yref="paper",
            yanchor="bottom",
            xanchor=anchor,
            text=f"<b>{escape(text)}</b>",
            showarrow=False,
            font=dict(size=13, color="#374151"),
        )
    return fig


def _fade(hex_colour: str, alpha: float = 0.35) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


__all__ = [
    "WEBGL_THRESHOLD",
    "segment_treemap",
    "share_bars",
    "score_heatmap",
    "k_selection_chart",
    "cluster_scatter",
    "migration_sankey",
]
