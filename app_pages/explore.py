"""Explore: the drawings of each class stroke by stroke, their statistics, and a model's mistakes;
and the drawings people kept on the Draw page (yours; the teacher sees everybody's), to
look at, relabel or delete."""

import numpy as np
import streamlit as st

from app_pages.common import access, data_overview, explained, literal, network, settings, sidebar, user_errors
from sketchlab import explore, plots, registry, svg, userdata
from sketchlab.categories import QUICKDRAW_10
from sketchlab.data.dataset import no_data_message

NO_BAR = {"displayModeBar": False}
READ_LIMITS = [100, 250, 500, 1000, 2500, 5000]

KEPT_SHOWN = 24

s = settings()
sidebar(s)
st.title("Explore")


def _relabel(key_id: str) -> None:
    try:
        d = userdata.relabel_drawing(s.home_dir, key_id, st.session_state.get("explore_kept_label"), access())
        st.session_state["explore_kept_note"] = ("ok", f"Moved to **{literal(d.label)}**.")
    except user_errors() as exc:
        st.session_state["explore_kept_note"] = ("error", f"Could not relabel it: {exc}")


def _delete(key_id: str) -> None:
    try:
        userdata.delete_drawing(s.home_dir, key_id, access())
        st.session_state["explore_kept_note"] = ("ok", "Deleted.")
    except user_errors() as exc:
        st.session_state["explore_kept_note"] = ("error", f"Could not delete it: {exc}")


def kept_drawings() -> None:
    """The drawings kept with "This is a …", per class, like any class; relabel and delete."""
    who = access()
    drawings = userdata.list_drawings(s.home_dir, who)
    note = st.session_state.pop("explore_kept_note", None)
    if not drawings and not note:
        return
    by_class: dict[str, list] = {}
    for d in drawings:
        by_class.setdefault(d.label, []).append(d)
    whose = "everybody's" if who.classroom and who.teacher else "yours"
    with st.expander(f"Kept drawings ({whose}): {len(drawings)} in {len(by_class)} "
                     f"class{'es' if len(by_class) != 1 else ''}", expanded=bool(note)):
        if note:
            (st.success if note[0] == "ok" else st.error)(note[1])
        if not drawings:
            return
        st.caption("Saved on the Draw page with “This is a …”, in the Quick Draw format under "
                   f"`{userdata.drawings_dir(s.home_dir)}`; the Train page can teach a model with them.")
        for tab, (name, group) in zip(st.tabs([f"{c} ({len(g)})" for c, g in by_class.items()]), by_class.items()):
            with tab:
                newest = group[::-1][:KEPT_SHOWN]
                shown = [(d.strokes, f"{d.owner_name + ' · ' if who.classroom and who.teacher and d.owner_name else ''}"
                                     f"{d.timestamp[:16].replace('T', ' ')}") for d in newest]
                st.html(svg.drawings_html(shown, uid=f"k{list(by_class).index(name)}"))
                if len(group) > KEPT_SHOWN:
                    st.caption(f"The newest {KEPT_SHOWN} of {len(group)}.")
        st.markdown("**Relabel or delete a drawing**")
        m1, m2, m3, m4 = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
        ids = {d.key_id: d for d in drawings[::-1]}
        number = {k: len(ids) - i for i, k in enumerate(ids)}  # #1 is the oldest, as kept
        picked = m1.selectbox("Drawing", list(ids), key="explore_kept_pick", format_func=lambda k: (
            f"#{number[k]} {ids[k].label} · {ids[k].n_strokes} stroke{'s' if ids[k].n_strokes != 1 else ''} · "
            f"{ids[k].timestamp[:19].replace('T', ' ')}" + (f" · {ids[k].owner_name}" if ids[k].owner_name else "")))
        m2.text_input("New class", key="explore_kept_label", placeholder="e.g. cat")
        m3.button("Relabel", key="explore_kept_relabel", on_click=_relabel, args=(picked,))
        m4.button("Delete", key="explore_kept_delete", on_click=_delete, args=(picked,), icon=":material/delete:")


with explained("show the kept drawings"):
    kept_drawings()

overview = data_overview(s)
if not overview:
    st.info(
        "There is no data to explore yet. " + no_data_message(s.data_dir)
        + " The sidebar's **Download QuickDraw-10** does the download from here."
    )
    st.stop()


