"""Regenerate the README pictures of sharing: two presentation-mode slides at 1280x800 in headless Chromium
and two pages of the sample's PDF report (drawn with poppler's pdftoppm).

    python -m docs.make_share_screenshots [--port 8766]     # from the repository root
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

import engine
from dashboard.charts import registry
from tests.support.browser import observed, wait_until_drawn
from tests.support.server import CHROMIUM, CHROMIUM_ARGS, REPO, running_server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    out = Path(args.out)
    tmp = Path(tempfile.mkdtemp(prefix="segmint-share-"))
    store = tmp / "shots.duckdb"
    con = engine.connect(store, shared=False)
    engine.load_sample(con)
    pdf = tmp / "report.pdf"
    pdf.write_bytes(registry.report_pdf(con))
    con.close()
    for number, name in [(2, "report_overview"), (5, "report_campaigns")]:
        subprocess.run(
            [
                "pdftoppm",
                "-f",
                str(number),
                "-l",
                str(number),
                "-r",
                "70",
                "-png",
                "-singlefile",
                str(pdf),
                str(out / name),
            ],
            check=True,
        )
        print(f"{name}.png: page {number} of the PDF")
    with running_server(store, log_path=tmp / "server.log", port=args.port) as server, sync_playwright() as p:
        browser = observed(p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)))
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for slide, name in [(1, "present_overview"), (2, "present_customers")]:
            page.goto(f"{server.url}/?present=1&slide={slide}")
            wait_until_drawn(page, timeout=300_000)
            page.screenshot(path=str(out / f"{name}.png"))
            print(f"{name}.png: slide {slide}")
        browser.close()


if __name__ == "__main__":
    main()
