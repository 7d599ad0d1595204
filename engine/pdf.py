"""The story as a PDF: a title page with the dates and load history, then one landscape page per section.

Laid out with fpdf2 (pure Python, no system libraries): its text stays text, so a reader can search and
copy every number (``pdftotext`` finds them) and its charts are embedded PNG images. The engine does not
draw charts: the caller passes ``draw(chart, width_px, height_px) -> PNG bytes`` (the dashboard's chart
registry renders with kaleido), so the PDF shows exactly the figures of the pages.
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from engine.errors import SchemaError
from engine.story import Section, Story, StoryChart, readable_header, readable_table

Draw = Callable[[StoryChart, int, int], bytes]
Progress = Callable[[float, str], None]

PAGE_W, PAGE_H, MARGIN = 297.0, 210.0, 10.0  # A4 landscape, mm
CONTENT_W = PAGE_W - 2 * MARGIN
PX_PER_MM = 4.0  # chart pixels per mm: 13 px plotly text prints at about 9 pt
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
INK, MUTED, ACCENT = (31, 41, 55), (107, 114, 128), (76, 120, 168)


class _Pdf:
    """fpdf2 with our fonts; falls back to Helvetica (Latin-1 only) where DejaVu is not installed."""

    def __init__(self) -> None:
        from fpdf import FPDF

        self.pdf = FPDF(orientation="landscape", unit="mm", format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            self.pdf.add_font("body", "", str(regular))
            self.pdf.add_font("body", "B", str(bold))
            self.family, self.unicode = "body", True
        else:
            self.family, self.unicode = "helvetica", False

    def text(self, value: str) -> str:
        if self.unicode:
            return value
        return (
            value.replace("\u2014", "-").replace("\u2013", "-").encode("latin-1", "replace").decode("latin-1")
        )

    def font(self, size: float, bold: bool = False, color=INK) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.set_text_color(*color)

    def write(self, x: float, y: float, w: float, value: str, size: float, bold=False, color=INK, h=None):
        self.font(size, bold, color)
        self.pdf.set_xy(x, y)
        self.pdf.multi_cell(w, h or size * 0.45, self.text(value), align="L")
        return self.pdf.get_y()


def _title_page(doc: _Pdf, story: Story, generated: dt.datetime) -> None:
    pdf = doc.pdf
    pdf.add_page()
    dates = (
        f"Data from {story.start:%B %d, %Y} to {story.end:%B %d, %Y}"
        if story.start and story.end
        else "No orders yet"
    )
    y = doc.write(MARGIN, 40, CONTENT_W, "Segmint report", 30, bold=True)
    y = doc.write(MARGIN, y + 4, CONTENT_W, dates, 16, color=ACCENT)
    y = doc.write(MARGIN, y + 2, CONTENT_W, f"Prepared {generated:%B %d, %Y at %H:%M}", 11, color=MUTED)
    y = doc.write(MARGIN, y + 8, CONTENT_W, "Contents", 13, bold=True)
    for i, section in enumerate(story.sections, start=2):
        y = doc.write(MARGIN + 4, y + 1, CONTENT_W, f"{i}. {section.title}: {section.question}", 11)
    y = doc.write(MARGIN, y + 8, CONTENT_W, "Load history (newest first)", 13, bold=True)
    loads = story.loads
    if loads.empty:
        doc.write(MARGIN, y + 2, CONTENT_W, "Nothing has been loaded.", 10, color=MUTED)
        return
    shown = loads.head(10).assign(
        loaded_at=[f"{pd.Timestamp(t):%Y-%m-%d %H:%M}" for t in loads.head(10)["loaded_at"]],
        undone=["undone" if u else "" for u in loads.head(10)["undone"]],
    )[["loaded_at", "table", "file", "mode", "rows_loaded", "rows_rejected", "data_version", "undone"]]
    _table(doc, MARGIN, y + 2, CONTENT_W, shown, size=8.5)
    if len(loads) > 10:
        doc.write(MARGIN, pdf.get_y() + 1, CONTENT_W, f"and {len(loads) - 10} earlier loads.", 9, color=MUTED)


def _table(doc: _Pdf, x: float, y: float, w: float, frame: pd.DataFrame, size: float = 8.0) -> float:
    pdf = doc.pdf
    doc.font(size)
    pdf.set_xy(x, y)
    pdf.set_draw_color(220, 220, 220)
    columns = [readable_header(str(c)) for c in frame.columns]
    text = readable_table(frame)
    # widths follow the longest text of each column (capped), so a sentence column gets the room
    widths = [
        min(max([len(columns[i]), *text.iloc[:, i].str.len().tolist()]), 45) + 4 for i in range(len(columns))
    ]
    with pdf.table(
        col_widths=widths,
        width=w,
        align="LEFT",
        line_height=size * 0.5,
        text_align="LEFT",
        first_row_as_headings=True,
        headings_style=_headings_style(),
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        for row in [columns, *text.itertuples(index=False)]:
            table.row([doc.text(str(v)) for v in row])
    return pdf.get_y()


def _headings_style():
    from fpdf.fonts import FontFace

    return FontFace(emphasis="BOLD", color=INK, fill_color=(243, 244, 246))


def _section_page(doc: _Pdf, number: int, section: Section, draw: Draw | None) -> None:
    pdf = doc.pdf
    pdf.add_page()
    doc.write(MARGIN, MARGIN, CONTENT_W, f"{number}. {section.title}", 20, bold=True)
    doc.write(MARGIN, MARGIN + 10, CONTENT_W, section.question, 11, color=MUTED)
    y = MARGIN + 17
    if section.headlines:
        card_w = min(50.0, (CONTENT_W - 4 * (len(section.headlines) - 1)) / len(section.headlines))
        for i, headline in enumerate(section.headlines):
            x = MARGIN + i * (card_w + 4)
            pdf.set_draw_color(209, 213, 219)
            pdf.rect(x, y, card_w, 17, round_corners=True, corner_radius=2)
            doc.write(x + 3, y + 2, card_w - 6, headline.label, 8.5, color=MUTED)
            doc.write(x + 3, y + 7.5, card_w - 6, headline.value, 15, bold=True)
        y += 21
    if section.note:
        y = doc.write(MARGIN, y, CONTENT_W, section.note, 9.5, color=INK) + 2
    items: list[StoryChart | tuple[str, pd.DataFrame]] = [*section.charts, *section.tables]
    if not items:
        return
    rows = math.ceil(len(items) / 2)
    row_h = (PAGE_H - MARGIN - y) / rows
    half = (CONTENT_W - 6) / 2
    for i, item in enumerate(items):
        row, col = divmod(i, 2)
        alone = i == len(items) - 1 and len(items) % 2 == 1
        cell_w = CONTENT_W if alone and isinstance(item, tuple) else half
        x = MARGIN + col * (half + 6)
        top = y + row * row_h
        if isinstance(item, StoryChart):
            image_h = row_h - 11
            if draw is not None:
                png = draw(item, round(cell_w * PX_PER_MM), round(image_h * PX_PER_MM))
                pdf.image(io.BytesIO(png), x=x, y=top, w=cell_w, h=image_h)
            doc.write(x, top + image_h + 1, cell_w, item.takeaway, 9, color=INK)
        else:
            title, frame = item
            doc.write(x, top, cell_w, title, 10.5, bold=True)
            _table(doc, x, top + 6, cell_w, frame, size=7.5 if len(frame.columns) > 5 else 8)


def render_pdf(
    story: Story,
    draw: Draw | None = None,
    progress: Progress | None = None,
    generated: dt.datetime | None = None,
) -> bytes:
    """The story as PDF bytes: a title page, then one page per section with its headline numbers as text,
    its charts as images (drawn by ``draw``; without it, the takeaways only) and the top rows of its tables.

    ``progress(fraction, message)`` is called before each page.
    """
    doc = _Pdf()
    doc.pdf.set_title("Segmint report")
    doc.pdf.set_creator("Segmint")
    _title_page(doc, story, generated or dt.datetime.now())
    for i, section in enumerate(story.sections):
        if progress:
            progress(i / len(story.sections), f"Drawing page {i + 2}: {section.title.lower()}")
        _section_page(doc, i + 2, section, draw)
    if progress:
        progress(1.0, "Report ready")
    return bytes(doc.pdf.output())


def pdf_command(argv, con=None) -> int:
    """``segmint report pdf --out FILE [--from DATE --to DATE] [--db FILE]``: the story as a PDF file."""
    import argparse
    import sys
    import time

    from engine import store

    parser = argparse.ArgumentParser(
        prog="segmint report pdf",
        description="Write the PDF report: the business at a glance, customers, actions, campaigns, tests.",
    )
    parser.add_argument("--out", required=True, type=Path, help="the PDF file to write")
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first date, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="last date, YYYY-MM-DD")
    parser.add_argument("--db", help="store file (default: $SEGMINT_DB or ./data/segmint.duckdb)")
    args = parser.parse_args(list(argv))
    if args.start and args.end and args.start > args.end:
        raise SchemaError(f"--from {args.start} is after --to {args.end}: give the earlier date first.")
    # The charts are the dashboard's own figures (its registry), so the file matches the pages; the
    # command line is an edge like the router, the one engine place that reaches up for them.
    from dashboard.charts.registry import report_pdf

    started = time.perf_counter()

    def progress(fraction: float, message: str) -> None:
        print(f"{fraction:4.0%}  {message}", file=sys.stderr)

    con = con if con is not None else store.connect(args.db)
    data = report_pdf(con, args.start, args.end, progress)
    args.out.write_bytes(data)
    print(
        f"Wrote {args.out} ({len(data) / 1024:,.0f} KB) in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


__all__ = ["render_pdf", "pdf_command"]
