"""Train: launch a hyperparameter sweep in the background, watch its runs live, see what it
found, and promote a model after comparing it with the one in use.

Everything shown is read back from the sweep storage (`sketchlab.sweeps`: SQLite in the home
folder, or the PostgreSQL server in `SKETCHLAB_STORAGE`), so the page survives reloads and app
restarts; the selected sweep is kept in the URL (`?sweep=`).
"""

import io

import pandas as pd
import streamlit as st

from app_pages.common import access, data_overview, explained, literal, settings, sidebar
from app_pages.teach_section import teach_section
from sketchlab import plots, promotion, registry, sweeps
from sketchlab.categories import QUICKDRAW_10
from sketchlab.models import MODEL_KINDS
from sketchlab.training import OPTIMIZERS
from sketchlab.sweeps import analysis

NO_BAR = {"displayModeBar": False}
EMPTY = "–"
BEST_N = 5
MODE_LABELS = {
    "one_at_a_time": "one at a time (the base setting, then each setting varied alone)",
    "grid": "full grid (every combination)",
    "random": "random search",
    "tpe": "TPE search (Optuna learns from finished runs)",
}

s = settings()
store = sweeps.SweepStore.of(s)
sidebar(s)
who = access()  # classroom mode: the library checks it again on every action
st.title("Train")
STALE_AFTER_S = 3600  # a sweep with nothing started for an hour is offered to the teacher to clear


def _listed(values) -> str:
    return ", ".join(plots.format_value(v) for v in values)


def _split(text: str) -> list[str]:
    return [part.strip() for part in str(text).replace(";", ",").split(",") if part.strip()]


def load_preset() -> None:
    """Fill the form with the classic experiment (a callback: runs before the widgets exist)."""
    preset = sweeps.seed_preset()
    base = preset.base_values()
    st.session_state.update(
        train_model=preset.model, train_mode=preset.mode, train_n_trials=10,
        train_base_optimizer=base["optimizer"], train_base_lr=f"{base['learning_rate']:g}",
        train_base_batch=str(base["batch_size"]), train_base_epochs=str(base["epochs"]),
        train_base_per_class="" if base["per_class"] is None else str(base["per_class"]),
        train_values_optimizer=list(preset.values.get("optimizer", [])),
        train_values_lr=_listed(preset.values.get("learning_rate", [])),
        train_values_batch=_listed(preset.values.get("batch_size", [])),
        train_values_epochs="", train_values_per_class="",
    )
    st.session_state.pop("train_errors", None)


def spec_from_form(classes: list[str]) -> sweeps.SweepSpec:
    """The form's text as a SweepSpec (parsed here, at the edge); sweeps checks the values."""
    ss = st.session_state
    texts = {"learning_rate": ss.train_values_lr, "batch_size": ss.train_values_batch,
             "epochs": ss.train_values_epochs, "per_class": ss.train_values_per_class}
    values = {"optimizer": list(ss.train_values_optimizer)}
    ranges = {}
    for key, text in texts.items():
        bounds = sweeps.parse_range(text) if key in sweeps.RANGE_KEYS else None
        if bounds is not None:
            ranges[key] = bounds
        else:
            values[key] = sweeps.parse_values(key, text)
    base = {"optimizer": ss.train_base_optimizer}
    for key, widget in (("learning_rate", "train_base_lr"), ("batch_size", "train_base_batch"),
                        ("epochs", "train_base_epochs"), ("per_class", "train_base_per_class")):
        parsed = sweeps.parse_values(key, ss[widget])
        base[key] = parsed[0] if parsed else (None if key == "per_class" else ss[widget].strip())
    return sweeps.SweepSpec(
        name=ss.get("train_name", "").strip() or None,
        model=ss.train_model, mode=ss.train_mode, base=base, values={k: v for k, v in values.items() if v},
        ranges=ranges, n_trials=int(ss.train_n_trials) if ss.train_mode in ("random", "tpe") else None,
        classes=tuple(classes), augment=bool(ss.train_augment), prune=bool(ss.train_prune),
    )


