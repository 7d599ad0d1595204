"""personas page (being written)."""

import streamlit as st

st.title("Personas")
st.info("Coming soon.")
