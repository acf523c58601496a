"""Draw: a canvas, and after every stroke the top-k guesses of the models side by side.

Live: a stroke reruns only `drawing_area`, a fragment holding the canvas, its Undo and
Clear buttons and the guesses; the title, the controls and the sidebar run once per
visit. The models are numpy networks shared by every session (`sketchlab.inference`,
no TensorFlow), loaded before the canvas is shown, so the first stroke is as quick as
any other; the guesses are one small block of HTML (`sketchlab.guesses`).
"""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages.common import (canvas_fixes, literal, explained, models_in_use, no_models_message,
                              predictor_for, settings, sidebar)
from sketchlab.canvas import strokes_from_canvas
from sketchlab.guesses import STYLE, ModelGuesses, guesses_html

CANVAS_SIZE = 400
PROMPT = ("✏️ Draw something on the canvas — an apple, a banana, the Eiffel Tower… "
          "The models guess after every stroke.")

s = settings()
sidebar(s, data=False)
st.title("Draw")

# Loaded before the canvas is shown (once per model file, for every session), so the first
# stroke is as quick as any other; a model that cannot be loaded is named in the sidebar.
models = models_in_use(s).models
if not models:
    st.error(no_models_message(s))
    st.stop()

known = sorted({c for info in models.values() for c in info.classes}, key=str.lower)
st.caption("The models know: " + ", ".join(known))

default_kinds = [k for k in ("mlp", "cnn") if k in models] or list(models)[:2]
c1, c2, c3 = st.columns([1, 1, 2])
stroke_width = c1.slider("Stroke width", 2, 40, 12, key="draw_stroke_width")
k = c2.slider("Guesses per model (top-k)", 1, 10, 3, key="draw_k")
shown = c3.multiselect(
    "Models", list(models), default=default_kinds, key="draw_models",
    format_func=lambda kind: f"{models[kind].name} ({kind})",
)
shown = [kind for kind in shown if kind in models] or default_kinds

# Undo and Clear remount the canvas under a new key with the wanted starting drawing.
st.session_state.setdefault("draw_generation", 0)
st.session_state.setdefault("draw_initial", None)
st.session_state.setdefault("draw_objects", [])


def _restart(initial) -> None:
    st.session_state.draw_initial = initial
    st.session_state.draw_objects = list((initial or {}).get("objects") or [])
    st.session_state.draw_generation += 1


def _undo() -> None:
    _restart({"objects": st.session_state.draw_objects[:-1]})


@st.fragment
def drawing_area(shown: list[str], k: int, stroke_width: int) -> None:
    use = models_in_use(s)  # a stat per model file: a promotion counts from the next stroke
    models = use.models
    shown = [kind for kind in shown if kind in models]
    left, right = st.columns([1, 1], gap="medium")
    with left:
        result = st_canvas(
            stroke_width=stroke_width, stroke_color="#000000", background_color="#fbfaf7",
            height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw",
            initial_drawing=st.session_state.draw_initial,
            key=f"draw_canvas_{st.session_state.draw_generation}",
        )
        objects = list((result.json_data or {}).get("objects") or [])
        st.session_state.draw_objects = objects
        b1, b2, _ = st.columns([1, 1, 1])
        b1.button("Undo", icon=":material/undo:", disabled=not objects, key="draw_undo", on_click=_undo)
        b2.button("Clear", icon=":material/delete:", disabled=not objects, key="draw_clear",
                  on_click=_restart, args=(None,))

    with right:
        with explained("make a prediction"):
            strokes = strokes_from_canvas(result.json_data)
            if not strokes or not shown:
                st.info(PROMPT)
                return
            prediction = predictor_for(use, shown).predict_strokes(strokes, k=k)
            if prediction.empty:
                st.info(PROMPT)
                return
            firsts = {kind: answer[0][0] for kind, answer in prediction.top_k.items() if answer}
            agree = prediction.agree()
            if agree:
                st.success(f"The models agree: **{literal(next(iter(firsts.values())))}**")
            elif agree is False:
                st.warning("The models disagree: " + "; ".join(
                    f"{literal(models[kind].name)} says **{literal(label)}**" for kind, label in firsts.items()))
            guesses = [ModelGuesses(models[kind].name, models[kind].details, prediction.top_k.get(kind, []),
                                    prediction.errors.get(kind, "")) for kind in shown]
            st.html(guesses_html(guesses, prediction.image, len(strokes)))


canvas_fixes()
# The guesses' styles, sent once per visit; it also makes the browser load its HTML element
# before the first stroke, not after it.
st.html(STYLE)
drawing_area(shown, k, stroke_width)
