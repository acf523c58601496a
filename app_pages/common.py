"""Streamlit glue the pages share: settings, cached loaders, the sidebar, errors in words.

Only caching and layout live here; what is computed comes from `sketchlab`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from sketchlab import explore, registry
from sketchlab.access import Access, is_owner_id, new_owner_id, password_matches
from sketchlab.data.dataset import NoDataError, no_data_message
from sketchlab.errors import SketchLabError
from sketchlab.data.formats import DataFormatError
from sketchlab.settings import Settings
from sketchlab.cards import ModelLoadError


def settings() -> Settings:
    """Read from the environment on every run (cheap), so tests and restarts see changes."""
    return Settings.from_env()


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message is written for people: shown in words, never as a traceback."""
    from sketchlab.data.download import DownloadError
    from sketchlab.sweeps import SweepError  # SweepValidationError is one

    return (SketchLabError, NoDataError, DataFormatError, ModelLoadError, registry.PromoteError, DownloadError,
            SweepError, ValueError, OSError)


@contextmanager
def explained(action: str):
    """Run a block; a known error becomes an `st.error` saying what could not be done and why."""
    try:
        yield
    except user_errors() as exc:
        st.error(f"Could not {action}: {exc}")


def literal(text) -> str:
    """Text from a file (a model card's name or date) shown as itself inside st.markdown/st.caption:
    the characters that start Markdown or Streamlit markup are escaped, so a name cannot show an
    image from an outside address, a link or coloured text."""
    return re.sub(r"([\\`*_\[\]<>!#|~$:{}])", r"\\\1", " ".join(str(text).split()))


# ---------------------------------------------------------------- cached loaders


@st.cache_data(show_spinner="Counting drawings…", max_entries=8)
def _overview(signature: tuple) -> tuple[dict[str, explore.ClassCount], list[str]]:
    problems: list[str] = []
    return explore.class_overview(signature[0], problems), problems


def data_overview(s: Settings) -> dict[str, explore.ClassCount]:
    """Classes and counts in the data folder; recounted only when its files change."""
    return _overview(explore.data_signature(s.data_dir))[0]


def data_problems(s: Settings) -> list[str]:
    """The files and lines the count skipped (each note names its file)."""
    return _overview(explore.data_signature(s.data_dir))[1]


@st.cache_resource(show_spinner="Loading models…", max_entries=8)
def _models_in_use(signature: tuple, _s: Settings) -> registry.ModelsInUse:
    import numpy as np

    from sketchlab.guesses import ModelGuesses, guesses_html

    use = registry.load_models_in_use(_s)  # the signature names both folders, so it is the whole key
    if use.networks:  # one guess now warms every step a stroke takes (imports, the rasterizer)
        pred = predictor_for(use, use.networks).predict_strokes([np.array([[0.0, 0.0], [9.0, 9.0]])])
        guesses_html([ModelGuesses(kind, "", answer) for kind, answer in pred.top_k.items()], pred.image, 1)
    return use


def models_in_use(s: Settings) -> registry.ModelsInUse:
    """The models the app answers with, loaded once per model file version and shared by every
    session. Checking the versions is a few `stat` calls: cheap enough for every stroke."""
    return _models_in_use(registry.models_signature(s), s)


def predictor_for(use: registry.ModelsInUse, kinds, own: dict | None = None):
    """A Predictor over some of the loaded models and of a person's own (`own`: {kind: ModelInfo},
    their taught models); a thin wrapper: the networks are cached, nothing is loaded per call."""
    from sketchlab.predict import Predictor

    own = own or {}
    return Predictor({kind: use.networks[kind] if kind in use.networks else (network(own[kind]), own[kind].card)
                      for kind in kinds})


@st.cache_resource(show_spinner="Loading model…", max_entries=4)
def _network(path: str, version: tuple):
    from sketchlab.inference import load_network

    return load_network(path)[0]


def network(info: registry.ModelInfo):
    """A model's numpy forward pass (no TensorFlow), shared by every session."""
    return _network(str(info.path), info.version)


# ---------------------------------------------------------------- the canvas

_canvas_fixes = st.components.v2.component(
    "sketchlab.canvas_fixes", js=(Path(__file__).parent / "assets" / "canvas_fixes.js").read_text(encoding="utf-8"),
)


def canvas_fixes() -> None:
    """streamlit-drawable-canvas without its own toolbar, fitting narrow screens
    (`assets/canvas_fixes.js`). Rendered once per page run, in the sidebar, where it takes no room."""
    with st.sidebar:
        _canvas_fixes(key="sketchlab_canvas_fixes")


# ---------------------------------------------------------------- sidebar


def no_models_message(s: Settings) -> str:
    return (
        f"No trained models found in `{s.models_dir}` or `{s.promoted_dir}`. Train one with "
        "`python -m sketchlab train` (see the README), or on the Train page and promote it."
    )


# ---------------------------------------------------------------- classroom mode

TEACHER_PASSWORD_ENV = "SKETCHLAB_TEACHER_PASSWORD"


