"""Benchmark: the PDF report of the sample store, against its own parts.

Run from the repository root::

    python bench/report_pdf.py

On a fresh copy of the sample store, times (best of ``--repeat`` after one warm-up that also starts the
headless browser kaleido draws with):

- the story (every number, table and takeaway: ``engine.build_story``), the baseline;
- every chart drawn as a PNG (kaleido, the same pictures the PDF embeds);
- the whole PDF (``dashboard.charts.registry.report_pdf``: story + pictures + fpdf2 layout).

Prints each time, the PDF as a ratio of the story and of story + pictures (the layout's own cost), the
page count and the size. Goal: the whole PDF under 20 s on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import engine
from dashboard.charts import registry


def best(fn, repeat: int) -> tuple[float, object]:
    fn()  # warm-up
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        con = engine.connect(Path(folder) / "sample.duckdb", shared=False)
        engine.load_sample(con)
        story_s, story = best(lambda: engine.build_story(con), args.repeat)
        charts = [c for s in story.sections for c in s.charts]
        pictures_s, _ = best(lambda: [registry.story_picture(c, 552, 260) for c in charts], args.repeat)
        pdf_s, pdf = best(lambda: registry.report_pdf(con), args.repeat)
        pages = pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page")
        print(f"story (numbers, tables, takeaways): {story_s:6.2f} s  (baseline)")
        print(f"{len(charts)} charts as PNG (kaleido):      {pictures_s:6.2f} s")
        print(
            f"whole PDF:                          {pdf_s:6.2f} s  ({pdf_s / story_s:.1f}x the story, "
            f"{pdf_s / (story_s + pictures_s):.2f}x story + pictures)"
        )
        print(
            f"{pages} pages, {len(pdf) / 1024:,.0f} KB; goal: under 20 s -> {'met' if pdf_s < 20 else 'NOT met'}"
        )
        con.close()


if __name__ == "__main__":
    main()
