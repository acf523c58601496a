"""Statistics behind the Explore page: what the drawings of a class look like, and where a model fails.

Everything here is plain data in, plain data out (numpy arrays, dicts, dataclasses), so the
page only lays out widgets and the functions are tested on their own.

- `class_overview` counts the readable drawings per class in a data folder (by format),
  skipping bad files and lines with a note;
- `load_class_sample` reads the first drawings of one class (the files are prefixes of
  Google's arbitrary order, so the first N are a fair sample) and `drawing_stats`
  summarizes them: strokes and points per drawing, recognized ratio, countries;
- `mean_image` and `tile_images` turn 28x28 rasters into pictures;
- `heldout_split` rebuilds seed 000's stratified 80/20 split, and `evaluate` gives a model's
  confusion matrix and the held-out drawings it gets most wrong.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .dataset import (
    NoDataError,
    count_bitmaps,
    load_class_drawings,
    no_data_message,
    scan_data_dir,
)
from .drawing import Drawing
from .errors import SketchLabError
from .dataset import new_bitmap_rows
from .formats import ReadReport, count_drawings, load_bitmaps
from .raster import bitmap_to_input, rasterize_strokes


@dataclass(frozen=True)
class ClassCount:
    """How many drawings the files of one class hold, by format."""

    name: str
    simplified: int = 0
    raw: int = 0
    bitmaps: int = 0
    # Bitmap rows that are not the same drawing as a stroke one (dataset.new_bitmap_rows):
    # what training adds to the stroke drawings.
    bitmap_only: int = 0

    @property
    def strokes(self) -> int:
        # Raw and simplified files are prefixes of the same official order, so the larger
        # of the two is the number of distinct drawings with strokes (SOURCES.md).
        return max(self.simplified, self.raw)

    @property
    def total(self) -> int:
        """Distinct drawings: those with strokes plus the bitmap-only rows."""
        return self.strokes + self.bitmap_only


def data_signature(data_dir) -> tuple:
    """Changes whenever a data file is added, removed or rewritten: a cache key for the folder."""
    out = []
    for name, files in sorted(scan_data_dir(data_dir).items()):
        for p in files.simplified + files.raw + files.bitmap:
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((str(p), st.st_size, st.st_mtime_ns))
    return (str(data_dir), tuple(out))


def class_overview(data_dir, problems: list | None = None, progress=None,
                   exact: bool = False) -> dict[str, ClassCount]:
    """Every class in the data folder with its readable drawings by format, alphabetically.

    Each file is counted on its own: one that cannot be read, is not its format or holds bad
    lines is skipped (or its bad lines are), and `problems` gets a note naming it; a class
    left with no readable drawing is left out. `exact` parses every line (see
    `formats.count_drawings`); `progress(done, total, name)` is called after each class.
    """
    found = scan_data_dir(data_dir, problems)
    out = {}
    for i, name in enumerate(sorted(found, key=str.lower)):
        files = found[name]
        simplified = sum(_count_file(p, problems, exact) for p in files.simplified)
        raw = sum(_count_file(p, problems, exact) for p in files.raw)
        per_file = [(p, _count_file(p, problems, exact)) for p in files.bitmap]
        strokes = max(simplified, raw)
        count = ClassCount(
            name, simplified=simplified, raw=raw, bitmaps=sum(n for _, n in per_file),
            bitmap_only=sum(len(new_bitmap_rows(p, n, strokes)) for p, n in per_file),
        )
        if count.total:
            out[name] = count
        elif problems is not None:
            problems.append(f"{name}: no readable drawings; class left out")
        if progress is not None:
            progress(i + 1, len(found), name)
    return out


def _count_file(path, problems: list | None, exact: bool) -> int:
    """Readable drawings in one file; what was skipped goes to `problems` (one line per file)."""
    try:
        if path.suffix.lower() == ".npy":
            return count_bitmaps(path)
        report = ReadReport()
        n = count_drawings(path, report, exact=exact)
    except (SketchLabError, OSError) as exc:
        if problems is not None:
            problems.append(f"{exc}; file skipped")
        return 0
    if problems is not None:
        if report.n_bad:
            problems.append(_skipped_lines(report))
        else:  # the whole file was refused (e.g. a CSV without a drawing column)
            problems.extend(report.problems)
    return n


def _skipped_lines(report: ReadReport) -> str:
    lines = f"{report.n_bad} unreadable line{'s' if report.n_bad != 1 else ''}"
    return f"{report.path}: {lines} skipped (first: {report.problems[0] if report.problems else '?'})"


@dataclass
class ClassSample:
    """The first drawings of one class: strokes when the files have them, else bitmaps only.

    `n_skipped` is the true number of unreadable lines met (`problems` keeps the first few
    notes); `stroke_files` says whether the class had stroke files, readable or not.
    """

    name: str
    drawings: list[Drawing]
    images: np.ndarray  # (N, 28, 28) uint8, the models' view of the same drawings
    problems: list[str] = field(default_factory=list)
    n_skipped: int = 0
    stroke_files: bool = False

    @property
    def has_strokes(self) -> bool:
        return bool(self.drawings)


def load_class_sample(data_dir, name: str, limit: int = 1000) -> ClassSample:
    """Up to `limit` drawings of class `name`, rasterized; NoDataError if the folder lacks it.

    A bad file is skipped with a note in `problems`; when no stroke drawing can be read,
    the class's bitmaps (if any) are used instead.
    """
    found = scan_data_dir(data_dir)
    if name not in found:
        raise NoDataError(no_data_message(data_dir, [name]))
    files = found[name]
    problems: list[str] = []
    n_skipped = 0
    if files.has_strokes:
        reports: list = []
        try:
            drawings = load_class_drawings(files, limit=limit, reports=reports)
        except (SketchLabError, OSError):
            drawings = []  # every stroke file is bad: the reports say which; bitmaps may remain
        problems = [p for r in reports for p in r.problems]
        n_skipped = sum(r.n_bad for r in reports)
        if drawings:
            images = rasterize_strokes([d.strokes for d in drawings])
            return ClassSample(name, drawings, images, problems, n_skipped, stroke_files=True)
    parts = []
    for path in files.bitmap:
        try:
            parts.append(load_bitmaps(path, limit))
        except (SketchLabError, OSError) as exc:
            problems.append(f"{exc}; file skipped")
    images = np.concatenate(parts)[:limit] if parts else np.zeros((0, 784), dtype=np.uint8)
    return ClassSample(name, [], images.reshape(-1, 28, 28), problems, n_skipped, files.has_strokes)


@dataclass
class DrawingStats:
    """Per-drawing figures for a group of drawings."""

    n_strokes: np.ndarray  # int, one per drawing
    n_points: np.ndarray  # int, one per drawing
    recognized_ratio: float  # NaN when there are no drawings
    countries: dict[str, int]  # countrycode -> drawings, most common first; "" left out

    @property
    def n_drawings(self) -> int:
        return len(self.n_strokes)


def drawing_stats(drawings: list[Drawing]) -> DrawingStats:
    n_strokes = np.array([d.n_strokes for d in drawings], dtype=np.int64)
    n_points = np.array([d.n_points for d in drawings], dtype=np.int64)
    ratio = float(np.mean([bool(d.recognized) for d in drawings])) if drawings else float("nan")
    countries = Counter(d.countrycode for d in drawings if d.countrycode)
    return DrawingStats(n_strokes, n_points, ratio, dict(countries.most_common()))


def top_countries(countries: dict[str, int], n: int = 10) -> dict[str, int]:
    """The `n` most common countries, the rest summed as "other"."""
    items = sorted(countries.items(), key=lambda kv: (-kv[1], kv[0]))
    out = dict(items[:n])
    rest = sum(v for _, v in items[n:])
    if rest:
        out["other"] = rest
    return out


def sample_indices(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """`n` distinct indices out of `n_total`, reproducible from `seed`, in ascending order."""
    n = max(0, min(n, n_total))
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def mean_image(images: np.ndarray) -> np.ndarray:
    """The pixel-wise mean of (N, 28, 28) or (N, 784) images as a (28, 28) float array in 0..255."""
    images = np.asarray(images)
    if len(images) == 0:
        return np.zeros((28, 28))
    return images.reshape(len(images), 28, 28).astype(np.float64).mean(axis=0)


def tile_images(images: np.ndarray, cols: int = 8, gap: int = 1) -> np.ndarray:
    """Lay (N, h, w) images out on a grid, `gap` pixels apart (gaps at mid-grey): one picture."""
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        return np.zeros((1, 1), dtype=np.uint8)
    images = images.reshape(n, -1, images.shape[-1]) if images.ndim == 2 else images
    h, w = images.shape[1:3]
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), 96, dtype=images.dtype)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = img
    return out


# ---------------------------------------------------------------- a model on the held-out split


@dataclass
class HeldOut:
    """A model's held-out 20%: images (N, 28, 28) uint8 and integer labels in the model's order."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    n_train: int
    source: str

    @property
    def X(self) -> np.ndarray:
        return bitmap_to_input(self.images)