def submit() -> None:
    """Queue the sweep (the store validates it, once, through RunConfig) and make sure workers
    run it in the background; errors go next to their fields."""
    spec = spec_from_form(list(st.session_state.train_classes))
    errors = {}
    try:
        store = sweeps.SweepStore.of(s)
        name = store.create(spec, data_dir=s.data_dir, access=access())
        sweeps.ensure_workers(s, storage=store.url)
    except sweeps.SweepValidationError as exc:
        errors = exc.errors
    except (sweeps.SweepError, OSError) as exc:
        errors = {"runs": f"the sweep could not be started: {exc}"}
    else:
        st.query_params["sweep"] = name
        st.session_state["train_launched"] = name
        st.session_state["train_sweep"] = name
        st.session_state.pop("train_note", None)
    st.session_state["train_errors"] = errors


def remember_name() -> None:
    # Kept under its own key: a widget's state is dropped on pages that do not show it.
    st.session_state["classroom_name"] = st.session_state.get("train_owner_name", "")


def field_error(*fields: str) -> None:
    for f in fields:
        msg = st.session_state.get("train_errors", {}).get(f)
        if msg:
            st.error(msg, icon=":material/error:")


teach_section()

# ---------------------------------------------------------------- the form

overview = data_overview(s)
available = list(overview)
if "train_model" not in st.session_state:
    load_preset()
try:
    all_sweeps = store.list()  # after the form's callback: a sweep it launched is listed
except sweeps.SweepError as exc:  # e.g. a PostgreSQL server that cannot be reached
    st.error(f"Could not read the sweeps: {exc}")
    all_sweeps = []

with st.expander("New sweep", expanded=not all_sweeps):
    if not available:
        st.info("Training needs data: see the sidebar for how to get it.")
    st.button("Load the classic experiment", on_click=load_preset, key="train_preset",
              help=f"{sweeps.PRESET_TITLE}: optimizer ∈ {{Adadelta, Adam, SGD}}, batch ∈ {{8, 32, 512, 4096}}, "
                   "learning rate ∈ {0.0001, 0.01, 0.5, 1}; base SGD, learning rate 0.01, batch 32, 25 epochs "
                   "(9 runs: the base once, then each setting varied alone)")
    default_classes = [c for c in QUICKDRAW_10 if c in overview] or available[:10]
    limits = sweeps.load_limits(s.home_dir)
    if who.classroom:
        st.session_state.setdefault("train_owner_name", st.session_state.get("classroom_name", ""))
        st.text_input("Your name (shown next to your sweeps)", key="train_owner_name", max_chars=40,
                      on_change=remember_name)
    st.caption(f"Limits: {limits.max_runs} runs per sweep, at most {limits.max_open_runs} queued or running "
               f"per person, {limits.max_run_cost:,} epochs × drawings per run (\"all drawings\" counts as "
               f"{limits.max_per_class:,} per class). Runs start in turn across people, so a long sweep "
               "does not hold back everyone else.")
    with st.form("train_form", border=False):
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Model", MODEL_KINDS, key="train_model")
        c2.selectbox("Mode", list(MODE_LABELS), format_func=MODE_LABELS.get, key="train_mode")
        c3.number_input("Runs (random / TPE search)", 1, 64, key="train_n_trials")
        with c1:
            field_error("model")
        with c2:
            field_error("mode")
        with c3:
            field_error("n_trials")
        st.multiselect("Classes", available, default=default_classes, key="train_classes")
        field_error("classes")

        st.markdown("**Base values** (used where a setting is not varied) and **values to try**")
        rows = [
            ("Optimizer", "optimizer", "train_base_optimizer", "train_values_optimizer"),
            ("Learning rate", "learning_rate", "train_base_lr", "train_values_lr"),
            ("Batch size", "batch_size", "train_base_batch", "train_values_batch"),
            ("Epochs", "epochs", "train_base_epochs", "train_values_epochs"),
            (f"Drawings per class (blank = all, up to {sweeps.SweepLimits().max_per_class:,})", "per_class",
             "train_base_per_class", "train_values_per_class"),
        ]
        for label, field, base_key, values_key in rows:
            b, v = st.columns([1, 2])
            if field == "optimizer":
                b.selectbox(label, OPTIMIZERS, key=base_key)
                v.multiselect("Optimizers to try", OPTIMIZERS, key=values_key)
            else:
                b.text_input(label, key=base_key)
                hint = " (comma-separated; random/TPE: also low..high, on a log scale)" if (
                    field in sweeps.RANGE_KEYS) else " (comma-separated)"
                v.text_input(f"{label.split(' (')[0]} values to try{hint}", key=values_key)
            with b:
                field_error(f"base_{field}")
            with v:
                field_error(field)
        st.caption("Sweeps train on a class-balanced sample so that a sweep finishes in minutes: every "
                   "class is cut to the smallest class's count (drawings with strokes first, then official "
                   "bitmaps), and 20% of that is held out for validation. The shipped models are trained "
                   "on every drawing instead (models/train_defaults.sh).")
        o1, o2 = st.columns(2)
        o1.checkbox("Augmentation", value=True, key="train_augment",
                    help="Every epoch: random rotation, scale, shear and jitter of the strokes; small "
                         "shifts, scale, rotation and line-width changes of bitmap-only drawings")
        o2.checkbox("Prune hopeless runs (median rule)", value=False, key="train_prune")
        st.text_input("Sweep name (optional: blank names it by model, mode and time)", key="train_name",
                      max_chars=80)
        field_error("runs", "values", "seed", "name")
        st.form_submit_button("Launch sweep", type="primary", on_click=submit, key="train_launch")
    if st.session_state.get("train_errors"):
        st.error("The sweep was not launched: fix the values marked above.")
    elif st.session_state.get("train_launched"):
        st.success(f"Sweep **{st.session_state.train_launched}** queued; a background worker runs it.")

