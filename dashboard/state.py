"""The dashboard's one place for the shared store connection, the data version and cached reads."""

from __future__ import annotations

import datetime as dt

import streamlit as st

import engine
from engine import inbox


@st.cache_resource(show_spinner=False)
def _store(path: str) -> engine.Connection:
    """One connection per process and store file; the bundled sample data is loaded into an empty store."""
    con = engine.connect(path)
    engine.sweep_staging(con.cursor())  # what closed tabs and killed processes left in staging
    inbox.watch(engine.db_path(path), con)  # `segmint load` from cron hands its loads to this process
    if engine.data_version(con) == 0 and sum(engine.table_counts(con).values()) == 0:
        engine.load_sample(con.cursor())
    return con


def cursor() -> engine.Connection:
    """A fresh cursor on the shared connection for this script run (cursors are cheap and thread-local)."""
    return _store(str(engine.db_path())).cursor()


def data_version() -> int:
    """The store's current data version; pass it to every ``st.cache_data`` function as its first argument."""
    return engine.data_version(cursor())


def date_range() -> tuple[dt.date, dt.date] | None:
    """The global date-range filter chosen in the sidebar, or None for all dates."""
    value = st.session_state.get("global_date_range")
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(value):
        return value[0], value[1]
    return None


@st.cache_data(show_spinner=False, max_entries=32)
def order_date_bounds(version: int) -> tuple[dt.date, dt.date] | None:
    """First and last order date (``engine.data_bounds``)."""
    return engine.data_bounds(cursor())


def default_as_of(version: int) -> dt.date:
    """The date segments and personas are measured at: the end of the sidebar range, never past the last
    order (the sidebar also spans campaign dates); today when there are no orders."""
    bounds = order_date_bounds(version)
    chosen = date_range()
    if chosen and bounds:
        return min(chosen[1], bounds[1])
    if chosen:
        return chosen[1]
    return bounds[1] if bounds else dt.date.today()


@st.cache_data(show_spinner=False, max_entries=32)
def date_bounds(version: int) -> tuple[dt.date, dt.date] | None:
    """First and last date over orders and campaign rows: the range of the sidebar's date filter."""
    return engine.date_span(cursor())


@st.cache_data(show_spinner=False, max_entries=32)
def table_counts(version: int) -> dict[str, int]:
    return engine.table_counts(cursor())


@st.cache_data(show_spinner=False, max_entries=32)
def customer_count(version: int) -> int:
    """Customers in the customers table, orders and interactions together (the sidebar's count)."""
    return engine.customer_count(cursor())


@st.cache_data(show_spinner=False, max_entries=32)
def product_count(version: int) -> int:
    """Products in the products table, order lines and interactions together (the sidebar's count)."""
    return engine.product_count(cursor())


CLUSTER_SETTINGS = "segments_cluster_settings"


def cluster_params() -> engine.ClusterParams:
    """The clustering chosen on the Segments page (automatic k and no attributes until then); the Personas
    page builds its cluster cards with the same settings."""
    value = st.session_state.get(CLUSTER_SETTINGS)
    return value if isinstance(value, engine.ClusterParams) else engine.ClusterParams()


def set_cluster_params(params: engine.ClusterParams) -> None:
    st.session_state[CLUSTER_SETTINGS] = params
