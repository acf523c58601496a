"""Explore: the drawings of each class stroke by stroke, their statistics, and a model's mistakes."""

import numpy as np
import streamlit as st

from app_pages.common import data_overview, explained, keras_model, settings, sidebar
from sketchlab import explore, plots, registry
from sketchlab.categories import QUICKDRAW_10
from sketchlab.dataset import no_data_message

NO_BAR = {"displayModeBar": False}

s = settings()
sidebar(s)
st.title("Explore")

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


@st.cache_data(show_spinner=False, max_entries=16)
def heldout(signature: tuple, card_key: str, _card: dict, cache_dir: str) -> explore.HeldOut:
    return explore.heldout_split(signature[0], _card, cache_dir)


signature = explore.data_signature(s.data_dir)
names = list(overview)
default = [c for c in QUICKDRAW_10 if c in overview][:3] or names[:3]
c1, c2 = st.columns([3, 1])
picked = c1.multiselect("Classes", names, default=default, key="explore_classes")
limit = c2.select_slider("Drawings read per class", [100, 250, 500, 1000, 2500, 5000], value=1000,
                         key="explore_limit", help="The first N drawings of each class file: a fair sample, quick to read.")

st.subheader("Drawings per class")
show_all = st.toggle("All classes in the data folder", value=False, key="explore_all_counts")
counted = names if show_all or not picked else picked
series = {"with strokes": {c: overview[c].strokes for c in counted}}
if any(overview[c].bitmaps for c in counted):
    series["28×28 bitmaps"] = {c: overview[c].bitmaps for c in counted}
log = max(overview[c].total for c in counted) > 20 * max(1, min(overview[c].total for c in counted))
st.plotly_chart(
    plots.bar_figure(series, ylabel="drawings" + (" (log scale)" if log else ""), log=log,
                     height=280 if len(counted) < 30 else 420),
    key="explore_counts", config=NO_BAR,
)
if not picked:
    st.info("Pick one or more classes above to see their drawings.")
    st.stop()

samples: dict[str, explore.ClassSample] = {}
with explained("read the drawings"):
    for name in picked:
        samples[name] = class_sample(signature, name, limit)

stats = {name: explore.drawing_stats(sample.drawings) for name, sample in samples.items() if sample.has_strokes}
if stats:
    st.subheader("Strokes and points per drawing")
    h1, h2 = st.columns(2)
    h1.plotly_chart(plots.histogram_figure({n: st_.n_strokes for n, st_ in stats.items()}, xlabel="strokes per drawing"),
                    key="explore_hist_strokes", config=NO_BAR)
    h2.plotly_chart(plots.histogram_figure({n: st_.n_points for n, st_ in stats.items()}, xlabel="points per drawing"),
                    key="explore_hist_points", config=NO_BAR)

