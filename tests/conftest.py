"""Shared fixtures: throwaway stores, the sample store, and a running app for browser tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from tests.support.browser import observed, wait_until_settled
from tests.support.server import CHROMIUM, CHROMIUM_ARGS, REPO, running_server


@pytest.fixture
def con(tmp_path):
    """An empty store in a fresh file (its own connection, closed afterwards)."""
    connection = engine.connect(tmp_path / "store.duckdb", shared=False)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def sample_db_file(tmp_path_factory) -> Path:
    """A store file holding the bundled sample data, built once per test run; copy it before writing.

    The recommendation model is chosen and trained once here, with the page's default lists (varied by
    category), as the dashboard would store it: pages opened on a copy read it instead of training again.
    """
    path = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    connection = engine.connect(path, shared=False)
    engine.load_sample(connection)
    engine.recommendations_table(connection, options=engine.RecommendOptions(diversity_by="category"))
    connection.execute("CHECKPOINT")
    connection.close()
    return path


@pytest.fixture(scope="session")
def sample_con(sample_db_file):
    """A read-mostly connection to the shared sample store. Do not load into it: use ``sample_copy``."""
    connection = engine.connect(sample_db_file, shared=False)
    yield connection
    connection.close()


@pytest.fixture
def sample_copy(sample_db_file, tmp_path):
    """A private writable copy of the sample store: (path, connection)."""
    path = tmp_path / "sample_copy.duckdb"
    shutil.copy(sample_db_file, path)
    connection = engine.connect(path, shared=False)
    yield path, connection
    connection.close()


def _clear_streamlit_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    engine.close_all()


@pytest.fixture
def app_db(sample_db_file, tmp_path, monkeypatch):
    """Point the app (AppTest, in this process) at a private copy of the sample store."""
    path = tmp_path / "app.duckdb"
    shutil.copy(sample_db_file, path)
    monkeypatch.setenv("SEGMINT_DB", str(path))
    _clear_streamlit_caches()
    yield path
    _clear_streamlit_caches()


@pytest.fixture
def empty_app_db(tmp_path, monkeypatch):
    """Point the app at a store whose tables are empty (data version 1, so no sample is loaded)."""
    path = tmp_path / "empty.duckdb"
    connection = engine.connect(path, shared=False)
    engine.bump_data_version(connection)
    connection.close()
    monkeypatch.setenv("SEGMINT_DB", str(path))
    _clear_streamlit_caches()
    yield path
    _clear_streamlit_caches()


CDNOW_WHEEL = "Lifetimes==0.11.3"


def lifetimes_dataset(name: str) -> Path:
    """A file of ``lifetimes/datasets/`` in the Lifetimes wheel on PyPI (fetched by pip, cached).

    The CDNOW logs are Fader & Hardie's teaching data; the wheel (MIT) redistributes them, and the tests read
    them from there rather than copying them into this repository."""
    import glob
    import zipfile

    cache = Path(os.environ.get("SEGMINT_TEST_CACHE", REPO / ".test-cache"))
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / name
    if not target.exists():
        wheels = glob.glob(str(cache / "Lifetimes-*.whl")) or glob.glob(str(cache / "lifetimes-*.whl"))
        if not wheels:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "-d",
                    str(cache),
                    CDNOW_WHEEL,
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
            wheels = glob.glob(str(cache / "*ifetimes-*.whl"))
            if not wheels:
                message = "could not download the Lifetimes wheel: " + proc.stderr[-500:]
                if os.environ.get("CI"):
                    pytest.fail(message)
                pytest.skip(message)
        with zipfile.ZipFile(wheels[0]) as wheel:
            target.write_bytes(wheel.read(f"lifetimes/datasets/{name}"))
    return target


@pytest.fixture(scope="session")
def cdnow_file(tmp_path_factory) -> Path:
    """The real CDNOW transaction log, taken from the Lifetimes wheel on PyPI (fetched by pip, cached)."""
    return lifetimes_dataset("CDNOW_master.txt")


@pytest.fixture(scope="session")
def cdnow_sample_file() -> Path:
    """CDNOW's 1/10 sample (2,357 customers' transactions, 1997-01 to 1998-06) from the Lifetimes wheel."""
    return lifetimes_dataset("CDNOW_sample.txt")


@pytest.fixture(scope="session")
def cdnow_summary_file() -> Path:
    """Hardie's per-customer summary of that sample (x, t_x, T in weeks; zbar = mean spend per repeat
    purchase) for the calibration period 1997-01-01..1997-09-30, from the Lifetimes wheel."""
    return lifetimes_dataset("cdnow_customers_summary_with_transactions.csv")


@pytest.fixture
def app_server(sample_db_file, tmp_path):
    """A real Segmint server on 127.0.0.1 over a private copy of the sample store; yields its URL."""
    db = tmp_path / "server.duckdb"
    shutil.copy(sample_db_file, db)
    with running_server(db, log_path=tmp_path / "server.log") as server:
        yield server.url


@pytest.fixture
def browser():
    """A headless Debian Chromium driven by Playwright, whose pages report Streamlit's runs (for
    ``wait_for_app``); skipped only where chromium is not installed."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI: .ci/run must install chromium")
        pytest.skip(f"{CHROMIUM} not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
        yield observed(b)
        b.close()


def wait_for_app(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has answered every run the page asked for (tests/support/browser.py)."""
    wait_until_settled(page, timeout)


def assert_no_exception(page) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()