def heldout_split(data_dir, classes, per_class: int | None = None, cache_dir=None,
                  balanced: bool = True) -> HeldOut:
    """Seed 000's stratified 80/20 split (test_size 0.2, random_state 42) of `classes` (in the
    model's label order) with a model's per-class cap, as training builds it: the test part.
    """
    from .training import RunConfig, prepare_split

    config = RunConfig(classes=tuple(classes), per_class=per_class, augment=False)
    split = prepare_split(data_dir, config, cache_dir, balanced=balanced)
    images = np.rint(split.X_val * 255).astype(np.uint8).reshape(-1, 28, 28)
    return HeldOut(images, split.y_val, list(split.classes), len(split.y_train), split.source)


@dataclass
class Evaluation:
    """A model's answers on labelled images."""

    probs: np.ndarray  # (N, C)
    labels: np.ndarray  # (N,) true classes
    confusion: np.ndarray  # (C, C) counts, rows = true class, columns = predicted

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(axis=1)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean()) if len(self.labels) else float("nan")

    def most_wrong(self, n: int = 12) -> list[tuple[int, int, float, float]]:
        """The `n` mistakes made with the most confidence:
        (row, predicted class, probability given to it, probability given to the true class)."""
        pred = self.predicted
        wrong = np.flatnonzero(pred != self.labels)
        conf = self.probs[wrong, pred[wrong]]
        order = wrong[np.argsort(-conf, kind="stable")][:n]
        rows = np.arange(len(self.labels))
        true_p = self.probs[rows, self.labels]
        return [(int(i), int(pred[i]), float(self.probs[i, pred[i]]), float(true_p[i])) for i in order]


def evaluate(model, held: HeldOut) -> Evaluation:
    """A model's probabilities and confusion matrix (rows = true class) on held-out images."""
    from .training import predict_proba
    from .cards import confusion_matrix

    probs = np.asarray(predict_proba(model, held.X), dtype=np.float64)
    confusion = np.asarray(confusion_matrix(held.labels, probs.argmax(axis=1), probs.shape[1]))
    return Evaluation(probs, np.asarray(held.labels, dtype=np.int64), confusion)
