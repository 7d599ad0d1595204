"""Sharing: a chart with its takeaway and picture downloads, the PDF report button, and presentation mode.

Everything drawn here comes from the chart registry, so the slide, the page, the PDF and the PNG/SVG show the
same figure. Pictures are drawn only when a download is asked for (a callable ``data``), so pages stay fast.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import engine
from dashboard import components, state
from dashboard.charts import registry


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "chart"


def chart(
    fig: go.Figure,
    data: pd.DataFrame,
    key: str,
    dates: str | None = None,
    takeaway: str | None = None,
    *,
    chart_key: str | None = None,
    **plotly_options,
):
    """A chart as the page shows it, its takeaway as the caption, and PNG, SVG and CSV downloads.

    The picture carries the chart's title and ``dates`` (the data's date range) so it reads on its own.
    ``plotly_options`` (``on_select``, ``selection_mode``) pass to ``st.plotly_chart``, whose return value
    (the selection, for clickable charts) is returned; ``chart_key`` overrides the chart's widget key.
    """
    # names from the files read as typed, never as plotly markup (links, bold...): clicks report them
    # escaped, see segment_builder.clicked_segment
    registry.literal_figure(fig)
    shown = st.plotly_chart(fig, width="stretch", key=chart_key or f"chart_{key}", **plotly_options)
    if takeaway:
        st.caption(components.plain(takeaway))  # it names campaigns and variants as the file does
    name = _slug(fig.layout.title.text or key)
    with st.popover("Download", icon=":material/download:"):
        st.download_button(
            "Picture (PNG)",
            data=lambda: registry.picture(fig, "png", dates),
            file_name=f"{name}.png",
            mime="image/png",
            key=f"png_{key}",
            on_click="ignore",
        )
        st.download_button(
            "Picture for slides (SVG)",
            data=lambda: registry.picture(fig, "svg", dates),
            file_name=f"{name}.svg",
            mime="image/svg+xml",
            key=f"svg_{key}",
            on_click="ignore",
        )
        st.download_button(
            "The numbers (CSV)",
            data=lambda: registry.csv_bytes(data),
            file_name=f"{name}.csv",
            mime="text/csv",
            key=f"csv_{key}",
            on_click="ignore",
        )
    return shown


def report_download(start: dt.date | None, end: dt.date | None) -> None:
    """'Prepare the PDF report' with a progress bar, then 'Download report' for the file it made."""
    version = state.data_version()
    wanted = (version, start, end)
    if st.button("Prepare the PDF report", icon=":material/picture_as_pdf:", key="share_prepare_pdf"):
        bar = st.progress(0.0, "Gathering the numbers")
        pdf = registry.report_pdf(
            state.cursor(), start, end, progress=lambda f, m: bar.progress(min(f, 1.0), m)
        )
        bar.empty()
        st.session_state["share_pdf"] = (wanted, pdf)
    made = st.session_state.get("share_pdf")
    if made and made[0] == wanted:
        label = f"{start:%Y%m%d}_{end:%Y%m%d}" if start and end else "all_dates"
        st.download_button(
            "Download report",
            data=made[1],
            file_name=f"segmint_report_{label}.pdf",
            mime="application/pdf",
            icon=":material/download:",
            key="share_download_pdf",
            on_click="ignore",
        )


# KPI cards: the value shrinks with the window (never below 1.4rem) so six cards beside the sidebar at
# 1280 px wide show "$2.03M" whole instead of "$2.0...", and a long label wraps onto a second line instead
# of ending in "...". The browser test measures both.
KPI_CSS = """<style>
[data-testid="stMetricValue"] {font-size: clamp(1.4rem, 2.1vw, 2.25rem);}
[data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"],
[data-testid="stMetricLabel"] p {white-space: normal; overflow: visible; text-overflow: clip;}
[data-testid="stMetricLabel"] p {font-size: clamp(0.75rem, 0.98vw, 0.875rem);}
</style>"""


def card_style() -> None:
    """Size KPI card numbers to fit their card (a style only: it takes no room on the page)."""
    st.html(KPI_CSS)


# --------------------------------------------------------------------------- presentation mode

PRESENT_PARAM = "present"
SLIDE_PARAM = "slide"


def presenting() -> bool:
    """Whether the visitor asked for presentation mode (``?present=1``)."""
    return st.query_params.get(PRESENT_PARAM) == "1"


def _start_presenting() -> None:
    if st.session_state.get("share_present_switch"):
        st.query_params[PRESENT_PARAM] = "1"
        st.query_params[SLIDE_PARAM] = "1"
        st.session_state["share_present_switch"] = False  # off again when the visitor exits


def presentation_switch() -> None:
    """The sidebar switch that starts presentation mode (it sets ``?present=1``)."""
    st.toggle(
        "Presentation mode",
        key="share_present_switch",
        on_change=_start_presenting,
        help="Step through the story of the data full-screen, without the sidebar, settings or upload "
        "controls; arrow keys move between slides. A link with ?present=1 opens it directly.",
    )


@st.cache_data(show_spinner=False, max_entries=8)
def _story(version: int, start: dt.date | None, end: dt.date | None) -> engine.Story:
    return engine.build_story(state.cursor(), start, end)


PRESENTATION_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stToolbar"] {display: none;}
[data-testid="stMetricValue"] {font-size: clamp(2rem, 3.6vw, 3.2rem); line-height: 1.15;}
[data-testid="stMetricLabel"] p {font-size: 1.15rem;}
.segmint-question {font-size: 1.3rem; color: #6b7280; margin-top: -0.6rem;}
[class*="st-key-takeaway_"] p {font-size: 1.15rem; color: #1f2937;}
</style>
"""


def _slide_number(total: int) -> int:
    try:
        number = int(st.query_params.get(SLIDE_PARAM, "1"))
    except ValueError:
        number = 1
    return min(max(number, 1), total)


def _go(number: int) -> None:
    st.query_params[SLIDE_PARAM] = str(number)


def _exit() -> None:
    st.query_params.pop(PRESENT_PARAM, None)
    st.query_params.pop(SLIDE_PARAM, None)


def presentation(start: dt.date | None, end: dt.date | None) -> None:
    """The story as slides: one section per slide, big headline numbers, each chart with its takeaway.

    Next and Previous (or the arrow keys) move through the slides; the slide number is in the address, so a
    link opens on that slide. Exit returns to the dashboard.
    """
    st.html(PRESENTATION_CSS)
    story = _story(state.data_version(), start, end)
    total = len(story.sections)
    number = _slide_number(total)
    section = story.sections[number - 1]
    dates = registry.date_words(story.start, story.end)

    st.title(section.title)
    sample = " · sample data (a made-up shop)" if engine.is_sample_data(state.cursor()) else ""
    st.markdown(
        f'<p class="segmint-question">{section.question} · {dates}{sample}</p>', unsafe_allow_html=True
    )
    _navigation(number, total)
    if section.headlines:
        for column, headline in zip(st.columns(len(section.headlines)), section.headlines, strict=True):
            column.metric(
                components.plain(headline.label), headline.value, help=headline.help or None, border=True
            )
    if section.note:
        st.markdown(f"**{components.plain(section.note)}**")
    charts = section.charts
    for row in range(0, len(charts), 2):
        pair = charts[row : row + 2]
        for i, (column, item) in enumerate(zip(st.columns(len(pair)), pair, strict=True), start=row):
            with column:
                fig = registry.story_figure(item)  # names escaped there
                # a slide may hold several charts of one kind (one per test): keys carry the position
                st.plotly_chart(fig, width="stretch", key=f"slide_{number}_{i}_{item.key}")
                # the chart's alt text, in words, large enough to read from the back of the room
                with st.container(key=f"takeaway_{number}_{i}_{item.key.replace('.', '_')}"):
                    st.markdown(components.plain(item.takeaway))
    for title, frame in section.tables:
        st.subheader(title)
        st.dataframe(engine.readable_table(frame), hide_index=True, width="stretch")


def _navigation(number: int, total: int) -> None:
    back, where, forward, leave = st.columns([1, 2, 1, 1], vertical_alignment="center")
    back.button(
        "Previous",
        icon=":material/arrow_back:",
        disabled=number == 1,
        on_click=_go,
        args=(number - 1,),
        shortcut="Left",
        key="slide_previous",
        width="stretch",
    )
    where.markdown(f"<div style='text-align:center'>Slide {number} of {total}</div>", unsafe_allow_html=True)
    forward.button(
        "Next",
        icon=":material/arrow_forward:",
        disabled=number == total,
        on_click=_go,
        args=(number + 1,),
        shortcut="Right",
        key="slide_next",
        width="stretch",
        type="primary",
    )
    leave.button("Exit", icon=":material/close:", on_click=_exit, key="slide_exit", width="stretch")
