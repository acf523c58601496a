"""Draw: a canvas, and after every stroke the top-k guesses of the models side by side.

Live: a stroke reruns only `drawing_area`, a fragment holding the canvas, its Undo and
Clear buttons, the guesses and "Keep this drawing"; the title, the controls and the
sidebar run once per visit. The models are numpy networks shared by every session (`sketchlab.inference`,
no TensorFlow), loaded before the canvas is shown, so the first stroke is as quick as
any other; the guesses are one small block of HTML (`sketchlab.guesses`).

"Keep this drawing" saves the strokes with a label (`sketchlab.userdata`): one click on a
guessed class (the correction, when the models were wrong), or a class picked or typed.
A person's own taught models (`sketchlab.taught`, from the Train page) can be picked
next to the shared ones, for them only.
"""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from app_pages.common import (access, canvas_fixes, literal, explained, models_in_use, no_models_message,
                              predictor_for, settings, sidebar, user_errors)
from sketchlab import taught, userdata
from sketchlab.access import Access
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

who = access()
# This person's taught models (the teacher's view: everybody's), read once per visit.
mine = {}
with explained("list your taught models"):
    for t in taught.list_taught(s.home_dir, who):
        if t.done:
            info = taught.model_info(t)
            mine[info.kind] = info
choices = {**models, **mine}

known = sorted({c for info in models.values() for c in info.classes}, key=str.lower)
st.caption("The models know: " + ", ".join(known))

default_kinds = [k for k in ("mlp", "cnn", taught.PROMOTED_KIND) if k in models] or list(models)[:2]
tried = st.session_state.pop("draw_try", None)  # "Try it on the Draw page" on the Train page
if tried in mine:
    st.session_state["draw_models"] = default_kinds + [tried]
c1, c2, c3 = st.columns([1, 1, 2])
stroke_width = c1.slider("Stroke width", 2, 40, 12, key="draw_stroke_width")
k = c2.slider("Guesses per model (top-k)", 1, 10, 3, key="draw_k")
shown = c3.multiselect(
    "Models", list(choices), default=None if "draw_models" in st.session_state else default_kinds,
    key="draw_models", format_func=lambda kind: (f"{choices[kind].name} ({kind})" if kind in models else
                                                 f"{choices[kind].name} (yours)"),
)
shown = [kind for kind in shown if kind in choices] or default_kinds

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


def _keep(label) -> None:
    """Save the drawing on the canvas as `label` (a button's callback); a new drawing starts."""
    who = access()
    try:
        saved = userdata.save_drawing(s.home_dir, st.session_state.get("draw_strokes"), label, who)
    except user_errors() as exc:
        st.session_state.draw_kept = ("error", f"Could not keep the drawing: {exc}")
        return
    own = Access(owner=who.owner, name=who.name, teacher=False)
    n = len(userdata.list_drawings(s.home_dir, own, saved.label))
    st.session_state.draw_kept = ("ok", f"Kept as **{literal(saved.label)}**: you have kept {n} "
                                        f"drawing{'s' if n != 1 else ''} of it. Draw the next one!")
    st.session_state.draw_last_kept = saved.label
    _restart(None)


def _keep_picked() -> None:
    _keep(st.session_state.get("draw_keep_new") or st.session_state.get("draw_keep_pick"))


def keep_controls(guessed: list[str], has_strokes: bool) -> None:
    """"Keep this drawing": one click on a guessed class (or the class kept last), or pick/type one."""
    kept = st.session_state.pop("draw_kept", None)
    if kept:
        (st.success if kept[0] == "ok" else st.error)(kept[1])
    if not has_strokes:
        return
    last = st.session_state.get("draw_last_kept")
    quick = list(dict.fromkeys(([last] if last else []) + guessed))[:4]
    own = userdata.own_classes(userdata.owner_dir(s.home_dir, who))  # a folder listing: cheap per stroke
    with st.container(border=True):
        st.markdown("**Keep this drawing** · right or wrong, one click saves it under its real name")
        cols = st.columns(len(quick) or 1)
        for col, label in zip(cols, quick):
            col.button(f"It's {label}", key=f"draw_keep_as_{label}", on_click=_keep, args=(label,),
                       width="stretch")
        p1, p2, p3 = st.columns([3, 3, 2], vertical_alignment="bottom")
        p1.selectbox("This is a …", list(dict.fromkeys(own + known)), index=None, key="draw_keep_pick",
                     placeholder="pick a class")
        p2.text_input("or a new class", key="draw_keep_new", placeholder="e.g. cat", max_chars=userdata.MAX_CLASS_NAME)
        # Never disabled: a typed name is sent with the click (the field commits on blur).
        p3.button("Keep", key="draw_keep_button", on_click=_keep_picked, icon=":material/bookmark_add:")


@st.fragment
def drawing_area(shown: list[str], k: int, stroke_width: int) -> None:
    use = models_in_use(s)  # a stat per model file: a promotion counts from the next stroke
    models = {**use.models, **mine}
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
        strokes = strokes_from_canvas(result.json_data)
        st.session_state.draw_strokes = strokes
        guessed = []
        with explained("make a prediction"):
            guessed = show_guesses(use, models, shown, strokes, k)
        keep_controls(guessed, bool(strokes))


def show_guesses(use, models: dict, shown: list[str], strokes, k: int) -> list[str]:
    """The models' guesses (or the prompt); returns the guessed labels, each model's first first."""
    if not strokes or not shown:
        st.info(PROMPT)
        return []
    prediction = predictor_for(use, shown, mine).predict_strokes(strokes, k=k)
    if prediction.empty:
        st.info(PROMPT)
        return []
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
    ranked = [label for depth in range(k) for answer in prediction.top_k.values() if depth < len(answer)
              for label in [answer[depth][0]]]
    return list(dict.fromkeys(ranked))


canvas_fixes()
# The guesses' styles, sent once per visit; it also makes the browser load its HTML element
# before the first stroke, not after it.
st.html(STYLE)
drawing_area(shown, k, stroke_width)