# ---------------------------------------------------------------- sweeps and their runs

st.caption(f"Sweeps are kept in `{sweeps.safe_url(store.url)}` (set `SKETCHLAB_STORAGE` to share them "
           "with workers on other machines; see the README).")
def teacher_panel() -> None:
    """The shared limits, and sweeps left in the queue; only the teacher sees it."""
    with st.expander("Teacher: shared limits and the queue"):
        limits = sweeps.load_limits(s.home_dir)
        values = {}
        for key, (label, low, high) in sweeps.SHARED_LIMITS.items():
            values[key] = st.number_input(label.capitalize(), low, high, getattr(limits, key), step=1,
                                          key=f"teacher_{key}")
        if st.button("Save the limits", key="teacher_save_limits"):
            with explained("save the limits"):
                sweeps.save_limits(s.home_dir, {k: int(v) for k, v in values.items()}, access())
                st.session_state["train_note"] = "The new limits apply to sweeps launched from now on."
                st.rerun()
        st.caption("They apply to sweeps launched after the change; sweeps from the command line have no "
                   "per-person cap.")
        open_sweeps = {sw.name: sw for sw in all_sweeps if not sw.is_final}
        if not open_sweeps:
            st.caption("No sweep has runs queued or running.")
            return
        stale = [sw.name for sw in store.stale(STALE_AFTER_S)]
        st.markdown(f"**Clear sweeps from the queue** ({len(stale)} with nothing started for an hour)")
        chosen = st.multiselect("Sweeps to clear", list(open_sweeps), default=stale, key="teacher_clear_which",
                                format_func=lambda n: f"{n} · {open_sweeps[n].owner_label} · {open_sweeps[n].state}")
        if st.button("Clear the selected sweeps", key="teacher_clear", disabled=not chosen):
            with explained("clear the sweeps"):
                n = store.clear(chosen, access())
                st.session_state["train_note"] = f"Cleared {len(chosen)} sweep(s): {sweeps.cancelled_text(n)}."
                st.rerun()


if who.teacher:
    teacher_panel()
if not all_sweeps:
    st.info("No sweeps yet: fill in the form above and press **Launch sweep**.")
    st.stop()
# Your own sweeps first (newest first), then everybody else's.
all_sweeps = sorted(all_sweeps, key=lambda sw: sw.owner != who.owner)
names = [sw.name for sw in all_sweeps]
owners = {sw.name: ("you" if sw.owner == who.owner else sw.owner_label) for sw in all_sweeps}
wanted = st.query_params.get("sweep")
if st.session_state.get("train_sweep") not in names:
    st.session_state["train_sweep"] = wanted if wanted in names else names[0]
