"""Reusable widgets: KPI rows, the error box, empty states, safe CSV downloads, the sample-data banner."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

import engine
from dashboard import state


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    delta: str | None = None
    help: str | None = None
    delta_color: str = "normal"


def kpi_row(kpis: Sequence[Kpi]) -> None:
    """A row of metric cards."""
    columns = st.columns(len(kpis))
    for column, kpi in zip(columns, kpis, strict=True):
        column.metric(
            kpi.label, kpi.value, kpi.delta, help=kpi.help, delta_color=kpi.delta_color, border=True
        )


# The characters that make markdown fetch, link, format or run something in Streamlit (images and links,
# emphasis, code, HTML, :icons: and :colour[...], $maths$, tables, headings): a backslash before each shows
# it as itself. Plain punctuation (. , - ( )) is left alone so messages read and search as written.
_MARKDOWN_SPECIAL = str.maketrans({ch: "\\" + ch for ch in "\\`*_{}[]<>#!|~$:&"})


def plain(text: object) -> str:
    """A user-supplied string (a file or header name, a value) shown as itself inside markdown and labels:
    never a link, an image, HTML or formatting."""
    return str(text).translate(_MARKDOWN_SPECIAL)


def show_error(error: engine.EngineError) -> None:
    """The one place an engine error becomes a message: friendly, specific, no traceback. Messages name
    files, columns and values from uploads, so they are shown as plain text."""
    if isinstance(error, engine.InsufficientDataError):
        st.info(plain(error), icon=":material/info:")
    else:
        st.error(plain(error), icon=":material/error:")


def guest_caption(guests: engine.GuestOrders, revenue: float | None = None) -> None:
    """One line where customer analyses leave guest orders out: "N guest orders ($X, Y% of revenue) are not
    in customer analyses". Nothing when there are none. ``revenue`` gives the share when ``guests`` has none."""
    if not guests.orders and not guests.revenue:
        return
    share = guests.revenue_share
    if share is None and revenue:
        share = guests.revenue / revenue
    money = fmt_money(guests.revenue)
    of_revenue = f"{money}, {share:.1%} of revenue" if share is not None else money
    st.caption(
        f":material/person_off: {guests.orders:,} guest order{'s' if guests.orders != 1 else ''} "
        f"({of_revenue}) are not in customer analyses: they have no customer id.",
        help="Guest orders count in revenue, orders and average order; customers, repeat rate, segments, "
        "clusters and personas are about customers, so they leave guests out.",
    )


def server_log(name: str) -> logging.Logger:
    """A ``segmint.*`` logger whose records reach the server log (standard error) at INFO and above, unless
    logging was configured elsewhere (then they go where that configuration says)."""
    parent = logging.getLogger("segmint")
    if parent.level == logging.NOTSET:
        parent.setLevel(logging.INFO)
    if not parent.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        parent.addHandler(handler)
        parent.propagate = False
    return logging.getLogger(name)


# Runs slower than this many seconds are logged as slow; with $SEGMINT_RUN_LOG=1 every run is logged (the
# load test in bench/ reads these lines to report the server's own run times).
SLOW_RUN_SECONDS = 5.0


def _log_run(page, started: float | None) -> None:
    if started is None:
        return
    seconds = time.perf_counter() - started
    every = os.environ.get("SEGMINT_RUN_LOG", "") not in ("", "0")
    if every or seconds >= SLOW_RUN_SECONDS:
        server_log("segmint.runs").log(
            logging.WARNING if seconds >= SLOW_RUN_SECONDS else logging.INFO,
            "run page=%s seconds=%.3f%s",
            getattr(page, "url_path", "") or "overview",
            seconds,
            " (slow)" if seconds >= SLOW_RUN_SECONDS else "",
        )


def run_page(page, started: float | None = None) -> None:
    """Run a page. An engine error becomes its friendly message; any other error shows only a short
    incident id, while the full traceback goes to the server log under that id. ``started``
    (``time.perf_counter()`` at the top of the script) times the whole run for the server log."""
    try:
        page.run()
        _log_run(page, started)
    except engine.EngineError as error:
        show_error(error)
    except Exception:
        incident = secrets.token_hex(4)
        server_log("segmint.incidents").exception(
            "Incident %s on page %r", incident, getattr(page, "url_path", page)
        )
        st.error(
            f"Something went wrong on this page. It was logged as incident **{incident}**: quote it when you "
            "report the problem. The other pages still work.",
            icon=":material/error:",
        )


def keep_state(*keys: str, **defaults) -> None:
    """Keep what a person chose in controls that are not drawn on this run (inside a tab that runs only
    while open): Streamlit forgets a widget's value after a run that did not draw it, unless the value is
    written back to the session state first. A control with a starting value takes it from ``defaults``
    (``key=value``) and is created without ``default=``/``value=`` (Streamlit warns when both set it)."""
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    for key in (*keys, *defaults):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def no_data(what: str, table: str) -> None:
    """Empty state: says what is missing and where to add it."""
    article = "an" if table[:1].lower() in "aeiou" else "a"  # "an orders file", "a campaigns file"
    st.info(
        f"No {what} yet. Upload {article} **{table}** file on the **Data** page to see this.",
        icon=":material/upload_file:",
    )


