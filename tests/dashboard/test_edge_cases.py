"""Every page on the smallest stores a marketer can make: one customer, one product, one order; all-equal
values; zero spend and zero conversions. No exception, and never inf or NaN on screen."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

import engine
from tests.conftest import _clear_streamlit_caches
from tests.dashboard.test_app_pages import APP, PAGES

TINY = """
INSERT INTO customers (customer_id, signup_date, _load_id) VALUES ('solo', DATE '2024-01-01', 1);
INSERT INTO products (product_id, name, category, price, active, stock, _load_id)
    VALUES ('p1', '<b>Bold</b> <script>alert(1)</script>', 'Gadgets', 10, true, 5, 1);
INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, unit_price, amount, campaign_id,
                    channel, is_return, _load_id)
    VALUES ('o1', 'solo', TIMESTAMP '2024-03-01 10:00', 'p1', 1, 10, 10, 'c1', 'email', false, 1);
INSERT INTO interactions (customer_id, product_id, rating, event_type, weight, timestamp, _load_id)
    VALUES ('solo', 'p1', 4, 'rating', NULL, TIMESTAMP '2024-03-02', 1);
INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, conversions, revenue,
                       _load_id)
    VALUES ('c1', 'Zero', 'email', DATE '2024-03-01', 0, 0, 0, 0, 0, 1);
INSERT INTO experiments (experiment_id, variant, customer_id, converted, revenue, exposure_date, exposures,
                         conversions, _load_id)
    VALUES ('t', 'control', 'solo', false, 0, TIMESTAMP '2024-03-01', 1, 0, 1),
           ('t', 'B', 'x2', false, 0, TIMESTAMP '2024-03-01', 1, 0, 1);
"""

EQUAL = """
INSERT INTO customers (customer_id, _load_id) SELECT 'c' || i, 1 FROM range(40) r(i);
INSERT INTO products (product_id, name, category, price, _load_id) VALUES ('p1', 'Same', 'All', 5, 1);
INSERT INTO orders (order_id, customer_id, order_date, product_id, quantity, amount, is_return, _load_id)
    SELECT 'o' || i, 'c' || i, TIMESTAMP '2024-05-01', 'p1', 1, 5, false, 1 FROM range(40) r(i);
INSERT INTO campaigns (campaign_id, campaign_name, channel, date, spend, impressions, clicks, conversions, _load_id)
    SELECT 'c' || i, 'Same ' || i, 'email', DATE '2024-05-01', 0, 100, 0, 0, 1 FROM range(3) r(i);
"""


@pytest.fixture(params=["tiny", "all_equal"])
def small_store(request, tmp_path, monkeypatch):
    path = tmp_path / f"{request.param}.duckdb"
    con = engine.connect(path, shared=False)
    for statement in (TINY if request.param == "tiny" else EQUAL).split(";"):
        if statement.strip():
            con.execute(statement)
    engine.bump_data_version(con)
    con.close()
    monkeypatch.setenv("SEGMINT_DB", str(path))
    _clear_streamlit_caches()
    yield request.param
    _clear_streamlit_caches()


def visible_text(at: AppTest) -> str:
    parts = []
    for kind in (
        "markdown",
        "caption",
        "info",
        "warning",
        "error",
        "success",
        "metric",
        "title",
        "subheader",
    ):
        for element in getattr(at, kind):
            parts.append(str(getattr(element, "value", "")))
    return "\n".join(parts)


def no_infinite_cells(at: AppTest) -> None:
    """Tables may hold missing values (the page shows them as n/a), never infinities."""
    import numpy as np

    for frame in at.dataframe:
        data = frame.value
        data = getattr(data, "data", data)  # a Styler keeps its frame in .data
        numeric = data.select_dtypes("number")
        assert not np.isinf(numeric.to_numpy(dtype=float, na_value=0.0)).any(), data.to_string()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_the_smallest_stores(small_store, page):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    no_infinite_cells(at)
    text = visible_text(at)
    assert not re.search(r"\binf\b|\bNaN\b|\bnan\b", text), text[:2000]
    assert "<script>" not in " ".join(m.value for m in at.markdown if getattr(m, "allow_html", False))