# The states the selector shows: the live part reruns the whole page when one changes, so the
# selector never says "running" about a sweep that has finished or been cancelled.
shown = {sw.name: (sw.state, sw.is_final) for sw in all_sweeps}
st.session_state["train_shown_states"] = shown
picked = st.selectbox("Sweep", names, key="train_sweep", format_func=(
    (lambda n: f"{n} · {shown[n][0]} · {owners[n]}") if who.classroom else (lambda n: f"{n} · {shown[n][0]}")))
if picked != wanted:
    st.query_params["sweep"] = picked


def nan_if_none(x) -> float:
    return float("nan") if x is None else float(x)


def cell(run, key) -> str:
    """A hyperparameter for the table: "all" drawings for None, "–" when not chosen yet."""
    return plots.format_value(run.params[key]) if key in run.params else EMPTY


def runs_table(runs) -> pd.DataFrame:
    rows = []
    for r in runs:
        note = r.error or ("cancel requested" if r.cancel_requested and not r.is_final else "")
        if r.retry_of is not None:
            note = f"re-run of #{r.retry_of}" + (f"; {note}" if note else "")
        rows.append({
            "run": r.number,
            "state": r.state,
            **{k: cell(r, k) for k in sweeps.HYPERPARAMETERS},
            "epochs done": f"{r.epochs_done}/{r.epochs}" if r.epochs else EMPTY,
            "val acc (last)": nan_if_none(r.last_val_accuracy),
            "val acc (best)": nan_if_none(r.best_val_accuracy),
            "seconds": nan_if_none(r.seconds),
            "note": note or EMPTY,
        })
    return pd.DataFrame(rows)


def _highlight_best(best: int | None):
    def style(row):
        is_best = best is not None and row["run"] == best
        return ["background-color: #fde2d8; font-weight: 600" if is_best else ""] * len(row)
    return style


def actions(name: str, summary, runs, keys: list[str]) -> None:
    """Export, cancel, promote: part of the live view, so the lists follow the runs."""
    csv = io.StringIO()
    store.export_csv(name, csv)
    st.download_button("Download the runs as CSV", csv.getvalue(), file_name=f"{name}.csv", mime="text/csv",
                       key="train_export")
    a1, a2, a3 = st.columns(3)
    mine = who.may_manage(summary.owner)
    with a1:
        st.markdown("**Cancel**")
        if not mine:
            st.caption(f"Started by {summary.owner_label}: only they or the teacher can cancel it.")
        if st.button("Cancel the whole sweep", disabled=summary.is_final or not mine, key="train_cancel_sweep"):
            with explained("cancel the sweep"):
                n = store.cancel(name, access())
                st.session_state["train_note"] = f"Cancelled: {sweeps.cancelled_text(n)}."
                st.rerun(scope="app")
        open_runs = [r.number for r in runs if not r.is_final]
        if open_runs and mine:
            number = st.selectbox("Run", open_runs, key="train_cancel_which",
                                  format_func=lambda n: f"run #{n}")
            if st.button("Cancel this run", key="train_cancel_run"):
                with explained("cancel the run"):
                    store.cancel_run(name, number, access())
                    st.session_state["train_note"] = f"Run #{number} will stop at its next epoch."
                    st.rerun()
        requeued = {r.retry_of for r in runs if r.retry_of is not None}
        failed = [r.number for r in runs if r.state == "failed" and r.number not in requeued]
        if failed and summary.state != "cancelled" and mine:
            st.markdown("**Retry**")
            number = st.selectbox("Failed run", failed, key="train_retry_which",
                                  format_func=lambda n: f"run #{n}")
            if st.button("Run it again", key="train_retry"):
                with explained("retry the run"):
                    (new,) = store.retry(name, number, access())
                    sweeps.ensure_workers(s)
                    st.session_state["train_note"] = f"Run #{number} is queued again as run #{new}."
                    st.rerun(scope="app")
        if st.session_state.get("train_note"):
            st.caption(st.session_state.train_note)
    with a2:
        st.markdown("**Use a model on the Draw page**")
        finished = {r.number: r for r in sorted(runs, key=lambda r: -(r.last_val_accuracy or 0))
                    if r.state == "done" and r.model_dir}
        if not finished:
            st.caption("Runs that finish (state done) can be promoted here.")
        else:
            number = st.selectbox(
                "Finished run", list(finished), key="train_promote_which",
                format_func=lambda n: (f"{plots.run_label(finished[n], keys)} · "
                                       f"val {finished[n].last_val_accuracy or 0:.1%}"),
            )
            run_dir = finished[number].model_dir
            compared = st.session_state.get("train_comparison", {}).get(run_dir)
            if compared is None:
                st.caption("First, both models answer the same held-out drawings.")
                if st.button("Compare with the model in use", key="train_compare"):
                    with explained("compare the models"):
                        with st.spinner("Both models are answering the held-out drawings…"):
                            result = promotion.compare_with_current(run_dir, s)
                        st.session_state.setdefault("train_comparison", {})[run_dir] = result
                        st.rerun()
            else:
                show_comparison(compared)
                label = "Promote anyway" if compared.candidate_is_worse else "Promote to the Draw page"
                if not who.teacher:
                    st.caption("Only the teacher can promote a model: it changes the Draw page for everybody.")
                if st.button(label, type="secondary" if compared.candidate_is_worse else "primary",
                             key="train_promote", disabled=not who.teacher):
                    with explained("promote the model"):
                        with st.spinner("Checking and copying the model…"):
                            target = registry.promote(run_dir, s, access=access())
                        st.session_state["train_promoted"] = f"{target.name}: run #{number} of {name}"
                        st.rerun(scope="app")  # the sidebar lists the models in use
        if st.session_state.get("train_promoted"):
            st.success(f"Promoted ({st.session_state.train_promoted}). The Draw page uses it now.")
    with a3:
        st.markdown("**Promoted models**")
        promoted = {k: m for k, m in registry.active_models(s).items() if m.source == "promoted"}
        if not promoted:
            st.caption("None: the Draw page uses the shipped models.")
        for kind, info in promoted.items():
            st.caption(f"`{kind}`: {literal(info.label)}")
            undo = f"Back to the shipped {kind}" if kind in registry.KIND_ORDER[:3] else "Take it off the Draw page"
            if st.button(undo, key=f"train_unpromote_{kind}", disabled=not who.teacher):
                with explained("go back to the shipped model"):
                    registry.unpromote(kind, s, access=access())
                    st.session_state.pop("train_promoted", None)
                    st.rerun(scope="app")


