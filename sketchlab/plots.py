"""Plotly figures for the app: drawings, guesses, distributions, confusion matrices, training curves.

Each function takes plain data and returns a `plotly.graph_objects.Figure`; none shows it.
Drawings are in Quick Draw's coordinate system (y grows downwards), so the y axis is
reversed and the aspect ratio kept.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative, sample_colorscale
from plotly.subplots import make_subplots

# Stroke order is shown by colour along this scale: first stroke dark, last stroke bright.
STROKE_COLORSCALE = "Viridis"
BEST_COLOR = "#d62728"
OTHER_COLOR = "#8c8c8c"


def _compact(fig: go.Figure, height: int, title: str | None = None) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=8, r=8, t=36 if title else 8, b=8),
        title=dict(text=title, x=0.0, font=dict(size=14)) if title else None,
    )
    return fig


def stroke_colors(n: int) -> list[str]:
    """`n` colours in stroke order (one colour when there is a single stroke)."""
    if n <= 0:
        return []
    return sample_colorscale(STROKE_COLORSCALE, [i / max(1, n - 1) * 0.9 for i in range(n)])


def image_figure(image: np.ndarray, title: str | None = None, height: int = 220) -> go.Figure:
    """A greyscale bitmap (e.g. the 28x28 the models saw), pixel for pixel, white ink on black."""
    image = np.asarray(image, dtype=float)
    fig = go.Figure(
        go.Heatmap(z=image, colorscale="gray", zmin=0, zmax=255, showscale=False,
                   hovertemplate="x %{x}, y %{y}: %{z:.0f}<extra></extra>")
    )
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain")
    return _compact(fig, height, title)


def topk_figure(top_k: list[tuple[str, float]], title: str | None = None, height: int | None = None,
                color: str = "#1f77b4") -> go.Figure:
    """Horizontal bars of (label, probability), most likely on top, probabilities as percentages."""
    labels = [str(label) for label, _ in top_k][::-1]
    probs = [float(p) for _, p in top_k][::-1]
    fig = go.Figure(
        go.Bar(x=probs, y=labels, orientation="h", marker_color=color,
               text=[f"{p:.0%}" for p in probs], textposition="auto",
               hovertemplate="%{y}: %{x:.1%}<extra></extra>")
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%", title=None)
    fig.update_yaxes(title=None, automargin=True)
    return _compact(fig, height or 60 + 34 * max(1, len(top_k)), title)


def bar_figure(counts: dict, title: str | None = None, xlabel: str = "", ylabel: str = "",
               horizontal: bool = False, height: int = 300, log: bool = False) -> go.Figure:
    """Bars of a {name: value} mapping in its order (counts per class, per country, ...).

    Several series side by side: pass {series name: {name: value}} instead.
    """
    series = counts if counts and all(isinstance(v, dict) for v in counts.values()) else {"": counts}
    fig = go.Figure()
    for label, values in series.items():
        names, ys = list(values), list(values.values())
        if horizontal:
            fig.add_trace(go.Bar(x=ys[::-1], y=names[::-1], orientation="h", name=label,
                                 hovertemplate="%{y}: %{x}<extra>" + label + "</extra>"))
        else:
            fig.add_trace(go.Bar(x=names, y=ys, name=label,
                                 hovertemplate="%{x}: %{y}<extra>" + label + "</extra>"))
    fig.update_layout(barmode="group", showlegend=len(series) > 1, legend=dict(orientation="h", y=1.1))
    if log:
        value_axis = fig.update_xaxes if horizontal else fig.update_yaxes
        value_axis(type="log", dtick=1)  # ticks at 1, 10, 100, ...
    fig.update_xaxes(title=(ylabel if horizontal else xlabel) or None)
    fig.update_yaxes(title=(xlabel if horizontal else ylabel) or None, automargin=True)
    return _compact(fig, height, title)


def histogram_figure(groups: dict[str, np.ndarray], title: str | None = None, xlabel: str = "",
                     height: int = 300, nbins: int = 30) -> go.Figure:
    """Overlaid histograms, one per group (e.g. strokes per drawing for each class)."""
    fig = go.Figure()
    for name, values in groups.items():
        fig.add_trace(go.Histogram(x=np.asarray(values), name=str(name), opacity=0.6, nbinsx=nbins))
    fig.update_layout(barmode="overlay", showlegend=len(groups) > 1, legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title=xlabel or None)
    fig.update_yaxes(title="drawings")
    return _compact(fig, height, title)


def confusion_figure(confusion: np.ndarray, classes: list[str], title: str | None = None,
                     height: int | None = None) -> go.Figure:
    """A confusion matrix heatmap, rows = true class; colour = share of the row, text = counts."""
    cm = np.asarray(confusion, dtype=float)
    row_sums = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, row_sums, out=np.zeros_like(cm), where=row_sums > 0)
    fig = go.Figure(
        go.Heatmap(
            z=share, x=list(classes), y=list(classes), colorscale="Blues", zmin=0, zmax=1,
            text=cm.astype(int), texttemplate="%{text}", colorbar=dict(title="share", tickformat=".0%"),
            hovertemplate="true %{y}<br>predicted %{x}<br>%{text} drawings (%{z:.0%} of the row)"
                          "<extra></extra>",
        )
    )
    fig.update_xaxes(title="predicted", tickangle=-40)
    fig.update_yaxes(title="true", autorange="reversed", automargin=True)
    return _compact(fig, height or 140 + 36 * len(classes), title)


def learning_curves_figure(curves: dict[str, list[tuple[int, float]]], best: str | None = None,
                           title: str | None = None, ylabel: str = "validation accuracy",
                           height: int = 360) -> go.Figure:
    """One line per run: (epoch, value) points. The `best` run is drawn thick and red."""
    fig = go.Figure()
    for name, points in curves.items():
        if not points:
            continue
        epochs, values = zip(*points)
        is_best = name == best
        fig.add_trace(
            go.Scatter(
                x=list(epochs), y=list(values), mode="lines+markers", name=str(name),
                line=dict(width=4 if is_best else 1.5, color=BEST_COLOR if is_best else None),
                marker=dict(size=6 if is_best else 4),
                opacity=1.0 if (best is None or is_best) else 0.7,
                hovertemplate=f"{name}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>",
            )
        )
    fig.update_xaxes(title="epoch", rangemode="tozero")
    fig.update_yaxes(title=ylabel)
    fig.update_layout(legend=dict(font=dict(size=10)))
    return _compact(fig, height, title)


def param_comparison_figure(groups: dict[str, dict[str, list[tuple[int, float]]]],
                            title: str | None = None, ylabel: str = "validation accuracy",
                            height_per_row: int = 300) -> go.Figure:
    """Seed 000's comparison: one panel per hyperparameter, one curve per value it took.

    `groups`: {hyperparameter: {value label: [(epoch, value), ...]}}, e.g.
    {"learning_rate": {"0.0001": [...], "0.01": [...]}, "batch_size": {...}}.
    """
    names = [p for p, runs in groups.items() if runs]
    if not names:
        return _compact(go.Figure(), 120, title)
    cols = 1 if len(names) == 1 else 2
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, horizontal_spacing=0.08,
                        vertical_spacing=0.14)
    # One legend for all panels: every entry gets its own colour, never one shared by two values.
    n_entries = sum(len(groups[p]) for p in names)
    palette = qualitative.Dark24 if n_entries <= len(qualitative.Dark24) else sample_colorscale(
        "Turbo", [j / max(1, n_entries - 1) for j in range(n_entries)])
    entry = 0
    for i, param in enumerate(names):
        r, c = divmod(i, cols)
        values = groups[param]
        colors = palette[entry:entry + len(values)]
        entry += len(values)
        for (label, points), color in zip(values.items(), colors):
            if not points:
                continue
            epochs, ys = zip(*points)
            fig.add_trace(
                go.Scatter(x=list(epochs), y=list(ys), mode="lines", name=str(label),
                           line=dict(color=color, width=2), legendgroup=param, legendgrouptitle_text=param,
                           hovertemplate=f"{param}={label}<br>epoch %{{x}}: %{{y:.3f}}<extra></extra>"),
                row=r + 1, col=c + 1,
            )
        fig.update_xaxes(title_text="epoch", row=r + 1, col=c + 1)
        fig.update_yaxes(title_text=ylabel if c == 0 else None, row=r + 1, col=c + 1)
    fig.update_layout(legend=dict(font=dict(size=10), groupclick="toggleitem"))
    fig = _compact(fig, height_per_row * rows + 40, title)
    fig.update_layout(margin=dict(t=60 if title else 32))  # room for the panel titles
    return fig


# ---------------------------------------------------------------- sweeps


def format_value(v) -> str:
    """A hyperparameter value for people: 0.0001 not 1e-04.0, None as 'all'."""
    if isinstance(v, float):
        return f"{v:g}"
    return "all" if v is None else str(v)


def varied_keys(runs) -> list[str]:
    """Hyperparameters that take more than one value across `runs` (objects with `.params`)."""
    keys: dict[str, set] = {}
    for r in runs:
        for k, v in r.params.items():
            keys.setdefault(k, set()).add(format_value(v))
    return [k for k, vals in keys.items() if len(vals) > 1]


def run_label(run, keys: list[str]) -> str:
    """'#3 learning_rate=0.5': the run number and its values of the varied hyperparameters."""
    if run.group:
        keys = [run.group]
    shown = ", ".join(f"{k}={format_value(run.params[k])}" for k in keys if k in run.params)
    return f"#{run.number} {shown}".strip()


def val_curve(run) -> list[tuple[int, float]]:
    """(epoch, validation accuracy) points of a run's history, skipping missing values."""
    out = []
    for h in run.history:
        v = h.get("val_accuracy")
        if v is not None and math.isfinite(float(v)):
            out.append((int(h.get("epoch", len(out) + 1)), float(v)))
    return out


def comparison_groups(runs) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Runs grouped for `param_comparison_figure`: {hyperparameter: {value: curve}}.

    In a one-at-a-time sweep each run belongs to the key it varies (seed 000's plots). In
    other sweeps every run counts under each varied key, and runs sharing a value are
    averaged epoch by epoch.
    """
    groups: dict[str, dict[str, list[list[tuple[int, float]]]]] = {}
    keys = varied_keys(runs)
    for r in runs:
        curve = val_curve(r)
        if not curve:
            continue
        for k in ([r.group] if r.group else keys):
            if k in r.params:
                groups.setdefault(k, {}).setdefault(format_value(r.params[k]), []).append(curve)
    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for k, by_value in groups.items():
        out[k] = {}
        for value, curves in by_value.items():
            per_epoch: dict[int, list[float]] = {}
            for curve in curves:
                for epoch, v in curve:
                    per_epoch.setdefault(epoch, []).append(v)
            out[k][value] = [(e, float(np.mean(vs))) for e, vs in sorted(per_epoch.items())]
    return out
