"""Segmint's entry point: page config, navigation and the shared sidebar; pages live in app_pages/."""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

import engine
from dashboard import auth, components, date_filter, share, state, views
from dashboard.charts import theme

PAGES_DIR = Path(__file__).parent / "app_pages"
started = time.perf_counter()

st.set_page_config(page_title="Segmint", page_icon=":material/donut_large:", layout="wide")
theme.use()
share.card_style()

PAGES = {
    "Analyse": [
        st.Page(PAGES_DIR / "overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page(PAGES_DIR / "segments.py", title="Segments", icon=":material/donut_large:"),
        st.Page(PAGES_DIR / "builder.py", title="Segment builder", icon=":material/filter_alt:"),
        st.Page(PAGES_DIR / "personas.py", title="Personas", icon=":material/groups:"),
        st.Page(PAGES_DIR / "recommendations.py", title="Recommendations", icon=":material/recommend:"),
        st.Page(PAGES_DIR / "campaigns.py", title="Campaigns", icon=":material/campaign:"),
        st.Page(PAGES_DIR / "experiments.py", title="Experiments", icon=":material/science:"),
        st.Page(PAGES_DIR / "targeting.py", title="Targeting", icon=":material/ads_click:"),
        st.Page(PAGES_DIR / "predict.py", title="Predict", icon=":material/online_prediction:"),
    ],
    "Manage": [
        st.Page(PAGES_DIR / "data.py", title="Data", icon=":material/upload_file:"),
    ],
}

# The gate comes before any data: a visitor who is not signed in sees only the sign-in prompt, on every
# page and deep link (the pages stay registered, but hidden, so a deep link opens after signing in).
account = auth.signed_in()
presenting = account is not None and share.presenting()
page = st.navigation(PAGES, position="sidebar" if account and not presenting else "hidden")
if account is None:
    auth.login_prompt()

try:
    version = state.data_version()
except engine.EngineError as error:
    components.show_error(error)
    st.stop()

engine.use_currency(
    engine.currency_setting(state.cursor())
)  # every page writes money in the store's currency
recovery = engine.recovery_warning(state.cursor())
if recovery:
    st.error(recovery, icon=":material/report:")
    if auth.can("upload") and st.button(
        "I have checked the data: hide this warning", icon=":material/done:", key="segmint_recovery_checked"
    ):
        engine.clear_recovery_warning(state.cursor())
        st.rerun()

if presenting:  # the story full-screen: no sidebar, settings or uploads (dashboard/share.py)
    views.restore_from_url(state.date_bounds(version))  # ?present=1&from=...&to=... presents those dates
    share.presentation(*(state.date_range() or (None, None)))
    st.stop()

with st.sidebar:
    st.markdown("### :material/donut_large: Segmint")
    counts = state.table_counts(version)
    st.caption(
        f"{state.customer_count(version):,} customers · {counts['orders']:,} order lines · "
        f"{state.product_count(version):,} products · data version {version}"
    )
    views.restore_from_url(state.date_bounds(version))  # a shared link's filters, once
    date_filter.sidebar_range(state.date_bounds(version))
    share.presentation_switch()
    views.share_box(page)
    auth.account_box(account)

components.sample_banner()
components.run_page(page, started)
