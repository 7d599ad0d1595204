"""`segmint report pdf` on the sample: a page per section, the KPI numbers as text, the charts as images."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import CHROMIUM
from tests.support.stores import two_tests_store

MISSING = [
    reason
    for reason, present in [
        ("poppler-utils (pdftotext, pdfimages) not installed", shutil.which("pdftotext")),
        ("kaleido draws charts with Chromium, not installed", Path(CHROMIUM).exists()),
    ]
    if not present
]
if MISSING and os.environ.get("CI"):  # CI installs both (.ci/run): missing there is a failure, not a skip
    pytest.fail("; ".join(MISSING), pytrace=False)
pytestmark = pytest.mark.skipif(bool(MISSING), reason="; ".join(MISSING))

SECTIONS = [
    "The business at a glance",
    "Who the customers are",
    "What to do for each",
    "What the campaigns earned",
    "What the tests proved",
]


@pytest.fixture(scope="module")
def report(sample_db_file, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdf")
    store = folder / "store.duckdb"
    shutil.copy(sample_db_file, store)
    out = folder / "report.pdf"
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "report", "pdf", "--out", str(out), "--db", str(store)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return out, done.stderr


def page_text(path, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_title_page_then_a_page_per_section(report):
    path, log = report
    title = page_text(path, 1)
    assert "Data from January 01, 2024 to December 31, 2025" in title
    assert "Load history" in title and "orders.csv" in title
    for number, section in enumerate(SECTIONS, start=2):
        assert f"{number}. {section}" in page_text(path, number)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Pages:\s+(\d+)$", info, flags=re.M).group(1) == str(len(SECTIONS) + 1)
    assert "100%" in log and "Wrote" in log  # progress on the way


def test_kpi_numbers_are_text(report, sample_con):
    path, _ = report
    orders = sample_con.execute(
        "SELECT order_id, customer_id, amount, is_return, campaign_id FROM orders"
    ).df()
    bought = orders[~orders["is_return"]]
    overview = page_text(path, 2)
    assert f"{bought['customer_id'].nunique():,}" in overview
    assert f"${orders['amount'].sum() / 1e6:.2f}M" in overview
    assert f"{bought['order_id'].nunique() / 1e3:.1f}k" in overview
    assert f"${orders['amount'].sum() / bought['order_id'].nunique():,.2f}" in overview
    spend = sample_con.execute("SELECT spend FROM campaigns").df()["spend"].sum()
    assert f"${spend / 1e3:.0f}k" in page_text(path, 5)


def test_charts_are_images_with_their_takeaways(report):
    path, _ = report
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True)
    pages = [int(line.split()[0]) for line in listing.stdout.splitlines()[2:]]
    assert pages.count(2) == 3  # revenue trend, new vs returning, cohorts
    assert pages.count(3) == 1 and pages.count(5) == 2 and pages.count(6) == 1
    assert "of customers and" in page_text(path, 3)  # the segment chart's takeaway under it


def test_the_overview_prepares_the_report_then_offers_it(app_db):
    from streamlit.testing.v1 import AppTest

    from tests.dashboard.test_app_pages import APP

    at = AppTest.from_file(APP, default_timeout=180).run()
    assert "share_download_pdf" not in {d.key for d in at.download_button}
    at.button(key="share_prepare_pdf").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "share_download_pdf" in {d.key for d in at.download_button}


def test_the_tests_page_charts_every_test_of_the_dates_with_its_lift(tmp_path):
    tests = two_tests_store(tmp_path / "store.duckdb")
    out = tmp_path / "report.pdf"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "report",
            "pdf",
            "--out",
            str(out),
            "--db",
            str(tmp_path / "store.duckdb"),
        ]
        + ["--from", "2025-01-01", "--to", "2025-10-31"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    number = SECTIONS.index("What the tests proved") + 2
    raw = subprocess.run(
        ["pdftotext", "-f", str(number), "-l", str(number), "-raw", str(out), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    text = " ".join(raw.split())
    rates = tests.groupby(["experiment_id", "variant"])["converted"].mean()
    for experiment, best in (("checkout_button", "treatment"), ("free_shipping", "B")):
        control, other = rates[(experiment, "control")], rates[(experiment, best)]
        lift = other / control - 1
        assert (
            f"In {experiment}, {best} converted {other:.1%} against control's {control:.1%}: "
            f"a lift of {lift:+.0%}"
        ) in text
    assert "old_banner" not in text
    assert "Left out: 1 test with no customer exposed between these dates." in text
    listing = subprocess.run(["pdfimages", "-list", str(out)], capture_output=True, text=True, check=True)
    pages = [int(line.split()[0]) for line in listing.stdout.splitlines()[2:]]
    assert pages.count(number) == 2  # one lift chart per test
