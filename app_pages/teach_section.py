"""The Train page's "Teach a model new classes": pick classes (your own kept drawings among
them), train in the background, try the new model on the Draw page, promote it.

A part of the Train page, not a page: `teach_section` is called by `app_pages/train.py`.
It is a fragment, polling once a second while one of the person's models is training, so
its progress moves without rerunning the sweeps below it. The work is `sketchlab.taught`
(the background job) and `sketchlab.newclass` (the recipe).
"""

from __future__ import annotations

import streamlit as st

from app_pages.common import access, data_overview, explained, literal, settings, user_errors
from sketchlab import newclass, taught, userdata
from sketchlab.categories import QUICKDRAW_10

SHOWN_MODELS = 8


def _counts(s, who) -> tuple[dict[str, int], dict[str, int]]:
    """({class: kept drawings this person may use}, {class: drawings in the data folder})."""
    kept = userdata.class_counts(s.home_dir, who)
    try:
        data = {name: c.total for name, c in data_overview(s).items()}
    except user_errors():
        data = {}
    return kept, data


def _verdict(n: int) -> str:
    if n < newclass.MIN_DRAWINGS:
        return f"too few: at least {newclass.MIN_DRAWINGS} are needed"
    if n < newclass.GOOD_DRAWINGS:
        return f"few: {newclass.GOOD_DRAWINGS}–20 work better"
    return "enough"


def _start(classes: list[str]) -> None:
    s, who = settings(), access()
    try:
        t = taught.start_teaching(s, classes, who, name=st.session_state.get("teach_name", ""))
    except user_errors() as exc:
        st.session_state["teach_note"] = ("error", f"Could not start training: {exc}")
        return
    st.session_state["teach_note"] = ("ok", f"Training **{literal(t.name)}** in the background…")


def _picker(s, who) -> None:
    kept, data = _counts(s, who)
    order = list(kept) + [c for c in QUICKDRAW_10 if c in data and c not in kept]
    order += sorted((c for c in data if c not in order), key=str.lower)
    if not order:
        st.info("No drawings to learn from yet: keep some on the Draw page with “This is a …”, or get the "
                "Quick Draw data (see the sidebar).")
        return
    st.session_state.setdefault("teach_classes", list(kept) + [c for c in QUICKDRAW_10 if c in data])

    def label(c: str) -> str:
        parts = ([f"{kept[c]} kept"] if c in kept else []) + ([f"{data[c]:,} in the data"] if c in data else [])
        return f"{c} ({', '.join(parts)})"

    picked = st.multiselect("Classes the new model tells apart", order, key="teach_classes", format_func=label,
                            help="Your own classes come first, then QuickDraw-10, then every other class with "
                                 "drawings here (e.g. the 334 other Quick Draw classes).")
    thin = [c for c in picked if kept.get(c, 0) + data.get(c, 0) < newclass.MIN_DRAWINGS]
    if picked:
        rows = []
        for c in picked:
            n = kept.get(c, 0) + data.get(c, 0)
            rows.append({"class": c, "kept drawings": kept.get(c, 0), "in the data folder": data.get(c, 0),
                         f"used (at most {newclass.PER_CLASS})": min(n, newclass.PER_CLASS), "": _verdict(n)})
        st.table(rows, hide_index=True)
    if thin:
        st.warning(f"Too few drawings of {', '.join(thin)} to learn from: draw at least {newclass.MIN_DRAWINGS} "
                   "and keep them with “This is a …” on the Draw page, or leave the class out.")
    n1, n2 = st.columns([3, 1], vertical_alignment="bottom")
    n1.text_input("Name of the new model (optional)", key="teach_name", max_chars=40,
                  placeholder="e.g. our class's cats")
    n2.button("Train", type="primary", key="teach_train", on_click=_start, args=(picked,),
              disabled=len(picked) < 2 or bool(thin), icon=":material/school:", width="stretch")
    note = st.session_state.pop("teach_note", None)
    if note:
        (st.success if note[0] == "ok" else st.error)(note[1])


def _promote(model_id: str) -> None:
    s = settings()
    try:
        taught.promote_taught(s, model_id, access())
    except user_errors() as exc:
        st.session_state["teach_models_note"] = ("error", f"Could not promote it: {exc}")
        return
    st.session_state["teach_models_note"] = ("ok", "Promoted: everybody's Draw page shows it now, next to the "
                                                   "shipped models.")


def _delete(model_id: str) -> None:
    try:
        taught.delete_taught(settings().home_dir, model_id, access())
    except user_errors() as exc:
        st.session_state["teach_models_note"] = ("error", f"Could not delete it: {exc}")


def _models(s, who, models: list) -> None:
    note = st.session_state.pop("teach_models_note", None)
    if note:
        (st.success if note[0] == "ok" else st.error)(note[1])
    if not models:
        return
    st.markdown("**Your taught models**" if not (who.classroom and who.teacher) else "**Taught models** (everybody's)")
    for i, t in enumerate(models[:SHOWN_MODELS]):
        with st.container(border=True):
            who_made = f" · by {literal(t.owner_name or 'a student')}" if who.classroom and who.teacher else ""
            st.markdown(f"**{literal(t.name)}** · {literal(', '.join(t.classes))} · {t.created[:16].replace('T', ' ')}"
                        f"{who_made}")
            if t.active:
                st.progress(min(1.0, max(0.0, t.fraction)), text=t.message or t.state)
            elif t.state == "failed":
                st.error(f"Training failed: {t.message}")
            else:
                st.caption(t.message)
            b1, b2, b3 = st.columns(3)
            if t.done and b1.button("Try it on the Draw page", key=f"teach_try_{i}", icon=":material/draw:"):
                st.session_state["draw_try"] = f"yours:{t.id}"
                st.switch_page("app_pages/draw.py")
            if t.done:
                b2.button("Promote for everybody", key=f"teach_promote_{i}", on_click=_promote, args=(t.id,),
                          disabled=not who.teacher,
                          help=None if who.teacher else "Only the teacher can put a model on everybody's Draw page.")
            b3.button("Delete", key=f"teach_delete_{i}", on_click=_delete, args=(t.id,), icon=":material/delete:")


def _section() -> None:
    s, who = settings(), access()
    models = taught.list_taught(s.home_dir, who)
    if any(t.active for t in models) != st.session_state.get("teach_polling"):
        st.rerun(scope="app")  # start polling for a new job, or stop: the Draw page's model list changed
    _picker(s, who)
    _models(s, who, models)


def teach_section() -> None:
    s, who = settings(), access()
    models = []
    with explained("list the taught models"):
        models = taught.list_taught(s.home_dir, who)
    # Open for whoever has kept drawings or taught models; a folder listing, no file read.
    mine = bool(models) or bool(userdata.own_classes(userdata.owner_dir(s.home_dir, who)))
    with st.expander("Teach a model new classes", expanded=mine):
        st.markdown(
            "Draw something new on the **Draw** page 10–20 times and keep each drawing with "
            "**This is a …**. Then pick it here with the classes it should be told apart from, and press "
            f"**Train**. A class needs at least {newclass.MIN_DRAWINGS} drawings; {newclass.GOOD_DRAWINGS}–20 "
            "of one person's make a usable class. The new model reuses what the shipped strong model learned "
            "(its features) and learns only a new last layer, with distorted copies of the few drawings: it "
            "takes about 15 seconds."
        )
        with explained("show the taught models"):
            polling = any(t.active for t in models)
            st.session_state["teach_polling"] = polling
            st.fragment(run_every=1 if polling else None)(_section)()