def show_comparison(c: promotion.Comparison) -> None:
    """Both models' figures side by side, on the same drawings; a warning when the new one is worse."""
    rows = [("trained run", c.candidate)] + ([("in use now", c.current)] if c.current else [])
    st.dataframe(pd.DataFrame([{
        "model": f"{who}: {sc.name}", "accuracy": f"{sc.accuracy:.1%}",
        "mean per-class accuracy": f"{sc.balanced_accuracy:.1%}", "note": sc.note or EMPTY,
    } for who, sc in rows]), hide_index=True, key="train_comparison_table")
    st.caption(f"Both measured on the same {c.n_drawings:,} held-out drawings of the trained run's classes.")
    if c.current is None:
        st.info(f"Nothing to compare with: {c.why_not}.")
    elif c.candidate_is_worse:
        st.warning(f"The trained run is worse than the {c.kind} in use on these drawings "
                   f"({c.candidate.accuracy:.1%} vs {c.current.accuracy:.1%}). Promoting it would make "
                   "the Draw page guess worse.")


def show_analysis(name: str, runs) -> None:
    """What the sweep found: the winner in words, Optuna's figures, the best runs' curves."""
    sentence = analysis.winner_sentence(runs)
    if sentence is None:
        return
    st.subheader("What the sweep found")
    st.markdown(sentence)
    n_done = sum(r.state == "done" for r in runs)
    cache = st.session_state.setdefault("train_analysis", {})
    key = (name, n_done)
    if key not in cache:  # fANOVA takes a moment: once per finished run, not once per poll
        study = store.study(name)
        cache.clear()
        cache[key] = (analysis.parallel_coordinates(study), *analysis.importance(study))
    parallel, importance, why_not = cache[key]
    c1, c2 = st.columns([3, 2])
    with c1:
        st.markdown("**Hyperparameters against best validation accuracy** (one line per finished run)")
        if parallel is not None:
            st.plotly_chart(parallel, key="train_parallel", config=NO_BAR)
        else:
            st.caption("Appears when two runs with different settings have finished.")
    with c2:
        st.markdown("**Hyperparameter importance**")
        if importance is not None:
            st.plotly_chart(importance, key="train_importance", config=NO_BAR)
        else:
            st.caption(why_not)
    best = analysis.best_runs(runs, BEST_N)
    keys = plots.varied_keys(runs)
    curves = {plots.run_label(r, keys): plots.val_curve(r) for r in best}
    st.plotly_chart(plots.learning_curves_figure(curves, best=next(iter(curves), None),
                                                 title=f"Validation accuracy of the best {len(best)} runs"),
                    key="train_best_curves", config=NO_BAR)


