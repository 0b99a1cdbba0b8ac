"""A tiny Streamlit app for test_browser_markdown.py: each title from $MD_TITLES, escaped
with md_escape and shown the ways the pages show titles; plus one unescaped control."""

import json
import os

import streamlit as st

from mnist_models.text import md_escape

st.markdown("![control](http://example.com/control.png) **control**", unsafe_allow_html=True)
for i, title in enumerate(json.loads(os.environ["MD_TITLES"])):
    safe = md_escape(title)
    with st.container(key=f"markdown-{i}"):
        st.markdown(safe)
    with st.container(key=f"caption-{i}"):
        st.caption(safe)
    with st.container(key=f"html-{i}"):  # as the pages do with unsafe_allow_html=True
        st.markdown(f"Active now: {safe} · 99.5% test", unsafe_allow_html=True)
st.markdown("rendered-all")
