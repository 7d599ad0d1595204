"""Real-export shapes through the Data page (AppTest, from the entry point), into the sample store: any
extension, weak suggestions as hints, the sample rule, the form cleared, the sidebar range following the
data (also after another user's load); stored rows checked against pandas."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import engine
from tests.conftest import _clear_streamlit_caches
from tests.dashboard.test_app_pages import APP


@pytest.fixture
def page_store(sample_db_file, tmp_path, monkeypatch):
    path = tmp_path / "page.duckdb"
    shutil.copy(sample_db_file, path)
    monkeypatch.setenv("SEGMINT_DB", str(path))
    _clear_streamlit_caches()
    yield path
    _clear_streamlit_caches()


def data_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page("app_pages/data.py")
    at.run()
    return at


def upload(at: AppTest, table: str, name: str, content: bytes) -> AppTest:
    at.selectbox(key="upload_table").set_value(table).run()
    at.file_uploader[0].set_value((name, content, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, starts: str):
    return next(b for b in at.button if b.label.startswith(starts))


def texts(at: AppTest, *kinds: str) -> str:
    return "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))


def test_headerless_dot_data_file_loads_with_hints_and_the_form_clears(exports, page_store):
    path = exports["u.data"]
    at = upload(data_page(), "interactions", "u.data", path.read_bytes())
    assert "hint: column0" in texts(at, "caption")  # weak: shown, not selected
    assert at.selectbox(key=next(k for k in at.session_state if str(k).endswith("_customer_id"))).value == (
        "(not mapped)"
    )
    assert "will be removed" in texts(at, "warning")  # the sample rule is said before the load
    button(at, "Take the 4 weak suggestions").click().run()
    button(at, "Load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Loaded 100,000 rows into **interactions**" in texts(at, "success")
    assert "the sample data was removed" in texts(at, "info")
    assert at.file_uploader[0].value is None  # the form is cleared: the file cannot be loaded twice
    expected = pd.read_csv(path, sep="\t", header=None, names=["u", "i", "r", "t"])
    con = engine.connect(page_store, shared=False)
    try:
        got = con.execute(
            "SELECT count(*) n, sum(rating) r, min(timestamp) lo, max(timestamp) hi, "
            "(SELECT count(*) FROM customers) + (SELECT count(*) FROM orders) sample_rows FROM interactions"
        ).df()
    finally:
        con.close()
    assert got["n"][0] == len(expected)
    assert got["r"][0] == expected["r"].sum()
    assert got["lo"][0] == pd.to_datetime(expected["t"].min(), unit="s")
    assert got["hi"][0] == pd.to_datetime(expected["t"].max(), unit="s")
    assert got["sample_rows"][0] == 0


def _range(at: AppTest):
    value = at.session_state["global_date_range"]
    return tuple(value)


def test_invoice_log_through_the_page_and_the_date_range_follows_every_load(exports, page_store, tmp_path):
    path = exports["retail"]
    at = data_page()
    assert _range(at) == (dt.date(2024, 1, 1), dt.date(2025, 12, 31))  # the sample's range
    upload(at, "orders", "Online Retail.csv", path.read_bytes())
    button(at, "Load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    expected = pd.read_csv(path, encoding="latin-1", dtype={"CustomerID": str})
    stamps = pd.to_datetime(expected["InvoiceDate"], format="%m/%d/%Y %H:%M")
    assert _range(at) == (stamps.min().date(), stamps.max().date())
    con = engine.connect(page_store)
    got = con.execute(
        "SELECT count(*) FILTER (WHERE customer_id IS NULL), sum(amount) FROM orders"
    ).fetchone()
    assert got[0] == expected["CustomerID"].isna().sum()
    assert got[1] == pytest.approx((expected["Quantity"] * expected["UnitPrice"]).round(4).sum(), abs=0.01)

    # another user's load (the same store, another session) moves the range too
    later = tmp_path / "later.csv"
    later.write_text(
        "order_id,customer_id,order_date,amount\nX1,12346,2012-03-04 10:00,5\n", encoding="utf-8"
    )
    engine.load_file(con.cursor(), later, "orders", mode="append", confirm=True)
    at.run()
    assert _range(at) == (stamps.min().date(), dt.date(2012, 3, 4))
    assert "no longer covers" not in texts(at, "warning")

    # a range set by hand stays, and says so when a later load falls outside it
    at.date_input(key="global_date_range").set_value((dt.date(2011, 1, 1), dt.date(2011, 6, 30))).run()
    even_later = tmp_path / "even_later.csv"
    even_later.write_text("order_id,customer_id,order_date,amount\nX2,12346,2012-05-06,7\n", encoding="utf-8")
    engine.load_file(con.cursor(), even_later, "orders", mode="append", confirm=True)
    at.run()
    assert _range(at) == (dt.date(2011, 1, 1), dt.date(2011, 6, 30))
    assert "no longer covers the data" in texts(at, "warning")
    button(at, "Show all dates").click().run()
    assert _range(at) == (stamps.min().date(), dt.date(2012, 5, 6))

    at.switch_page("app_pages/overview.py")
    at.run()
    assert not at.exception
    customers = next(m for m in at.metric if m.label.lower().startswith("customers"))
    assert customers.value not in ("0", "n/a")


def test_refusals_are_said_next_to_the_uploader(exports, page_store):
    at = upload(data_page(), "orders", "orders.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    assert "Not read" in texts(at, "error") and "binary" in texts(at, "error")
    at = upload(data_page(), "orders", "orders_nul.csv", exports["nul"].read_bytes())
    assert "NUL bytes" in texts(at, "error") and "3,001" in texts(at, "error")
    staging = page_store.parent / "staging"
    assert not [p for p in staging.iterdir() if not p.name.endswith(".upload")]
