"""SketchLab: draw a doodle and watch two networks guess it; explore Quick Draw; train models.

    streamlit run app.py

A multipage app (st.navigation): Draw (default), Explore, Train. The sidebar shows where
the data comes from and which models are in use. Pages hold widgets and layout only;
the work is done by the `sketchlab` library.
"""

import streamlit as st

from pages.common import settings, sidebar, user_errors

st.set_page_config(page_title="SketchLab", page_icon=":material/draw:", layout="wide")

page = st.navigation(
    [
        st.Page("pages/draw.py", title="Draw", icon=":material/draw:", default=True),
        st.Page("pages/explore.py", title="Explore", icon=":material/search:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    ]
)
s = settings()
sidebar(s)
try:
    page.run()
except user_errors() as exc:
    st.error(f"Something went wrong: {exc}")
except Exception as exc:  # the last line of defence: words, never a traceback
    st.error(f"Unexpected error ({type(exc).__name__}): {exc}. Please report it with the steps that led here.")
