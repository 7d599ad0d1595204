"""recommendations page (being written)."""

import streamlit as st

st.title("Recommendations")
st.info("Coming soon.")
