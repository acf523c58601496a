"""Find Quick Draw files in a data folder and build train/test datasets from them.

A data folder holds files in the public bucket's layout (any depth is searched):
`simplified_ndjson/<class>.ndjson`, `raw_ndjson/<class>.ndjson`, `numpy_bitmap/<class>.npy`,
Kaggle `train_simplified/<class>.csv`, and the seed's `quickdraw10.npz`.

Every source counts, each drawing once: simplified and raw files of a class are merged
by key_id (raw strokes go through the same normalization), and the class's official
28x28 bitmap rows are added unless the same drawing is already here as strokes. The
files are prefixes of Google's per-class files, so the first N stroke lines are official
drawings 0..N-1, and a bitmap row's official index comes from `numpy_bitmap/ROWS.json`
(or is its row number, for a file downloaded whole from row 0): a row whose index is
below N is the same drawing as a stroke one and is left out.
The 80/20 split is seed 000's (`test_size=0.2, random_state=42`), stratified per class
and per source (strokes / bitmap-only), so both kinds of drawing are tested in proportion.
Built arrays are cached on disk keyed by the spec and the files' sizes and times.
Long steps take `progress(done, total, message)`, the downloader's callback shape, so the
app can feed both to st.progress and the CLI to tqdm.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..categories import ALL_CATEGORIES, QUICKDRAW_10
from .drawing import Drawing, normalize_strokes
from ..errors import SketchLabError
from ..fileio import atomic_write
from .formats import count_bitmaps  # noqa: F401 - re-exported: `data info` and explore count from here
from .formats import DataFormatError, ReadReport, iter_drawings, load_bitmaps, load_npz
from .raster import bitmap_to_input, rasterize_strokes

NPZ_NAME = "quickdraw10.npz"
_CANONICAL = {c.lower(): c for c in ALL_CATEGORIES}
# Part of the cache key: bump when the arrays a spec produces change (reader, normalization, raster).
CACHE_VERSION = 3
ROWS_FILE = "ROWS.json"  # {class: [official row index of each row of numpy_bitmap/<class>.npy]}
# Simplified strokes lie in 0..255; anything beyond (or with times) is raw and gets normalized.
_SIMPLIFIED_MAX = 255.5


class NoDataError(SketchLabError, RuntimeError):
    """No usable data for the request; the message says how to get some."""


def no_data_message(data_dir, missing=()) -> str:
    what = f"no Quick Draw files for {', '.join(missing)}" if missing else "no Quick Draw files"
    return (
        f"{what} in {data_dir}. Get data with `python -m sketchlab data download` "
        "(needs internet; `--per-class N` fetches only the first N drawings), or point "
        "SKETCHLAB_DATA at a folder of Quick Draw files (simplified_ndjson/<class>.ndjson, "
        "raw_ndjson/, numpy_bitmap/<class>.npy)."
    )


@dataclass
class ClassFiles:
    """The files that hold one class, by format."""

    name: str
    simplified: list[Path] = field(default_factory=list)
    raw: list[Path] = field(default_factory=list)
    bitmap: list[Path] = field(default_factory=list)

    @property
    def has_strokes(self) -> bool:
        return bool(self.simplified or self.raw)


def scan_data_dir(data_dir, problems: list | None = None) -> dict[str, ClassFiles]:
    """Every class with files under `data_dir`, keyed by its official spelling.

    A file whose name is not UTF-8 cannot be named on a page: it is skipped, and noted in
    `problems` when a list is given.
    """
    root = Path(data_dir)
    found: dict[str, ClassFiles] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        suffix = path.suffix.lower()
        if not path.is_file() or path.name.startswith(".") or suffix not in (".ndjson", ".csv", ".npy"):
            continue
        if not _is_utf8(path):
            if problems is not None:
                problems.append(f"{_printable(path)}: file name is not UTF-8; skipped (rename it to read it)")
            continue
        name = _CANONICAL.get(path.stem.lower(), path.stem)
        entry = found.setdefault(name, ClassFiles(name))
        # Only folders below the data folder count: the folder itself may be called "quickdraw".
        folders = [part.lower() for part in path.relative_to(root).parts[:-1]]
        if suffix == ".npy":
            entry.bitmap.append(path)
        elif any(part.startswith("raw") for part in folders):
            entry.raw.append(path)
        else:
            entry.simplified.append(path)
    return found


def _is_utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:  # undecodable bytes became surrogates (PEP 383)
        return False


def _printable(path: Path) -> str:
    return os.fsencode(path).decode("utf-8", "backslashreplace")  # the raw bytes, e.g. caf\\xe9


def count_lines(path: Path) -> int:
    """Non-empty lines of a text file (drawings in an ndjson, rows + header in a CSV)."""
    with open(path, "rb") as fh:
        n = sum(1 for line in fh if line.strip())
    return n - 1 if path.suffix.lower() == ".csv" and n else n


def load_class_drawings(
    files: ClassFiles,
    limit: int | None = None,
    recognized_only: bool = False,
    reports: list | None = None,
) -> list[Drawing]:
    """The distinct drawings of one class, normalized to simplified space.

    Simplified files first (already normalized), then raw drawings whose key_id is new.
    Raw strokes are kept in `extra["raw_strokes"]`. A "simplified" file whose first drawing
    holds raw strokes (times, or coordinates beyond 0..255) is normalized too, not drawn as is.
    A file that cannot be read is skipped (its report in `reports` says why), unless nothing
    at all could be read: then that file's DataFormatError (or OSError) is raised.
    """
    seen: set[str] = set()
    out: list[Drawing] = []
    failed: list[Exception] = []
    for kind, paths in (("simplified", files.simplified), ("raw", files.raw)):
        for path in paths:
            if limit is not None and len(out) >= limit:
                return out
            report = ReadReport()
            normalize = None if kind == "simplified" else True
            for d in _read_isolated(path, report, failed):  # one bad file is skipped, and said so
                if normalize is None:  # files are homogeneous: judge by the first drawing
                    normalize = d.has_times or _beyond_simplified(d.strokes)
                if (d.key_id and d.key_id in seen) or (recognized_only and not d.recognized):
                    continue
                if normalize:
                    d.extra["raw_strokes"] = d.strokes
                    d.strokes = normalize_strokes(d.strokes)
                if d.key_id:
                    seen.add(d.key_id)
                d.word = d.word or files.name
                out.append(d)
                if limit is not None and len(out) >= limit:
                    break
            if reports is not None:
                reports.append(report)
    if not out and failed:
        raise failed[0]  # nothing readable at all: the first bad file's own message says why
    return out


def _read_isolated(path: Path, report: ReadReport, failed: list):
    """A file's drawings; a file that fails part-way keeps what was read before the failure."""
    try:
        yield from iter_drawings(path, report)
    except (DataFormatError, OSError) as exc:
        report.fail(str(exc))
        failed.append(exc)


