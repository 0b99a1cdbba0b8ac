"""Entry point: `streamlit run app.py`. Page config, once-per-server start-up, navigation."""

from pathlib import Path

import streamlit as st

from app_pages import common, presenter_ui, styles
from mnist_models.nets import registry

# A bundled icon: an emoji or a Material icon would be fetched from the internet.
ICON = str(Path(__file__).resolve().parent / "assets" / "favicon.png")
TITLE = "MNIST: " + " vs ".join(common.names().values())  # "MNIST: MLP vs ConvNet"
st.set_page_config(page_title=TITLE, page_icon=ICON, layout="wide")
styles.app_style()


@st.cache_resource(show_spinner=False)
def start_once() -> None:
    """Once per server process: remove files that saves killed mid-way left behind, and
    make the presenter's gate (a generated passcode is printed in the terminal)."""
    registry.cleanup()
    presenter_ui.gate()


start_once()

pages = [
    st.Page("app_pages/draw.py", title="Draw a digit", icon=":material/draw:", default=True),
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
st.navigation(pages, position="top").run()
