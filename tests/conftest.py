"""Shared fixtures: small data folders the tests write themselves, and the real data when present.

Real Quick Draw data (`../shared/quickdraw`, or `SKETCHLAB_TEST_SHARED`) is used by the
tests marked with the `real_data` fixture; they skip only when it is absent. Everything
else runs on synthetic drawings made here, so the suite passes on any machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_QUICKDRAW = Path(os.environ.get("SKETCHLAB_TEST_SHARED", REPO.parent / "shared" / "quickdraw"))

# Shapes that a small model can tell apart: each class is a different figure.
SYNTHETIC_CLASSES = ("apple", "anvil", "airplane", "banana")


def _shape(kind: int, rng: np.random.Generator) -> list[list[list[int]]]:
    """A noisy figure in raw canvas pixels: circle, square, cross or zigzag."""
    cx, cy = rng.uniform(150, 350, 2)
    r = rng.uniform(60, 140)
    if kind == 0:
        t = np.linspace(0, 2 * np.pi, 40)
        strokes = [np.stack([cx + r * np.cos(t), cy + r * np.sin(t)])]
    elif kind == 1:
        xs = [cx - r, cx + r, cx + r, cx - r, cx - r]
        ys = [cy - r, cy - r, cy + r, cy + r, cy - r]
        strokes = [np.array([xs, ys])]
    elif kind == 2:
        strokes = [np.array([[cx - r, cx + r], [cy, cy]]), np.array([[cx, cx], [cy - r, cy + r]])]
    else:
        xs = cx + np.linspace(-r, r, 7)
        ys = cy + np.array([-1, 1, -1, 1, -1, 1, -1]) * r / 2
        strokes = [np.array([xs, ys])]
    out = []
    for s in strokes:
        s = s + rng.normal(0, 3, s.shape)
        t = np.cumsum(rng.uniform(10, 30, s.shape[1])).astype(int)
        out.append([[int(round(v)) for v in s[0]], [int(round(v)) for v in s[1]], t.tolist()])
    return out


def synthetic_records(word: str, kind: int, n: int, seed: int = 0, raw: bool = False) -> list[dict]:
    """`n` Quick Draw records of one class. Simplified ones go through the real normalization."""
    from sketchlab.data.drawing import normalize_strokes, strokes_from_lists, strokes_to_lists

    rng = np.random.default_rng(seed * 1000 + kind)
    records = []
    for i in range(n):
        drawing = _shape(kind, rng)
        if not raw:
            drawing = strokes_to_lists(normalize_strokes(strokes_from_lists(drawing)))
        records.append(
            {
                "word": word,
                "countrycode": ["US", "GB", "DE", "BR"][i % 4],
                "timestamp": "2017-03-01 12:00:00.00000 UTC",
                "recognized": i % 7 != 0,
                "key_id": f"{kind:02d}{i:06d}",
                "drawing": drawing,
            }
        )
    return records


def write_ndjson(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def make_data_dir(root: Path, per_class: int = 30, classes=SYNTHETIC_CLASSES, seed: int = 0) -> Path:
    """A data folder in the bucket's layout with synthetic simplified drawings."""
    for kind, word in enumerate(classes):
        write_ndjson(root / "simplified_ndjson" / f"{word}.ndjson", synthetic_records(word, kind % 4, per_class, seed))
    return root


@pytest.fixture
def tiny_data_dir(tmp_path) -> Path:
    """4 synthetic classes x 30 simplified drawings."""
    return make_data_dir(tmp_path / "quickdraw")


@pytest.fixture
def sketchlab_env(tmp_path, monkeypatch, tiny_data_dir):
    """Point SketchLab's data and state at temporary folders; returns the Settings."""
    from sketchlab.settings import Settings

    home = tmp_path / "home"
    monkeypatch.setenv("SKETCHLAB_DATA", str(tiny_data_dir))
    monkeypatch.setenv("SKETCHLAB_HOME", str(home))
    monkeypatch.delenv("SKETCHLAB_TEACHER_PASSWORD", raising=False)  # no classroom unless a test sets one
    return Settings.from_env()


@pytest.fixture
def real_data() -> Path:
    """The real Quick Draw files beside the repo; skips only when they are absent."""
    if not (SHARED_QUICKDRAW / "simplified_ndjson").is_dir():
        pytest.skip(f"real Quick Draw data not found at {SHARED_QUICKDRAW}")
    return SHARED_QUICKDRAW
