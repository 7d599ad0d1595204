"""One registry of the main charts: a key names the function that draws it and its takeaway, so a page, the
presentation mode, the PDF report and the picture downloads all draw the same figure from the same frame.

Pictures (PNG, SVG) are rendered with kaleido only when asked for: a page stays as fast as before, and the
first picture of a process waits about 2-4 s for the headless browser to start.
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

import engine
from dashboard.charts import campaigns, experiments, overview, segments, theme
from dashboard.charts.literal import escape, literal_figure


@dataclass(frozen=True)
class ChartSpec:
    """A registered chart: ``draw(frame) -> Figure`` and ``takeaway(frame) -> sentence``."""

    key: str
    draw: Callable[[pd.DataFrame], go.Figure]
    takeaway: Callable[[pd.DataFrame], str]


def _partial(frame: pd.DataFrame) -> list:
    if "partial" not in frame:
        return []
    return [p for p, flag in zip(frame["period"], frame["partial"], strict=True) if flag]


CHARTS: dict[str, ChartSpec] = {
    spec.key: spec
    for spec in [
        ChartSpec(
            "overview.revenue_trend",
            lambda f: overview.revenue_trend(f, "month", _partial(f)),
            engine.revenue_trend_takeaway,
        ),
        ChartSpec(
            "overview.new_vs_returning",
            lambda f: overview.new_vs_returning_chart(f, "month", _partial(f)),
            engine.new_vs_returning_takeaway,
        ),
        ChartSpec("overview.cohorts", overview.cohort_heatmap, engine.cohort_takeaway),
        ChartSpec("segments.share_bars", segments.share_bars, engine.segment_share_takeaway),
        ChartSpec("segments.treemap", segments.segment_treemap, engine.segment_share_takeaway),
        ChartSpec("campaigns.roi", campaigns.roi_bar, engine.campaign_roi_takeaway),
        ChartSpec("campaigns.channel_mix", campaigns.channel_mix, engine.channel_mix_takeaway),
        ChartSpec("experiments.lift", experiments.lift_chart, engine.lift_takeaway),
        ChartSpec("experiments.variant_rates", experiments.variant_rates, engine.lift_takeaway),
    ]
}


def figure(key: str, frame: pd.DataFrame) -> go.Figure:
    """The registered chart ``key`` drawn from ``frame``, in the house template, names shown as typed."""
    theme.use()
    return literal_figure(CHARTS[key].draw(frame))


def takeaway(key: str, frame: pd.DataFrame) -> str:
    """The registered chart's one sentence about ``frame``."""
    return CHARTS[key].takeaway(frame)


def date_words(start: dt.date | None, end: dt.date | None) -> str:
    """'Data from Jan 01, 2024 to Dec 31, 2025', for a picture's subtitle."""
    if start and end:
        return f"Data from {start:%b %d, %Y} to {end:%b %d, %Y}"
    return "All dates"


_kaleido_lock = threading.Lock()
_kaleido_started = False


def picture(
    fig: go.Figure,
    fmt: str = "png",
    dates: str | None = None,
    width: int = 1000,
    height: int | None = None,
    scale: float = 2.0,
) -> bytes:
    """``fig`` as PNG or SVG bytes with its title and ``dates`` written in the picture.

    A copy is drawn (the page's figure is untouched) on a white background, so the picture reads on its own
    in a deck or an e-mail. One headless browser serves every picture of the process (kaleido's sync server,
    started on first use); a lock keeps page threads from sharing it at the same moment.
    """
    global _kaleido_started
    if fmt not in ("png", "svg"):
        raise ValueError(f"Pictures are png or svg, not {fmt!r}")
    picture_fig = go.Figure(literal_figure(fig))  # a no-op for a figure the page already showed
    picture_fig.update_layout(template=theme.TEMPLATE_NAME, paper_bgcolor="white", plot_bgcolor="white")
    # The title (and the dates as its subtitle) hang from the top edge, and axis titles get room of their
    # own: a picture has no page around it to lend space.
    picture_fig.update_layout(
        title=dict(
            text=picture_fig.layout.title.text or "",
            subtitle=dict(text=dates or ""),
            y=1,
            yref="container",
            yanchor="top",
            pad=dict(t=12),
        ),
        margin_t=max(80, picture_fig.layout.margin.t or 0),
    )
    picture_fig.update_xaxes(automargin=True)
    picture_fig.update_yaxes(automargin=True)
    height = height or int(picture_fig.layout.height or 420)
    import kaleido

    with _kaleido_lock, warnings.catch_warnings():
        # plotly passes browser options a running server cannot take; it says so on every picture
        warnings.filterwarnings("ignore", message="The kopts argument is ignored")
        if not _kaleido_started:
            kaleido.start_sync_server(silence_warnings=True)
            _kaleido_started = True
        return picture_fig.to_image(format=fmt, width=width, height=height, scale=scale)


def story_figure(chart: engine.StoryChart) -> go.Figure:
    """A story chart's figure, under the story's title for it when it has one (shown as typed)."""
    fig = figure(chart.key, chart.data)
    if chart.title:
        fig.update_layout(title_text=escape(chart.title))
    return fig


def story_picture(chart: engine.StoryChart, width_px: int, height_px: int, dates: str | None = None) -> bytes:
    """A story chart as a PNG at the size the PDF lays it out (drawn at twice the pixels for print)."""
    fig = story_figure(chart)
    fig.update_layout(height=height_px, margin=dict(l=10, r=10, t=95, b=10))  # title, dates, legend
    return picture(fig, "png", dates, width=width_px, height=height_px, scale=2.0)


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """A chart's data as formula-safe CSV."""
    return engine.to_csv_bytes(frame)


def report_pdf(
    con: engine.Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> bytes:
    """The story of ``start``..``end`` as a PDF with every chart drawn by this registry.

    ``progress(fraction, message)``: gathering the numbers is the first fifth, drawing the pages the rest.
    """

    def gather(fraction: float, message: str) -> None:
        if progress:
            progress(0.2 * fraction, message)

    def draw_pages(fraction: float, message: str) -> None:
        if progress:
            progress(0.2 + 0.8 * fraction, message)

    story = engine.build_story(con, start, end, progress=gather)
    dates = date_words(story.start, story.end)
    return engine.render_pdf(
        story, lambda chart, w, h: story_picture(chart, w, h, dates), progress=draw_pages
    )