st.subheader("Per class")
replay = st.toggle("Replay buttons (animate the drawing order)", value=False, key="explore_replay")
n_show = st.slider("Drawings shown per class", 3, 12, 6, step=3, key="explore_n_show")
for tab, name in zip(st.tabs(picked), picked):
    sample = samples.get(name)
    if sample is None:
        continue
    with tab:
        if sample.problems:
            st.caption(f"{len(sample.problems)} unreadable lines skipped, e.g. {sample.problems[0]}")
        n = len(sample.images)
        idx = explore.sample_indices(n, n_show, seed=names.index(name))
        if sample.has_strokes:
            st.markdown(f"**Stroke by stroke** (first stroke dark, last bright) — {len(sample.drawings):,} drawings read")
            cols = st.columns(3)
            for j, i in enumerate(idx):
                d = sample.drawings[i]
                title = f"{d.n_strokes} stroke{'s' if d.n_strokes != 1 else ''} · {d.countrycode or '?'} · {'recognized' if d.recognized else 'not recognized'}"
                cols[j % 3].plotly_chart(plots.drawing_figure(d.strokes, title=title, replay=replay, height=230),
                                         key=f"explore_drawing_{name}_{j}", config=NO_BAR)
        else:
            st.info(f"{name}: only 28×28 bitmaps in the data folder, no strokes to plot.")
        g1, g2, g3 = st.columns([2, 1, 2])
        with g1:
            st.markdown("**28×28 rasters** (what the models see)")
            grid = explore.tile_images(sample.images[explore.sample_indices(n, 32, seed=1)], cols=8)
            st.plotly_chart(plots.image_figure(grid, height=240), key=f"explore_grid_{name}", config=NO_BAR)
        with g2:
            st.markdown("**Mean image**")
            mean = explore.mean_image(sample.images)
            st.plotly_chart(plots.image_figure(mean * (255 / max(1.0, mean.max())), height=240),
                            key=f"explore_mean_{name}", config=NO_BAR)
            st.caption("brightest pixel scaled to white")
        with g3:
            if name in stats:
                st_ = stats[name]
                m1, m2, m3 = st.columns(3)
                m1.metric("Recognized", f"{st_.recognized_ratio:.0%}")
                m2.metric("Median strokes", f"{np.median(st_.n_strokes):.0f}")
                m3.metric("Median points", f"{np.median(st_.n_points):.0f}")
                if st_.countries:
                    st.plotly_chart(plots.bar_figure(explore.top_countries(st_.countries, 8), horizontal=True,
                                                     ylabel="drawings", height=200, title="Countries"),
                                    key=f"explore_countries_{name}", config=NO_BAR)
                else:
                    st.caption("No country codes in these files.")

st.subheader("Where a model goes wrong")
models = registry.list_models(s)
if not models:
    st.info("No trained models yet: train one on the Train page or with `python -m sketchlab train`.")
    st.stop()
labels = [f"{m.label} ({m.kind})" for m in models]
choice = st.selectbox("Model", range(len(models)), format_func=lambda i: labels[i], key="explore_model")
info = models[choice]
missing = [c for c in info.classes if c not in overview]
if missing:
    st.info(f"The data folder lacks classes this model knows ({', '.join(missing[:5])}{'…' if len(missing) > 5 else ''}), "
            "so its held-out split cannot be rebuilt here.")
    st.stop()
if st.button("Evaluate on the held-out split", key="explore_evaluate") or st.session_state.get("explore_evaluated") == info.version:
    st.session_state["explore_evaluated"] = info.version
    with explained("evaluate the model"):
        with st.status("Evaluating…", expanded=False) as status:
            status.update(label="Rebuilding the held-out 20% (seed 000's split)…")
            held = heldout(signature, repr(info.version), info.card, str(s.dataset_cache_dir))
            status.update(label=f"Running {info.name} on {len(held.labels):,} drawings…")
            result = explore.evaluate(keras_model(info), held)
            status.update(label=f"Accuracy {result.accuracy:.1%} on {len(held.labels):,} held-out drawings", state="complete")
        n_train = (info.card.get("data") or {}).get("n_train")
        if n_train and n_train > held.n_train:
            st.warning(f"This model was trained on {n_train:,} drawings, more than this split's {held.n_train:,} "
                       "training drawings, so it has probably seen these 'held-out' drawings: the figures flatter it.")
        c_cm, c_wrong = st.columns([3, 2])
        with c_cm:
            st.plotly_chart(plots.confusion_figure(result.confusion, held.classes, title=f"Confusion matrix · accuracy {result.accuracy:.1%}"),
                            key="explore_confusion", config=NO_BAR)
        with c_wrong:
            wrong = result.most_wrong(12)
            if not wrong:
                st.success("No mistakes on the held-out split.")
            else:
                st.markdown("**Most confident mistakes**")
                cols = st.columns(3)
                for j, (row, pred, p_pred, p_true) in enumerate(wrong):
                    with cols[j % 3]:
                        st.plotly_chart(plots.image_figure(held.images[row], height=120), key=f"explore_wrong_{j}", config=NO_BAR)
                        st.caption(f"{held.classes[held.labels[row]]} → **{held.classes[pred]}** {p_pred:.0%}")
