"""Entry point: `streamlit run app.py`. Page config, once-per-server start-up, navigation.

Torch-free to import (as app_pages/startup.py and the top of app_pages/draw.py): the
drawing page, the first one a visitor sees, puts its canvas on the screen before torch
is imported, then runs the start-up; every other page runs it first.
"""

from pathlib import Path

import streamlit as st

from app_pages import session_message, startup, styles

# Streamlit's start-of-run message built once per config, not at every run (about 8% of the
# server's CPU per drawing with a room of phones): app_pages/session_message.py.
session_message.install()

# A bundled icon: an emoji or a Material icon would be fetched from the internet.
ICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")
# The title is completed with the networks' names by startup.ready().
st.set_page_config(page_title="MNIST", page_icon=ICON, layout="wide")
styles.app_style()

DRAW = st.Page("app_pages/draw.py", title="Draw a digit", icon=":material/draw:", default=True)
pages = [
    DRAW,
    st.Page("app_pages/retrain.py", title="Retrain", icon=":material/model_training:"),
    st.Page("app_pages/explorer.py", title="Test-set explorer", icon=":material/grid_view:"),
    st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
    st.Page(
        "app_pages/room_wall.py", title="Audience wall", icon=":material/groups:", url_path="wall"
    ),
    st.Page(
        "app_pages/room_phone.py",
        title="Join a room",
        icon=":material/smartphone:",
        url_path="join",
    ),
]
# Pages along the top: the full width goes to the canvas and the answers.
page = st.navigation(pages, position="top")
if page is not DRAW:  # the drawing page runs it once its canvas is on the screen
    startup.ready()
page.run()