@st.cache_data(show_spinner="Reading drawings…", max_entries=64)
def class_sample(signature: tuple, name: str, limit: int) -> explore.ClassSample:
    return explore.load_class_sample(signature[0], name, limit)


@st.cache_data(show_spinner=False, max_entries=8)
def evaluation(signature: tuple, _info: registry.ModelInfo, version: tuple, cache_dir: str):
    """(held-out split, evaluation): once per model file and data folder."""
    per_class = (_info.card.get("hyperparameters") or {}).get("per_class")
    balanced = ((_info.card.get("data") or {}).get("split") or {}).get("balanced", True)
    held = explore.heldout_split(signature[0], _info.classes, per_class, cache_dir, balanced=balanced)
    return held, explore.evaluate(network(_info), held)


def pixels(image, scale: int) -> np.ndarray:
    """A bitmap blown up by whole pixels, so the browser shows it sharp, not blurred."""
    image = np.asarray(image, dtype=np.float64).clip(0, 255).round().astype(np.uint8)
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


signature = explore.data_signature(s.data_dir)
names = list(overview)
default = [c for c in QUICKDRAW_10 if c in overview][:3] or names[:3]
c1, c2 = st.columns([3, 1])
picked = c1.multiselect("Classes", names, default=default, key="explore_classes")
limit = c2.select_slider("Drawings read per class", READ_LIMITS, value=1000, key="explore_limit",
                         help="The first N drawings of each class file: a fair sample, quick to read.")

# ---------------------------------------------------------------- counts

st.subheader("Drawings per class")
show_all = st.toggle("All classes in the data folder", value=False, key="explore_all_counts")
counted = names if show_all or not picked else picked
series = {"from strokes": {c: overview[c].strokes for c in counted}}
if any(overview[c].bitmap_only for c in counted):
    series["from 28×28 bitmaps only"] = {c: overview[c].bitmap_only for c in counted}
totals = [overview[c].total for c in counted]
log = max(totals) > 20 * max(1, min(totals))  # one huge class would flatten the others
st.plotly_chart(
    plots.bar_figure(series, ylabel="drawings" + (" (log scale)" if log else ""), log=log,
                     height=280 if len(counted) < 30 else 420),
    key="explore_counts", config=NO_BAR,
)
st.caption("Each distinct drawing counts once: simplified and raw strokes are merged by key_id, and an "
           "official bitmap row that is the same drawing as a stroke one (same official index) is not "
           "counted again. " + "; ".join(f"{c}: {overview[c].strokes} from strokes + {overview[c].bitmap_only} "
                                         f"from bitmaps = {overview[c].total}" for c in counted[:12]))
if not picked:
    st.info("Pick one or more classes above to see their drawings.")
    st.stop()

samples: dict[str, explore.ClassSample] = {}
with explained("read the drawings"):
    for name in picked:
        samples[name] = class_sample(signature, name, limit)

stats = {name: explore.drawing_stats(sample.drawings)
         for name, sample in samples.items() if sample.has_strokes}
if stats:
    st.subheader("Strokes and points per drawing")
    h1, h2 = st.columns(2)
    strokes = plots.histogram_figure({n: x.n_strokes for n, x in stats.items()}, xlabel="strokes per drawing")
    points = plots.histogram_figure({n: x.n_points for n, x in stats.items()}, xlabel="points per drawing")
    h1.plotly_chart(strokes, key="explore_hist_strokes", config=NO_BAR)
    h2.plotly_chart(points, key="explore_hist_points", config=NO_BAR)

# ---------------------------------------------------------------- per class

st.subheader("Per class")
st.html(svg.STYLE)
replay = st.toggle("Replay the drawing order", value=False, key="explore_replay",
                   help="Each drawing redraws itself stroke by stroke, in the order it was drawn, again and again.")
