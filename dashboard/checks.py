"""Warnings a page shows when its tables do not talk about the same customers, products or campaigns."""

from __future__ import annotations

import streamlit as st

import engine
from dashboard import state


@st.cache_data(show_spinner=False, max_entries=16)
def id_warnings(version: int, tables: tuple[str, ...] | None = None) -> list[str]:
    """Sentences about tables that share no ids or few (``engine.id_warnings``), per data version."""
    return engine.id_warnings(state.cursor(), tables)


def show_id_warnings(version: int, tables: tuple[str, ...] | None = None) -> None:
    """One warning per pair of tables (touching ``tables``) that share no ids or few."""
    for warning in id_warnings(version, tables):
        st.warning(
            warning,
            icon=":material/link_off:",
        )