# Tables up to this many rows get their CSV built with the page (from a per-process cache keyed by their
# exact content); bigger ones get a "Prepare" button first, so a rerun never builds a huge file unasked.
EAGER_CSV_ROWS = 20_000
_CSV_CACHE_ENTRIES = 256


class _CsvCache:
    """CSV bytes by exact table content (a hash of every cell, the column names and types), shared by
    every session of the server process; least recently used entries go first."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.lock = threading.Lock()
        self.data: OrderedDict[str, bytes] = OrderedDict()

    @staticmethod
    def digest(frame: pd.DataFrame) -> str | None:
        try:
            cells = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
        except TypeError:  # cells pandas cannot hash (lists, dicts): build the CSV every time
            return None
        shape = repr([(str(name), str(dtype)) for name, dtype in frame.dtypes.items()]).encode()
        return hashlib.blake2b(cells + shape, digest_size=20).hexdigest()

    def get(self, frame: pd.DataFrame) -> bytes:
        key = self.digest(frame)
        if key is not None:
            with self.lock:
                if key in self.data:
                    self.data.move_to_end(key)
                    return self.data[key]
        data = engine.to_csv_bytes(frame)
        if key is not None:
            with self.lock:
                self.data[key] = data
                while len(self.data) > self.entries:
                    self.data.popitem(last=False)
        return data


@st.cache_resource(show_spinner=False)
def _csv_cache() -> _CsvCache:
    return _CsvCache(_CSV_CACHE_ENTRIES)


def csv_download(
    frame: pd.DataFrame, file_name: str, label: str = "Download CSV", key: str | None = None
) -> None:
    """A CSV download of ``frame``: formula injection neutralised, UTF-8 with BOM, RFC 4180.

    The file is part of the page (not built on click): Streamlit keeps a page's files until that person's
    next run, whereas a file built on click is unreferenced from the start and another person's finishing
    run may drop it before the browser fetches it. Big tables first show a button that prepares the file.
    """
    safe_name = re.sub(r"[^0-9A-Za-z._-]+", "_", file_name)
    if not safe_name.endswith(".csv"):
        safe_name += ".csv"
    key = key or f"dl_{safe_name}"
    if len(frame) > EAGER_CSV_ROWS:
        wanted = (safe_name, len(frame))
        ready_key = f"{key}__prepared"
        if st.session_state.get(ready_key) != wanted:
            # the click marks the file as wanted before the next run, which then shows only the download
            st.button(
                f"Prepare the CSV ({len(frame):,} rows)",
                icon=":material/download:",
                key=f"{key}__prepare",
                help=f"{label}: a big file, so it is built when you ask for it.",
                on_click=st.session_state.__setitem__,
                args=(ready_key, wanted),
            )
            return
    st.download_button(
        label,
        data=_csv_cache().get(frame),
        file_name=safe_name,
        mime="text/csv",
        icon=":material/download:",
        key=key,
        on_click="ignore",
    )


def sample_banner() -> None:
    """Say plainly when the store holds only the bundled sample data."""
    if engine.is_sample_data(state.cursor()):
        st.info(
            "You are looking at **sample data** (a made-up shop). Upload your own exports on the "
            "**Data** page: the first file you load sets the whole sample aside, so no page mixes it with "
            "yours (undo brings it back).",
            icon=":material/science:",
        )


def fmt_money(value: float | None, digits: int = 0) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"${value:,.{digits}f}" if value >= 0 else f"-${-value:,.{digits}f}"


def fmt_money_short(value: float | None) -> str:
    """$1.2M, $350k, $950: for KPI cards where space is short."""
    if value is None or pd.isna(value):
        return "n/a"
    sign = "-" if value < 0 else ""
    v = abs(value)
    if v >= 1e9:
        return f"{sign}${v / 1e9:.2f}B"
    if v >= 1e6:
        return f"{sign}${v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{sign}${v / 1e3:.0f}k"
    return f"{sign}${v:,.0f}"


def fmt_int(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:,.0f}"


def fmt_small(value: float, low: float, high: float) -> tuple[str, str, str]:
    """Three small numbers (an estimate and its interval) with one shared number of decimals, enough for
    two significant digits of the largest: 0.00032 (0.00006 to 0.00060), never 6.08e-05."""
    largest = max((abs(v) for v in (value, low, high) if v and math.isfinite(v)), default=0.0)
    decimals = max(0, 1 - math.floor(math.log10(largest))) if largest else 2
    return tuple(f"{v:.{decimals}f}" for v in (value, low, high))


def fmt_pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value * 100:.{digits}f}%"
