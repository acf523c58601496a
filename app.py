"""SketchLab: draw a doodle and watch two networks guess it; explore Quick Draw; train models.

    streamlit run app.py

A multipage app (st.navigation): Draw (default), Explore, Train. Every page starts with
the same sidebar (`app_pages.common.sidebar`): where the data comes from, whether it is
there, and which models are in use. Pages hold widgets and layout only; the work is done
by the `sketchlab` library.

The pages live in `app_pages/`, not `pages/`: Streamlit 1.67 treats a `pages/` folder
next to the main script as an old-style multipage app until the first session calls
st.navigation, so a first visit straight to /train would run that page without this file.
"""

import streamlit as st

from app_pages.common import user_errors
from sketchlab.errors import bug_report

st.set_page_config(page_title="SketchLab", page_icon=":material/draw:", layout="wide")

page = st.navigation(
    [
        st.Page("app_pages/draw.py", title="Draw", icon=":material/draw:", default=True),
        st.Page("app_pages/explore.py", title="Explore", icon=":material/search:"),
        st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    ]
)
try:
    page.run()
except user_errors() as exc:
    st.error(f"Something went wrong: {exc}")
except Exception as exc:  # the last line of defence: a bug id in words, the traceback in the server log
    st.error(bug_report(exc))
