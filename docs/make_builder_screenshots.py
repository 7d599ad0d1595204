"""Screenshots of the Segment builder and the drill-down for the README: the sample data with made-up
contact columns (e-mail, first name, phone, country) added to its customers, so the audience files have
something to hash.

    python -m docs.make_builder_screenshots     # from the repository root
"""

from __future__ import annotations

import csv
import random
import re
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

import engine
from engine.cli import main as segmint
from tests.support.browser import observed, wait_until_drawn
from tests.support.server import CHROMIUM, CHROMIUM_ARGS, REPO, running_server

FIRST = ["Ann", "Bob", "Chloé", "Dev", "Eva", "Finn", "Grace", "Hugo", "Ines", "Jon"]
COUNTRIES = [
    ("United Kingdom", "020 7946 0{:03d}"),
    ("Germany", "030 901820{:02d}"),
    ("USA", "(212) 555-0{:03d}"),
]


def contact_file(folder: Path) -> Path:
    """The sample customers with an e-mail (one in ten missing), first name, phone and country."""
    rng = random.Random(42)
    with open(engine.SAMPLE_DIR / "customers.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = folder / "customers_with_contacts.csv"
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, [*rows[0], "email", "first_name", "phone", "country"])
        writer.writeheader()
        for i, row in enumerate(rows):
            name = rng.choice(FIRST)
            country, phone = rng.choice(COUNTRIES)
            row["email"] = "" if i % 10 == 0 else f" {name}.{row['customer_id']}@Example.com "
            row["first_name"] = name
            row["phone"] = phone.format(i % 100) if i % 3 == 0 else ""
            row["country"] = country
            writer.writerow(row)
    return out


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="segmint-builder-shots-"))
    db = tmp / "shots.duckdb"
    # your own data replaces the sample: load the customers with contacts, then the sample's orders and products
    segmint(["load", str(contact_file(tmp)), "--as", "customers", "--db", str(db), "--yes"])
    for table in ("orders", "products"):
        segmint(["load", str(engine.SAMPLE_DIR / f"{table}.csv"), "--as", table, "--db", str(db), "--yes"])
    engine.close_all()
    with running_server(db, log_path=tmp / "server.log") as server, sync_playwright() as p:
        browser = observed(p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS)))
        page = browser.new_page(viewport={"width": 1440, "height": 1300})
        page.goto(server.url + "/segments")
        page.get_by_text("Click a bar of the share chart").wait_for(timeout=300_000)
        wait_until_drawn(page, timeout=300_000)
        chart = page.locator(".stPlotlyChart").nth(1)
        chart.scroll_into_view_if_needed()
        chart.locator("g.trace.bars").last.locator("g.point path").nth(6).click(force=True)
        page.get_by_text("Customers behind your click").wait_for(timeout=60_000)
        wait_until_drawn(page)
        page.get_by_text("Customers behind your click").scroll_into_view_if_needed()
        page.screenshot(path=str(REPO / "docs" / "drilldown.png"))

        page.set_viewport_size({"width": 1440, "height": 1650})  # the page scrolls inside: make room
        page.goto(server.url + "/builder")
        wait_until_drawn(page, timeout=300_000)
        page.get_by_role("combobox", name="Start from").click()
        page.get_by_role("option", name="At Risk").click()
        wait_until_drawn(page)
        page.get_by_role("button", name="Add a condition").click()
        wait_until_drawn(page)
        page.get_by_role("combobox", name="Field").nth(1).click()
        page.get_by_role("option", name="Country", exact=True).click()
        wait_until_drawn(page)
        page.get_by_role("combobox", name="Values").nth(1).click()
        page.get_by_role("option", name="Germany").click()
        page.keyboard.press("Escape")
        wait_until_drawn(page)
        page.get_by_role("tab", name=re.compile("Audience files")).click()
        wait_until_drawn(page)
        page.get_by_text("Rows in the file").first.wait_for(timeout=60_000)
        page.screenshot(path=str(REPO / "docs" / "builder.png"), full_page=True)
        print("saved docs/drilldown.png and docs/builder.png")
        browser.close()


if __name__ == "__main__":
    main()
