"""Regenerate the README screenshots: start Segmint on a fresh sample store, visit every page in headless
Chromium, save docs/<page>.png. For the Data page a messy orders file is uploaded so the mapping and the
validation report show.

    python -m docs.make_screenshots [--port 8765]     # from the repository root
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.support.browser import observed, wait_until_drawn
from tests.support.server import CHROMIUM, CHROMIUM_ARGS, REPO, running_server

PAGES = ["overview", "segments", "personas", "recommendations", "campaigns", "experiments", "predict", "data"]


def settle(page) -> None:
    wait_until_drawn(page, timeout=300_000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="segmint-shots-"))
    with (
        running_server(tmp / "shots.duckdb", log_path=tmp / "server.log", port=args.port) as server,
        sync_playwright() as p,
    ):
        url = server.url
        browser = observed(p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)))
        page = browser.new_page(viewport={"width": 1440, "height": 1500})
        for name in PAGES:
            page.goto(f"{url}/{'' if name == 'overview' else name}")
            settle(page)
            if name == "recommendations":  # best-sellers stand in until the chosen model is named
                page.get_by_text(re.compile("chosen on held-out data|Best-sellers ship")).first.wait_for(
                    timeout=600_000
                )
                settle(page)
            if name == "predict":  # the check on later months is the page's evidence
                page.get_by_role("tab", name="How well it predicts").click()
                page.locator(".js-plotly-plot").filter(has_text="Repeat purchases per week").first.wait_for(
                    timeout=120_000
                )
                settle(page)
            if name == "data":
                messy = tmp / "Shop export.csv"
                lines = ["Invoice No;Cust ID;Invoice Date;SKU;Qty;Total (EUR)"]
                for i in range(60):
                    total = "n/a" if i == 41 else f"1.2{i % 10}0,50"
                    lines.append(f"X{i};NEW{i % 10};{i % 27 + 1:02d}.03.2026;P{i % 5};1;{total}")
                messy.write_text("\n".join(lines) + "\n", encoding="cp1252")
                page.get_by_role("combobox", name="This file holds").click()
                page.get_by_role("option", name="orders").click()
                settle(page)
                page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(messy))
                page.get_by_text("How to load").wait_for(timeout=60_000)
                settle(page)
            errors = page.locator('[data-testid="stException"]').count()
            page.screenshot(path=str(Path(args.out) / f"{name}.png"), full_page=True)
            print(f"{name}: saved ({errors} exception boxes)")
        browser.close()


if __name__ == "__main__":
    main()
