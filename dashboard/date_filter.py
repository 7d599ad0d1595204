"""The sidebar's date range: it follows the data after every load (anyone's) unless the person set it."""

from __future__ import annotations

import datetime as dt

import streamlit as st

KEY = "global_date_range"
STATE = "global_date_range_state"


def _chosen(value) -> tuple[dt.date, dt.date] | None:
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(value):
        return value[0], value[1]
    return None


def _mark_user_set() -> None:
    memo = st.session_state.get(STATE) or {}
    memo["user_set"] = True
    memo["set_for"] = memo.get("bounds")
    st.session_state[STATE] = memo


def _follow_data() -> None:
    memo = st.session_state.get(STATE) or {}
    memo["user_set"] = False
    if memo.get("bounds"):
        st.session_state[KEY] = memo["bounds"]
    st.session_state[STATE] = memo


def sidebar_range(bounds: tuple[dt.date, dt.date] | None) -> None:
    """Draw the date range over ``bounds`` (first and last date of the data).

    While the person has not touched it, the range is the whole data and follows every load, also one
    made by another user (the bounds change with the data version). Once set by hand it stays, and when
    the data has changed since and the range no longer covers it, a note says so with a way back.
    """
    if not bounds:
        return
    memo = st.session_state.get(STATE)
    if memo is None or (not memo.get("user_set") and memo.get("bounds") != bounds):
        st.session_state[KEY] = bounds
        memo = {"bounds": bounds, "user_set": False, "set_for": None}
    memo["bounds"] = bounds
    st.session_state[STATE] = memo
    chosen = _chosen(st.session_state.get(KEY))
    lo, hi = bounds
    if chosen:  # the widget refuses a value outside its limits: widen them to the person's choice
        lo, hi = min(lo, chosen[0]), max(hi, chosen[1])
    st.date_input(
        "Date range",
        min_value=lo,
        max_value=hi,
        key=KEY,
        on_change=_mark_user_set,
        help="Filters orders on the Overview and campaign rows on the Campaigns page. It covers all the data "
        "and follows every load until you change it.",
    )
    if memo.get("user_set") and chosen and memo.get("set_for") != bounds:
        if chosen[0] > bounds[0] or chosen[1] < bounds[1]:
            st.warning(
                f"Your date range ({chosen[0]:%b %d, %Y} - {chosen[1]:%b %d, %Y}) no longer covers the data, "
                f"which now runs from {bounds[0]:%b %d, %Y} to {bounds[1]:%b %d, %Y}.",
                icon=":material/date_range:",
            )
            st.button("Show all dates", key="date_range_follow", on_click=_follow_data)
