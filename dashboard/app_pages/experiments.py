"""experiments page (being written)."""

import streamlit as st

st.title("Experiments")
st.info("Coming soon.")
