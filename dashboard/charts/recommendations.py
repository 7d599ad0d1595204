"""Charts of the Recommendations page: pure functions DataFrame -> plotly Figure."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts.literal import escape
from dashboard.charts.theme import PALETTE, PRIMARY, style

GREY = "#bab0ac"

#: Ranking metrics shown side by side, in plain words.
RANKING_LABELS: dict[str, str] = {
    "recall": "Recall",
    "hit_rate": "Hit rate",
    "ndcg": "NDCG",
    "precision": "Precision",
}
RANKING_HELP: dict[str, str] = {
    "recall": "share of each customer's liked products found",
    "hit_rate": "customers with at least one liked product in the list",
    "ndcg": "found products near the top count more",
    "precision": "share of the list the customer liked",
}


def hits_chart(metrics: pd.DataFrame, k: int, highlight: str | None = None) -> go.Figure:
    """Held-out liked products each model found in its top ``k``: one bar per model, the shipped one
    (``highlight``, default the first row) in the primary colour.

    ``metrics``: the ``Evaluation.metrics`` frame (model, label, hits, relevant).
    """
    highlight = highlight if highlight is not None else (metrics["model"].iloc[0] if len(metrics) else None)
    frame = metrics.sort_values("hits", ascending=True, kind="stable")
    colours = [PRIMARY if m == highlight else GREY for m in frame["model"]]
    total = int(frame["relevant"].max()) if len(frame) else 0
    fig = go.Figure(
        go.Bar(
            x=frame["hits"],
            y=frame["label"],
            orientation="h",
            marker_color=colours,
            text=[f"{int(h):,}" for h in frame["hits"]],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:,} found<extra></extra>",
        )
    )
    fig.update_xaxes(title=f"Found in the top {k} (of {total:,} held out)")
    return style(fig, f"What each approach finds in its top {k}", height=320)


def ranking_chart(metrics: pd.DataFrame, highlight: str | None = None) -> go.Figure:
    """Recall, hit rate, NDCG and precision per model as grouped bars (0-100%); ``highlight`` (default the
    first row) in the primary colour."""
    highlight = highlight if highlight is not None else (metrics["model"].iloc[0] if len(metrics) else None)
    fig = go.Figure()
    for n, row in enumerate(metrics.itertuples()):
        colour = PRIMARY if row.model == highlight else PALETTE[(n + 1) % len(PALETTE)]
        fig.add_bar(
            name=row.label,
            x=list(RANKING_LABELS.values()),
            y=[getattr(row, m) for m in RANKING_LABELS],
            customdata=list(RANKING_HELP.values()),
            marker_color=colour,
            hovertemplate="%{x} (%{customdata}): %{y:.1%}<extra>" + escape(row.label) + "</extra>",
        )
    fig.update_yaxes(tickformat=".0%")
    style(fig, "Ranking quality by model", height=380)
    fig.update_layout(barmode="group", legend=dict(orientation="h", yanchor="top", y=-0.12, x=0))
    return fig


def similarity_chart(frame: pd.DataFrame) -> go.Figure:
    """Neighbours of one product by similarity (``similar_products`` output: name or product_id, similarity)."""
    data = frame.iloc[::-1]
    labels = data["name"].fillna(data["product_id"]) if "name" in data else data["product_id"]
    fig = go.Figure(
        go.Bar(
            x=data["similarity"],
            y=labels,
            orientation="h",
            marker_color=PRIMARY,
            hovertemplate="%{y}: similarity %{x:.2f}<extra></extra>",
        )
    )
    low = float(data["similarity"].min()) if len(data) else 0.0
    fig.update_xaxes(title="Similarity (1 = liked by the same customers)", range=[min(0.0, low - 0.05), 1.0])
    return style(fig, "Most similar products", height=max(260, 28 * len(frame) + 90))


def category_mix_chart(history: pd.DataFrame, recommended: pd.DataFrame) -> go.Figure:
    """Products per category in a customer's history and in their recommendations, side by side."""
    parts = []
    for label, frame in (("History", history), ("Recommended", recommended)):
        counts = frame["category"].fillna("(no category)").value_counts()
        parts.append(pd.DataFrame({"category": counts.index, "products": counts.to_numpy(), "list": label}))
    data = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["category", "products", "list"])
    )
    order = sorted(data["category"].unique(), key=str)
    fig = go.Figure()
    for label, colour in (("History", GREY), ("Recommended", PRIMARY)):
        counts = data[data["list"] == label].set_index("category")["products"].reindex(order, fill_value=0)
        fig.add_bar(name=label, x=order, y=counts.to_numpy(), marker_color=colour)
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="Products")
    return style(fig, "Categories: what they chose vs what we suggest", height=320)


__all__ = [
    "RANKING_LABELS",
    "RANKING_HELP",
    "hits_chart",
    "ranking_chart",
    "similarity_chart",
    "category_mix_chart",
]
