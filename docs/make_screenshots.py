"""Regenerate the README screenshots: start Segmint on a fresh sample store, visit every page in headless
Chromium, save docs/<page>.png. For the Data page a messy orders file is uploaded so the mapping and the
validation report show.

    python docs/make_screenshots.py [--port 8765]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = ["overview", "segments", "personas", "recommendations", "campaigns", "experiments", "data"]


def settle(page) -> None:
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_timeout(2000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=300_000
    )
    page.wait_for_timeout(1500)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--out", default=str(REPO / "docs"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="segmint-shots-"))
    env = dict(os.environ, SEGMINT_DB=str(tmp / "shots.duckdb"))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(REPO / "dashboard" / "app.py"),
            "--server.port",
            str(args.port),
            "--server.headless",
            "true",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1500})
            for name in PAGES:
                page.goto(f"{url}/{'' if name == 'overview' else name}")
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
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