def queue_text(name: str, summary) -> str:
    """Where this sweep's next run stands in the fair queue, in words."""
    order = store.queue()
    ahead = sweeps.runs_ahead(order, sweep=name)
    if ahead is None:
        return "Its queued runs were cancelled."
    own = summary.owner == who.owner
    if ahead == 0:
        whose = "your" if own else "this sweep's"
        return f"Queue: {whose} next run starts as soon as a worker is free ({len(order)} queued in all)."
    return (f"Queue: {ahead} run{'s' if ahead != 1 else ''} ahead of {'yours' if own else 'this sweep'} "
            f"({len(order)} queued in all; people take turns).")


def show_sweep(name: str) -> None:
    """The live part: summary, runs table, curves; polled while the sweep runs."""
    with explained("read the sweep"):
        summary = store.get(name)
        runs = store.runs(name)
        if (summary.state, summary.is_final) != st.session_state.get("train_shown_states", {}).get(name):
            st.rerun(scope="app")  # the selector and the polling follow the new state
        counts = ", ".join(f"{n} {state}" for state, n in summary.counts.items() if n)
        best_text = (f" · best: run #{summary.best_run} ({summary.best_val_accuracy:.1%})"
                     if summary.best_run is not None else "")
        by = f" · by {'you' if summary.owner == who.owner else summary.owner_label}" if who.classroom else ""
        st.markdown(f"**{summary.state}** · {summary.spec.model} · {counts}{best_text}{by}")
        if summary.counts["queued"]:
            st.caption(queue_text(name, summary))
        if not summary.is_final:
            done = sum(r.epochs_done for r in runs)
            planned = sum(r.epochs or 0 for r in runs) or 1
            st.progress(min(1.0, done / planned), text=f"{done} of {planned} epochs")
            if not summary.counts["running"] and not sweeps.workers_alive(s):  # none here, none elsewhere
                st.warning("No worker is running this sweep (the machine or app restarted?).")
                if st.button("Start a worker", key="train_start_worker"):
                    with explained("start a worker"):
                        sweeps.ensure_workers(s)
                        st.rerun()
        keys = plots.varied_keys(runs)
        table = runs_table(runs)
        st.dataframe(
            table.style.apply(_highlight_best(summary.best_run), axis=1).format(
                {"val acc (last)": "{:.3f}", "val acc (best)": "{:.3f}", "seconds": "{:.1f}"}, na_rep="–"),
            hide_index=True, key="train_runs_table", height=min(600, 36 * (len(table) + 1) + 4),
        )
        curves = {plots.run_label(r, keys): plots.val_curve(r) for r in runs}
        best_label = next((plots.run_label(r, keys) for r in runs if r.number == summary.best_run), None)
        if any(curves.values()):
            figure = plots.learning_curves_figure(curves, best=best_label,
                                                  title="Validation accuracy per run")
            st.plotly_chart(figure, key="train_curves", config=NO_BAR)
        else:
            st.caption("Curves appear here after each run's first epoch.")
        show_analysis(name, runs)
        if summary.is_final and any(curves.values()):
            st.subheader("Comparison per hyperparameter")
            st.plotly_chart(plots.param_comparison_figure(plots.comparison_groups(runs)),
                            key="train_comparison", config=NO_BAR)
        actions(name, summary, runs, keys)


live = not shown[picked][1]
st.fragment(run_every=2 if live else None)(show_sweep)(picked)
