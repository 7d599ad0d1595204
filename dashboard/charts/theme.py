"""The house look of every chart: segment colours, the palette and a registered plotly template.

The template ``"segmint"`` (plotly_white plus our fonts, margins, legend, colours and number formats) is
registered under its name here; ``use()`` makes it the default. The router calls ``use()`` once, and so does
every picture export, so the page, the PDF and the downloads draw the same figure.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

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
PALETTE = [
    "#4c78a8",
    "#f58518",
    "#54a24b",
    "#e45756",
    "#72b7b2",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
]
PRIMARY = "#4c78a8"
TEMPLATE_NAME = "segmint"
FONT_FAMILY = "Inter, 'Source Sans Pro', 'DejaVu Sans', Arial, sans-serif"


def _template() -> go.layout.Template:
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.update(
        colorway=PALETTE,
        font=dict(family=FONT_FAMILY, size=13, color="#1f2937"),
        title=dict(y=0.97, yanchor="top", font=dict(size=16)),
        margin=dict(l=10, r=10, t=80, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
        separators=".,",
        hoverlabel=dict(font_size=13),
    )
    template.layout.xaxis.update(separatethousands=True)
    template.layout.yaxis.update(separatethousands=True)
    return template


pio.templates[TEMPLATE_NAME] = _template()


def use() -> None:
    """Make the house template the default for new figures.

    A default costs nothing per figure; naming a template on each figure copies and validates it every time
    (about 7-13 ms a chart, most of a warm page run), so charts rely on the default instead.
    """
    if pio.templates.default != TEMPLATE_NAME:
        pio.templates.default = TEMPLATE_NAME


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
    """A figure's own title and height; the rest of the look comes from the template."""
    fig.update_layout(title=title, height=height, margin_t=80 if title else 30)
    return fig
