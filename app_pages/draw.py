"""Draw: a canvas, and after every stroke the top-k guesses of the models side by side."""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages.common import explained, no_models_message, predictor_for, settings, sidebar
from sketchlab import plots, registry
from sketchlab.canvas import strokes_from_canvas

CANVAS_SIZE = 400
BAR_COLORS = ("#1f77b4", "#e4572e", "#2a9d8f", "#8d6cab")

s = settings()
sidebar(s)
st.title("Draw")

models = registry.active_models(s)
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

# Clearing or undoing remounts the canvas under a new key with the wanted starting drawing.
st.session_state.setdefault("draw_generation", 0)
st.session_state.setdefault("draw_initial", None)
canvas_key = f"draw_canvas_{st.session_state.draw_generation}"

left, right = st.columns([1, 1], gap="medium")
with left:
    result = st_canvas(
        stroke_width=stroke_width, stroke_color="#000000", background_color="#fbfaf7",
        height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw",
        initial_drawing=st.session_state.draw_initial, key=canvas_key,
    )
    objects = list((result.json_data or {}).get("objects") or [])
    b1, b2, _ = st.columns([1, 1, 1])
    if b1.button("Undo", icon=":material/undo:", disabled=not objects, key="draw_undo"):
        st.session_state.draw_initial = {"objects": objects[:-1]}
        st.session_state.draw_generation += 1
        st.rerun()
    if b2.button("Clear", icon=":material/delete:", disabled=not objects, key="draw_clear"):
        st.session_state.draw_initial = None
        st.session_state.draw_generation += 1
        st.rerun()

PROMPT = ("✏️ Draw something on the canvas — an apple, a banana, the Eiffel Tower… "
          "The models guess after every stroke.")

with right:
    strokes = strokes_from_canvas(result.json_data)
    if not strokes:
        st.info(PROMPT)
        st.stop()
    with explained("make a prediction"):
        predictor = predictor_for({kind: models[kind] for kind in shown})
        prediction = predictor.predict_strokes(strokes, k=k)
        if prediction.empty:
            st.info(PROMPT)
            st.stop()

        firsts = {kind: answer[0][0] for kind, answer in prediction.top_k.items() if answer}
        agree = prediction.agree()
        if agree:
            st.success(f"The models agree: **{next(iter(firsts.values()))}**")
        elif agree is False:
            said = "; ".join(f"{models[kind].name} says **{label}**" for kind, label in firsts.items())
            st.warning(f"The models disagree: {said}")

        cols = st.columns(len(shown))
        for i, (col, kind) in enumerate(zip(cols, shown)):
            info = models[kind]
            with col:
                st.markdown(f"**{info.name}**")
                st.caption(info.details)
                if prediction.errors.get(kind):
                    st.error(prediction.errors[kind])
                    continue
                st.plotly_chart(
                    plots.topk_figure(prediction.top_k[kind], color=BAR_COLORS[i % len(BAR_COLORS)]),
                    key=f"draw_bars_{kind}", config={"displayModeBar": False},
                )
        c_img, c_text = st.columns([1, 2])
        with c_img:
            st.plotly_chart(plots.image_figure(prediction.image, height=180), key="draw_seen",
                            config={"displayModeBar": False})
        c_text.caption(
            "What the models saw: your strokes normalized and rasterized to 28×28 exactly like "
            f"the training drawings ({len(strokes)} stroke{'s' if len(strokes) != 1 else ''})."
        )