def _beyond_simplified(strokes) -> bool:
    points = np.concatenate([s[:, :2] for s in strokes])
    return bool(points.max() > _SIMPLIFIED_MAX or points.min() < 0)


@dataclass(frozen=True)
class DatasetSpec:
    """What to build: classes, per-class cap, filters and the split."""

    classes: tuple[str, ...] = QUICKDRAW_10
    per_class: int | None = None  # cap per class; None = all available
    balanced: bool = True  # cut every class to the smallest one's count (seed 004)
    recognized_only: bool = False
    test_size: float = 0.2
    seed: int = 42


@dataclass
class StrokeData:
    """Drawings as strokes with integer labels: what augmentation and k-fold work on."""

    drawings: list[Drawing]
    labels: np.ndarray
    classes: list[str]
    source: str
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}


@dataclass
class Dataset:
    """Bitmaps ready for the models: X float32 (N, 784) in [0, 1], y int64 labels."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: str

    def counts(self) -> dict[str, int]:
        y = np.concatenate([self.y_train, self.y_test])
        return {c: int((y == i).sum()) for i, c in enumerate(self.classes)}


def _resolve_classes(data_dir, classes) -> tuple[list[str], dict[str, ClassFiles]]:
    available = scan_data_dir(data_dir)
    names = [_CANONICAL.get(c.strip().lower(), c.strip()) for c in classes]
    missing = [c for c in names if c not in available]
    if missing:
        raise NoDataError(no_data_message(data_dir, missing))
    return names, available


def _cap(spec: DatasetSpec, counts: list[int]) -> int | None:
    cap = spec.per_class
    if spec.balanced and counts:
        cap = min(counts) if cap is None else min(cap, min(counts))
    return cap


def _empty_classes(data_dir, names, counts, spec: DatasetSpec) -> None:
    empty = [c for c, n in zip(names, counts) if n == 0]
    if empty:
        why = " recognized" if spec.recognized_only else ""
        raise NoDataError(f"no{why} drawings could be read for {', '.join(empty)} in {data_dir}")


def load_stroke_data(data_dir, spec: DatasetSpec = DatasetSpec(), progress=None) -> StrokeData:
    """Load the drawings of `spec.classes` as strokes; classes without strokes raise NoDataError.

    `progress(done_classes, total_classes, message)` is called after each class.
    """
    names, available = _resolve_classes(data_dir, spec.classes)
    no_strokes = [c for c in names if not available[c].has_strokes]
    if no_strokes:
        raise NoDataError(no_data_message(data_dir, [f"{c} (strokes)" for c in no_strokes]))
    reports: list[ReadReport] = []
    per_class = []
    for i, c in enumerate(names):
        per_class.append(load_class_drawings(available[c], spec.per_class, spec.recognized_only, reports))
        if progress is not None:
            progress(i + 1, len(names), f"{c}: {len(per_class[-1])} drawings")
    _empty_classes(data_dir, names, [len(d) for d in per_class], spec)
    cap = _cap(spec, [len(d) for d in per_class])
    drawings, labels = [], []
    for i, ds in enumerate(per_class):
        ds = ds[:cap] if cap is not None else ds
        drawings.extend(ds)
        labels.extend([i] * len(ds))
    problems = [p for r in reports for p in r.problems]
    return StrokeData(drawings, np.asarray(labels, dtype=np.int64), names, f"strokes from {data_dir}", problems)


def official_rows(path: Path, n_rows: int, problems: list | None = None) -> np.ndarray:
    """The official row index (in Google's per-class .npy) of each of the file's `n_rows` rows.

    From the ROWS.json beside the file when it lists the class with one index per row;
    otherwise row i is official row i (a file downloaded whole from row 0).
    """
    rows_file = Path(path).parent / ROWS_FILE
    if rows_file.is_file():
        try:
            table = json.loads(rows_file.read_text(encoding="utf-8"))
            rows = table.get(Path(path).stem) if isinstance(table, dict) else None
        except (OSError, UnicodeDecodeError, ValueError):
            rows = None
        if rows is not None and len(rows) == n_rows:
            return np.asarray(rows, dtype=np.int64)
        if rows is not None and problems is not None:
            problems.append(f"{rows_file}: lists {len(rows)} rows for {Path(path).name}, which has {n_rows}; "
                            "row numbers used as official indices")
    return np.arange(n_rows, dtype=np.int64)


def stroke_index_count(files: ClassFiles) -> int:
    """How many official drawings the stroke files cover: the first N lines of every file
    are official drawings 0..N-1, so N is the longest file's count."""
    counts = [count_lines(p) for p in files.simplified + files.raw]
    return max(counts, default=0)


def new_bitmap_rows(path: Path, n_rows: int, n_stroke_drawings: int, problems: list | None = None) -> np.ndarray:
    """Row numbers of the bitmaps in `path` that are not already here as strokes."""
    return np.flatnonzero(official_rows(path, n_rows, problems) >= n_stroke_drawings)


def class_bitmap_rows(files: ClassFiles, limit: int | None = None, problems: list | None = None) -> np.ndarray:
    """(N, 784) uint8: the class's official bitmap rows that are not the same drawing as one of
    its stroke drawings (`new_bitmap_rows`), file by file, at most `limit` of them."""
    parts, n = [], 0
    if files.bitmap and (limit is None or limit > 0):
        n_strokes = stroke_index_count(files) if files.has_strokes else 0
        for path in files.bitmap:
            rows = load_bitmaps(path)
            keep = new_bitmap_rows(path, len(rows), n_strokes, problems)
            if limit is not None:
                keep = keep[: max(limit - n, 0)]
            parts.append(rows[keep].reshape(-1, 784))
            n += len(keep)
    return np.concatenate(parts).astype(np.uint8) if parts else np.zeros((0, 784), np.uint8)


@dataclass
class AllData:
    """Every distinct drawing of some classes, from every source, ready to split and train on.

    `images`: uint8 (N, 784) (stroke drawings rendered like the official bitmaps);
    `strokes[i]`: the normalized strokes of row i, or None for a bitmap-only row;
    `from_bitmap[i]`: row i exists only as an official bitmap.
    """

    images: np.ndarray
    labels: np.ndarray
    strokes: list
    from_bitmap: np.ndarray
    classes: list[str]
    source: str
    problems: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {c: int((self.labels == i).sum()) for i, c in enumerate(self.classes)}

    def source_counts(self) -> dict[str, dict[str, int]]:
        """{class: {"strokes": n, "bitmaps": m}}: drawings with strokes and bitmap-only rows."""
        return {c: {"strokes": int(((self.labels == i) & ~self.from_bitmap).sum()),
                    "bitmaps": int(((self.labels == i) & self.from_bitmap).sum())}
                for i, c in enumerate(self.classes)}

    def strata(self) -> np.ndarray:
        """Class x source: what the held-out split and the folds are stratified on."""
        return self.labels * 2 + self.from_bitmap.astype(np.int64)

    def subset(self, rows) -> "AllData":
        rows = np.asarray(rows, dtype=np.int64)
        return AllData(self.images[rows], self.labels[rows], [self.strokes[r] for r in rows],
                       self.from_bitmap[rows], list(self.classes), self.source, list(self.problems))


def load_all_data(data_dir, classes=QUICKDRAW_10, per_class: int | None = None,
                  recognized_only: bool = False, balanced: bool = False, progress=None) -> AllData:
    """Every distinct drawing of `classes`: strokes (simplified and raw by key_id) first,
    then the class's bitmap rows that are not the same drawing as a stroke one.

    `per_class` caps each class (strokes first); `balanced` cuts every class to the
    smallest one's count. Bitmaps carry no "recognized" flag: `recognized_only` keeps all.
    `progress(done_classes, total_classes, message)` is called after each class.
    """
    names, available = _resolve_classes(data_dir, classes)
    reports: list[ReadReport] = []
    problems: list[str] = []
    per_class_parts = []
    for i, c in enumerate(names):
        files = available[c]
        drawings = load_class_drawings(files, per_class, recognized_only, reports) if files.has_strokes else []
        strokes = [d.strokes for d in drawings]
        images = [rasterize_strokes(strokes).reshape(-1, 784)] if strokes else []
        room = None if per_class is None else per_class - len(strokes)
        bitmaps = class_bitmap_rows(files, room, problems)
        images.append(bitmaps)
        n_bitmaps = len(bitmaps)
        per_class_parts.append((strokes, np.concatenate(images)))
        if progress is not None:
            progress(i + 1, len(names), f"{c}: {len(strokes)} strokes" + (f" + {n_bitmaps} bitmaps" if n_bitmaps else ""))
    _empty_classes(data_dir, names, [len(im) for _, im in per_class_parts],
                   DatasetSpec(classes=tuple(names), recognized_only=recognized_only))
    cap = _cap(DatasetSpec(per_class=per_class, balanced=balanced), [len(im) for _, im in per_class_parts])
    images, labels, strokes_out, from_bitmap = [], [], [], []
    for i, (strokes, im) in enumerate(per_class_parts):
        n = len(im) if cap is None else min(cap, len(im))
        images.append(im[:n].astype(np.uint8))
        labels.append(np.full(n, i, dtype=np.int64))
        kept = strokes[:n]
        strokes_out.extend(kept)
        strokes_out.extend([None] * (n - len(kept)))
        from_bitmap.append(np.arange(n) >= len(kept))
    problems = [p for r in reports for p in r.problems] + problems
    kinds = [k for k, used in (("strokes", any(s is not None for s in strokes_out)),
                                ("bitmaps", any(b.any() for b in from_bitmap))) if used]
    return AllData(np.concatenate(images), np.concatenate(labels), strokes_out, np.concatenate(from_bitmap),
                   names, f"{data_dir} ({' + '.join(kinds)})", problems)




def _fingerprint(data_dir, spec: DatasetSpec, names, available) -> str:
    files = []
    for c in names:
        for p in available[c].simplified + available[c].raw + available[c].bitmap:
            st = p.stat()
            files.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    blob = json.dumps([CACHE_VERSION, asdict(spec), files], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _atomic_savez(path: Path, **arrays) -> None:
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def _read_cache(path: Path):
    """(images, labels, from_bitmap, source) from a cache file, or None when absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["images"], z["labels"], z["from_bitmap"], str(z["source"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # missing, half-written by a killed process, or foreign: rebuild


def split_indices(labels: np.ndarray, test_size: float, seed: int,
                  strata: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Seed 000's stratified split of row indices (`train_test_split`, stratify=labels).

    `strata` (e.g. `AllData.strata()`: class x source) refines the stratification when every
    stratum has at least 2 rows; otherwise the split is stratified by class alone.
    Raises NoDataError saying which class is too small when a stratified split is impossible.
    """
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    stratify = labels
    if strata is not None and len(strata) and np.bincount(np.unique(strata, return_inverse=True)[1]).min() >= 2:
        stratify = strata
    try:
        return train_test_split(idx, test_size=test_size, random_state=seed, stratify=stratify)
    except ValueError as exc:
        counts = np.bincount(labels) if len(labels) else np.zeros(1, dtype=int)
        raise NoDataError(
            f"cannot split {len(labels)} drawings {1 - test_size:.0%}/{test_size:.0%} with every class on "
            f"both sides (smallest class: {counts.min()} drawings): {exc}"
        ) from None


def _npz_dataset(npz: Path, spec: DatasetSpec) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The seed's quickdraw10.npz (labels in QUICKDRAW_10 order) cut to the spec's classes."""
    images, labels = load_npz(npz)
    names = [_CANONICAL.get(c.strip().lower(), c.strip()) for c in spec.classes]
    missing = [c for c in names if c not in QUICKDRAW_10 or QUICKDRAW_10.index(c) > labels.max(initial=-1)]
    if missing:
        raise NoDataError(no_data_message(npz.parent, missing))
    rows = [np.flatnonzero(labels == QUICKDRAW_10.index(c))[: spec.per_class] for c in names]
    cap = _cap(spec, [len(r) for r in rows])
    rows = [r[:cap] for r in rows]
    new_labels = np.concatenate([np.full(len(r), i, dtype=np.int64) for i, r in enumerate(rows)])
    return images[np.concatenate(rows)], new_labels, names


def build_dataset(data_dir, spec: DatasetSpec = DatasetSpec(), cache_dir=None, progress=None) -> Dataset:
    """Bitmaps for the models, split 80/20; cached in `cache_dir` so the second call is instant.

    Every source is used (`load_all_data`): strokes are read, normalized and rasterized, and
    the numpy_bitmap rows that are not the same drawing as a stroke one are added. A `quickdraw10.npz` in the data folder is used when no class files exist.
    `progress(done_classes, total_classes, message)` is called after each class.
    """
    root = Path(data_dir)
    npz = next(root.rglob(NPZ_NAME), None) if root.is_dir() else None
    if npz is not None and not scan_data_dir(data_dir):
        images, labels, names = _npz_dataset(npz, spec)
        return _split(images, labels, names, spec, f"{npz}")
    names, available = _resolve_classes(data_dir, spec.classes)
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"dataset-{_fingerprint(data_dir, spec, names, available)}.npz"
        cached = _read_cache(cache_path) if cache_path.exists() else None
        if cached is not None:
            if progress is not None:
                progress(len(names), len(names), f"read from cache {cache_path.name}")
            return _split(cached[0], cached[1], names, spec, cached[3], cached[2])
    data = load_all_data(data_dir, names, spec.per_class, spec.recognized_only, spec.balanced, progress)
    images, labels, from_bitmap, source = data.images, data.labels, data.from_bitmap, data.source
    if cache_path is not None:
        try:
            _atomic_savez(cache_path, images=images, labels=labels, from_bitmap=from_bitmap,
                          source=np.asarray(source))
        except OSError:
            pass  # an unwritable cache folder costs speed next time, never this result
    return _split(images, labels, names, spec, source, from_bitmap)


def _split(images, labels, classes, spec: DatasetSpec, source: str, from_bitmap=None) -> Dataset:
    X = bitmap_to_input(images)
    strata = None if from_bitmap is None else labels * 2 + np.asarray(from_bitmap, dtype=np.int64)
    train, test = split_indices(labels, spec.test_size, spec.seed, strata)
    return Dataset(X[train], labels[train], X[test], labels[test], list(classes), source)