def teacher_password() -> str | None:
    """The password set by whoever runs the server: the environment, else `teacher_password`
    in `.streamlit/secrets.toml`; None: no classroom, everyone has every control."""
    configured = os.environ.get(TEACHER_PASSWORD_ENV)
    if not configured and st.secrets.load_if_toml_exists():  # a few stat calls without the file
        configured = st.secrets.get("teacher_password")
    return str(configured) if configured else None


def _fingerprint(password: str) -> str:
    # Kept in the session instead of the password: a new password on the server locks everyone.
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def _owner_id() -> str:
    """This browser session's anonymous id, kept in the URL (`?owner=`) so a reload keeps it."""
    owner = st.session_state.get("classroom_owner")
    if owner is None:
        given = st.query_params.get("owner")
        owner = given if is_owner_id(given) else new_owner_id()
        st.session_state["classroom_owner"] = owner
    if st.query_params.get("owner") != owner:  # e.g. after moving to another page
        st.query_params["owner"] = owner
    return owner


def access() -> Access:
    """What this session may do (the library checks it again). Cheap: no widget, no I/O."""
    configured = teacher_password()
    unlocked = bool(configured) and hmac.compare_digest(
        st.session_state.get("classroom_unlocked", ""), _fingerprint(configured))
    return Access.for_session(configured, unlocked, _owner_id(), st.session_state.get("classroom_name", ""))


def _unlock() -> None:
    typed = st.session_state.get("teacher_password_field", "")
    st.session_state["teacher_password_field"] = ""  # the password is not kept in the session
    configured = teacher_password()
    if password_matches(configured, typed):
        st.session_state["classroom_unlocked"] = _fingerprint(configured)
        st.session_state.pop("classroom_wrong", None)
    else:
        st.session_state["classroom_wrong"] = True


def _lock() -> None:
    st.session_state.pop("classroom_unlocked", None)


def teacher_controls(who: Access) -> None:
    """The sidebar's "Teacher password" field (only when a password is set on the server)."""
    if not who.classroom:
        return
    st.markdown("#### Classroom")
    if who.teacher:
        st.success("Teacher controls unlocked in this browser tab.")
        st.button("Lock the teacher controls", on_click=_lock, key="teacher_lock")
        return
    st.text_input("Teacher password", type="password", key="teacher_password_field", on_change=_unlock,
                  help="Promoting models, downloading data, the shared limits and cancelling other "
                       "people's sweeps are for the teacher.")
    if st.session_state.get("classroom_wrong"):
        st.error("That is not the teacher password.")


def _download(s: Settings, per_class: int, who: Access) -> None:
    """QuickDraw-10's first `per_class` drawings per class, with one progress bar over all files."""
    from sketchlab.data import download
    from sketchlab.categories import QUICKDRAW_10

    bar = st.progress(0.0, text="Starting the download…")
    n = len(QUICKDRAW_10)
    try:
        for i, name in enumerate(QUICKDRAW_10):
            def progress(done, total, message, i=i, name=name):
                share = min(1.0, done / total) if total else 0.0
                bar.progress((i + share) / n, text=f"{name} ({i + 1}/{n}): {message}")

            download.download_class(name, s.data_dir, max_drawings=per_class, progress=progress,
                                    base_url=download.DEFAULT_BASE_URL, access=who)
    finally:
        _overview.clear()  # whatever arrived counts, even if a later class failed
    bar.progress(1.0, text=f"Downloaded {n} classes")


def sidebar(s: Settings, data: bool = True) -> None:
    """Where the data comes from and whether it is there; the models the Draw page uses.

    `data=False` (the Draw page, which needs no data) leaves out the data folder: no scan
    of it, and no "no data yet" notice for a person who only wants to draw.
    """
    who = access()
    with st.sidebar:
        if data:
            _data_sidebar(s, who)
        st.markdown("#### Models in use")
        use = models_in_use(s)
        if not use.models:
            st.warning(no_models_message(s))
        for note in use.notes:
            st.warning(note)
        for kind, info in use.models.items():
            st.markdown(f"**{literal(info.name)}** · `{kind}`  \n{literal(info.details)}")
        teacher_controls(who)


def _data_sidebar(s: Settings, who: Access) -> None:
    st.markdown("#### Data")
    st.caption(f"`{s.data_dir}`")
    try:
        overview, problems = data_overview(s), data_problems(s)
    except user_errors() as exc:
        overview, problems = {}, []
        st.error(f"The data folder could not be read: {exc}")
    if overview:
        total = sum(c.total for c in overview.values())
        st.success(f"{len(overview)} classes, {total:,} drawings")
    else:
        st.warning("No data yet. " + no_data_message(s.data_dir))
    if problems:
        with st.expander(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the data folder "
                         "(skipped)"):
            st.text("\n".join(problems))
    with st.expander("Download QuickDraw-10", expanded=not overview):
        st.caption("Fetches the first N drawings of each of the 10 classes from Google's public "
                   "bucket (needs internet).")
        if not who.teacher:
            st.caption("Only the teacher can download data.")
        per_class = st.number_input("Drawings per class", 100, 100_000, 2000, step=500,
                                    key="download_per_class", disabled=not who.teacher)
        if st.button("Download", key="download_button", disabled=not who.teacher):
            with explained("download the data"):
                _download(s, int(per_class), who)
                st.rerun()