n_show = st.slider("Drawings shown per class", 3, 12, 6, step=3, key="explore_n_show")
for tab, name in zip(st.tabs(picked), picked):
    sample = samples.get(name)
    if sample is None:
        continue
    with tab:
        if sample.problems:
            skipped = plural(sample.n_skipped, "unreadable line") if sample.n_skipped else "A file"
            st.caption(f"{skipped} skipped, e.g. {sample.problems[0]}")
        n = len(sample.images)
        if sample.has_strokes:
            st.markdown(f"**Stroke by stroke** (first stroke dark, last bright) — "
                        f"{len(sample.drawings):,} drawings read")
            shown = []
            for i in explore.sample_indices(n, n_show, seed=names.index(name)):
                d = sample.drawings[i]
                seen = "recognized" if d.recognized else "not recognized"
                shown.append((d.strokes, f"{plural(d.n_strokes, 'stroke')} · {d.countrycode or '?'} · {seen}"))
            st.html(svg.drawings_html(shown, uid=f"c{names.index(name)}", replay=replay))
        elif sample.stroke_files:
            st.info(f"{name}: no readable strokes in its files" + (", only 28×28 bitmaps." if n else "."))
        else:
            st.info(f"{name}: only 28×28 bitmaps in the data folder, no strokes to plot.")
        g1, g2, g3 = st.columns([2, 1, 2])
        with g1:
            st.markdown("**28×28 rasters** (what the models see)")
            grid = explore.tile_images(sample.images[explore.sample_indices(n, 32, seed=1)], cols=8)
            st.image(pixels(grid, 2), width="stretch")
        with g2:
            st.markdown("**Mean image**")
            mean = explore.mean_image(sample.images)
            st.image(pixels(mean * (255 / max(1.0, mean.max())), 8), width="stretch")
            st.caption("brightest pixel scaled to white")
        with g3:
            if name in stats:
                x = stats[name]
                m1, m2, m3 = st.columns(3)
                m1.metric("Recognized", f"{x.recognized_ratio:.0%}")
                m2.metric("Median strokes", f"{np.median(x.n_strokes):.0f}")
                m3.metric("Median points", f"{np.median(x.n_points):.0f}")
                if x.countries:
                    countries = plots.bar_figure(explore.top_countries(x.countries, 8), horizontal=True,
                                                 ylabel="drawings", height=200, title="Countries")
                    st.plotly_chart(countries, key=f"explore_countries_{name}", config=NO_BAR)
                else:
                    st.caption("No country codes in these files.")

# ---------------------------------------------------------------- a model's mistakes

st.subheader("Where a model goes wrong")
models = registry.list_models(s)
if not models:
    st.info("No trained models yet: train one on the Train page or with `python -m sketchlab train`.")
    st.stop()
choice = st.selectbox("Model", range(len(models)), key="explore_model",
                      format_func=lambda i: f"{models[i].label} ({models[i].kind})")
info = models[choice]
missing = [c for c in info.classes if c not in overview]
if missing:
    more = "…" if len(missing) > 5 else ""
    st.info(f"The data folder lacks classes this model knows ({', '.join(missing[:5])}{more}), "
            "so its held-out split cannot be rebuilt here.")
    st.stop()
clicked = st.button("Evaluate on the held-out split", key="explore_evaluate")
if clicked or st.session_state.get("explore_evaluated") == info.version:
    st.session_state["explore_evaluated"] = info.version
    with explained("evaluate the model"):
        with st.status(f"Evaluating {info.name} on the held-out 20% (the fixed stratified 80/20 split)…", expanded=False) as status:
            held, result = evaluation(signature, info, info.version, str(s.dataset_cache_dir))
            status.update(label=f"Accuracy {result.accuracy:.1%} on {len(held.labels):,} held-out drawings",
                          state="complete")
        n_train = (info.card.get("data") or {}).get("n_train")
        if n_train and n_train > held.n_train:
            st.warning(f"This model was trained on {n_train:,} drawings, more than this split's "
                       f"{held.n_train:,} training drawings, so it has probably seen these 'held-out' "
                       "drawings: the figures flatter it.")
        c_cm, c_wrong = st.columns([3, 2])
        with c_cm:
            title = f"Confusion matrix · accuracy {result.accuracy:.1%}"
            st.plotly_chart(plots.confusion_figure(result.confusion, held.classes, title=title),
                            key="explore_confusion", config=NO_BAR)
        with c_wrong:
            wrong = result.most_wrong(12)
            if not wrong:
                st.success("No mistakes on the held-out split.")
            else:
                st.markdown("**Most confident mistakes** (true → guessed)")
                cols = st.columns(3)
                for j, (row, pred, p_pred, _p_true) in enumerate(wrong):
                    with cols[j % 3]:
                        st.image(pixels(held.images[row], 4), width="stretch")
                        truth = held.classes[held.labels[row]]
                        st.caption(f"{truth} → **{held.classes[pred]}** {p_pred:.0%}")
