"""Pure chart functions: DataFrame -> plotly Figure. One colour per segment, the same on every chart."""

from __future__ import annotations

import plotly.graph_objects as go

# Colours of the named RFM segments; clusters and other groups take PALETTE in order.
SEGMENT_COLORS: dict[str, str] = {
    "Champions": "#1b9e77",
    "Loyal": "#33a02c",
    "Potential Loyalists": "#66c2a5",
    "New Customers": "#a6d854",
    "Promising": "#8dd3c7",
    "Need Attention": "#ffd92f",
    "About to Sleep": "#fdb462",
    "At Risk": "#fc8d62",
    "Cannot Lose Them": "#e41a1c",
    "Hibernating": "#b3b3b3",
    "Lost": "#737373",
    "No purchases": "#d9d9d9",
}
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6",
           "#9d755d", "#bab0ac"]
PRIMARY = "#4c78a8"


def color_map(labels) -> dict[str, str]:
    """Colour per label: named RFM segments keep their fixed colour, others take PALETTE in sorted order."""
    out: dict[str, str] = {}
    others = sorted({str(x) for x in labels} - SEGMENT_COLORS.keys())
    for label in labels:
        label = str(label)
        if label in SEGMENT_COLORS:
            out[label] = SEGMENT_COLORS[label]
        else:
            out[label] = PALETTE[others.index(label) % len(PALETTE)]
    return out


def style(fig: go.Figure, title: str | None = None, height: int = 380) -> go.Figure:
    """House style: compact margins, readable fonts, legend on top."""
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        font=dict(size=13),
        template="plotly_white",
    )
    return fig
