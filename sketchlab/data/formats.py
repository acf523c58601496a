"""Streaming readers for every Quick Draw file format SketchLab accepts.

- simplified ndjson and raw ndjson (one JSON object per line; raw strokes carry times),
- the Kaggle `train_simplified` CSV (the drawing as a JSON string),
- numpy_bitmap `.npy` (N x 784 uint8), and the seed's quickdraw10 `.npz` (arr_0, arr_1).

A bad line or row is counted in a `ReadReport` and skipped, never fatal. A file that
is not the format at all raises `DataFormatError` naming the file and line.
Arrays are always loaded with `allow_pickle=False`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .drawing import Drawing, strokes_from_lists
from ..errors import SketchLabError
from ..limits import drawing_limits

# After this many bad lines with no good one, the file is judged not to be the format.
_MAX_LEADING_BAD = 10


class DataFormatError(SketchLabError, ValueError):
    """A file that is not the format it claims to be (message names file and line)."""


@dataclass
class ReadReport:
    """What a reader saw: good records, bad ones and the first few reasons."""

    path: str = ""
    n_ok: int = 0
    n_bad: int = 0
    problems: list[str] = field(default_factory=list)

    def bad(self, line: int, reason: str) -> None:
        self.n_bad += 1
        if len(self.problems) < 20:
            self.problems.append(f"{self.path}:{line}: {reason}")

    def fail(self, message: str) -> None:
        """The whole file was skipped (unreadable, or not the format): `message` names it."""
        self.problems.insert(0, message)
        del self.problems[20:]

    def summary(self) -> str:
        text = f"{self.path}: {self.n_ok} drawings read"
        if self.n_bad:
            text += f", {self.n_bad} bad lines skipped (first: {self.problems[0]})"
        return text


def drawing_from_record(record: dict) -> Drawing:
    """A Quick Draw JSON object (ndjson line or parsed CSV row) → Drawing. Raises ValueError."""
    if not isinstance(record, dict) or "drawing" not in record:
        raise ValueError("no 'drawing' field")
    drawing = record["drawing"]
    if isinstance(drawing, str):  # Kaggle CSV stores the drawing as a JSON string
        drawing = parse_json(drawing)
        if isinstance(drawing, ValueError):
            raise drawing
    recognized = record.get("recognized", True)
    if isinstance(recognized, str):
        recognized = recognized.strip().lower() == "true"
    return Drawing(
        strokes=strokes_from_lists(drawing),
        word=str(record.get("word", "")),
        key_id=str(record.get("key_id", "")),
        countrycode=str(record.get("countrycode", "")),
        recognized=bool(recognized),
        timestamp=str(record.get("timestamp", "")),
    )


def _records(path: Path, rows: Iterator[tuple[int, object]], report: ReadReport, limit):
    """Turn (line number, raw record or Exception) pairs into Drawings, counting the bad ones."""
    for line_no, row in rows:
        if limit is not None and report.n_ok >= limit:
            return
        try:
            if isinstance(row, Exception):
                raise row
            drawing = drawing_from_record(row)
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            report.bad(line_no, _reason(exc))
            if report.n_ok == 0 and report.n_bad >= _MAX_LEADING_BAD:
                raise DataFormatError(
                    f"{path}:{line_no}: not a Quick Draw drawing file "
                    f"({report.n_bad} bad lines, none good; first: {report.problems[0]})"
                ) from None
            continue
        report.n_ok += 1
        yield drawing


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    return str(exc) or type(exc).__name__


def parse_json(text):
    """A JSON value, or a ValueError saying why the text is not one (never a RecursionError)."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return ValueError(f"invalid JSON ({exc.msg if hasattr(exc, 'msg') else exc})")
    except RecursionError:
        return ValueError("invalid JSON (nested too deeply)")
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        return ValueError(f"invalid JSON ({exc})")


def _lines(fh, first: int = 1):
    """(line number, line) for each line of an open file; a line longer than the max_line_bytes
    limit comes as (line number, its length), and is never held in memory whole."""
    limit = drawing_limits().max_line_bytes
    newline = "\n" if isinstance(fh, io.TextIOBase) else b"\n"
    for line_no in itertools.count(first):
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(newline):
            yield line_no, line
            continue
        size = len(line)
        while line and not line.endswith(newline):
            line = fh.readline(1 << 20)  # skip the rest of it, a megabyte at a time
            size += len(line)
        yield line_no, size


def _too_long(size: int) -> str:
    return (f"line of {size:,} bytes is over the limit of {drawing_limits().max_line_bytes:,} "
            "(SKETCHLAB_MAX_LINE_BYTES); not read")


def _ndjson_rows(path: Path):
    with open(path, "rb") as fh:
        for line_no, raw in _lines(fh):
            if isinstance(raw, int):
                yield line_no, ValueError(_too_long(raw))
            elif raw.strip():
                yield line_no, parse_json(raw)


def _csv_rows(path: Path):
    """Rows of a Kaggle CSV, each read from its own line.

    Quick Draw CSV rows never span lines (the drawing's JSON has no newline), so each line
    is parsed on its own: an unclosed quote spoils its own row only, instead of silently
    swallowing the good rows after it as a multi-line field.
    """
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # a long drawing is one long field
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header_line = fh.readline()
        try:
            fieldnames = next(csv.reader([header_line], strict=True), None)
        except csv.Error:
            fieldnames = None
        if not fieldnames or "drawing" not in fieldnames:
            raise DataFormatError(f"{path}:1: CSV header has no 'drawing' column (got {fieldnames})")
        for line_no, line in _lines(fh, first=2):
            if isinstance(line, int):
                yield line_no, ValueError(_too_long(line))
                continue
            if not line.strip():
                continue
            try:
                values = next(csv.reader([line], strict=True))
            except csv.Error as exc:  # a malformed row: count it, read on
                yield line_no, ValueError(f"malformed CSV row ({exc})")
                continue
            if len(values) != len(fieldnames):
                yield line_no, ValueError(f"malformed CSV row ({len(values)} fields, the header has "
                                          f"{len(fieldnames)})")
                continue
            row = dict(zip(fieldnames, values))
            drawing = parse_json(row["drawing"] or "")
            if isinstance(drawing, ValueError):
                yield line_no, ValueError(f"drawing column is not JSON ({drawing})")
            else:
                row["drawing"] = drawing
                yield line_no, row


def iter_drawings(path, report: ReadReport | None = None, limit: int | None = None) -> Iterator[Drawing]:
    """Stream the drawings of an ndjson (simplified or raw) or Kaggle CSV file.

    Pass a `ReadReport` to learn how many lines were bad; `limit` stops after that many good ones.
    """
    path = Path(path)
    report = report if report is not None else ReadReport()
    report.path = str(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".ndjson", ".jsonl", ".json"):
        rows = _ndjson_rows(path)
    elif suffix == ".csv":
        rows = _csv_rows(path)
    else:
        raise DataFormatError(f"{path}:1: unknown stroke format '{suffix}' (expected .ndjson or .csv)")
    yield from _records(path, rows, report, limit)
    if report.n_ok == 0 and report.n_bad:
        raise DataFormatError(
            f"{report.problems[0]} (not a Quick Draw drawing file: {report.n_bad} bad lines, none good)"
        )


def read_drawings(path, limit: int | None = None) -> tuple[list[Drawing], ReadReport]:
    """All drawings of a stroke file, with the report of bad lines."""
    report = ReadReport()
    drawings = list(iter_drawings(path, report, limit))
    return drawings, report


def count_drawings(path, report: ReadReport | None = None, exact: bool = False) -> int:
    """Drawings in a stroke file (ndjson or CSV), bad lines counted in `report` and skipped.

    `exact=True` parses every line as `iter_drawings` does. The default checks each line's
    shape only (a JSON object with a "drawing" field; a CSV row whose drawing field is a
    list), ~30x faster per line (benchmarks/limits.py), so the pages can count a full download:
    binary junk, truncated and empty lines are not counted; a line that looks right but
    holds bad numbers is (the readers skip it later and say so). OSError if unreadable.
    """
    path = Path(path)
    report = report if report is not None else ReadReport()
    report.path = str(path)
    if exact:
        try:
            for _ in iter_drawings(path, report):
                pass
        except DataFormatError as exc:
            report.fail(str(exc))
        return report.n_ok
    if path.suffix.lower() == ".csv":
        return _count_csv(path, report)
    with open(path, "rb") as fh:
        for line_no, raw in _lines(fh):
            if isinstance(raw, int):
                report.bad(line_no, _too_long(raw))
                continue
            line = raw.strip()
            if not line:
                continue
            if line.startswith(b"{") and line.endswith(b"}") and b'"drawing"' in line:
                report.n_ok += 1
            else:
                report.bad(line_no, "not a drawing (not a JSON object with a 'drawing' field)")
    return report.n_ok


def _count_csv(path: Path, report: ReadReport) -> int:
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        try:
            header = next(csv.reader([fh.readline()], strict=True), None)
        except csv.Error:
            header = None
        if not header or "drawing" not in header:
            report.fail(f"{path}:1: CSV header has no 'drawing' column (got {header})")
            return 0
        at = header.index("drawing")
        for line_no, line in _lines(fh, first=2):
            if isinstance(line, int):
                report.bad(line_no, _too_long(line))
                continue
            if not line.strip():
                continue
            try:
                values = next(csv.reader([line], strict=True))
            except csv.Error as exc:
                report.bad(line_no, f"malformed CSV row ({exc})")
                continue
            drawing = values[at].strip() if len(values) == len(header) else ""
            if drawing.startswith("[") and drawing.endswith("]"):
                report.n_ok += 1
            else:
                report.bad(line_no, "malformed CSV row (no drawing list)")
    return report.n_ok


def count_npz(path) -> tuple[int, int]:
    """(drawings, classes) of a quickdraw10 `.npz`, from arr_0's header and the labels only."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive, archive.open("arr_0.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            shape, _fortran, _dtype = read_header(fh)
        with np.load(path, allow_pickle=False) as data:
            labels = data["arr_1"]
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _np_load_error(path, "quickdraw10 .npz file", exc) from None
    if len(shape) < 2 or int(np.prod(shape[1:])) != 784 or labels.size != shape[0] \
            or not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(f"{path}:1: arr_0 must be N x 784 and arr_1 N integer labels; "
                              f"got {shape} and {labels.shape} {labels.dtype}")
    return int(shape[0]), len(np.unique(labels))


def _np_load_error(path: Path, what: str, exc: Exception) -> DataFormatError:
    """Why numpy refused a file, in words: numpy says "pickled" for any file without its header."""
    reason = str(exc)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        head = b"\x93NUMPY"  # unreadable now: keep numpy's own reason
    if not head:
        reason = "the file is empty"
    elif head.startswith(b"\x80") or (("Object arrays" in reason or "Python objects" in reason) and head.startswith((b"\x93NUMPY", b"PK"))):
        reason = "it holds pickled Python objects, which are never loaded (allow_pickle=False)"
    elif not head.startswith((b"\x93NUMPY", b"PK")):
        reason = f"it has no NumPy header; it starts with {head!r}"
    return DataFormatError(f"{path}:1: not a {what} ({reason})")


def _open_bitmaps(path: Path) -> np.ndarray:
    """A numpy_bitmap `.npy` memory-mapped as (N, 784) uint8, its layout checked; nothing read yet."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _np_load_error(path, "numpy_bitmap .npy file", exc) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive opens as NpzFile
        arr.close()
        raise DataFormatError(f"{path}:1: not a numpy_bitmap .npy file (it is an .npz archive)")
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or int(np.prod(arr.shape[1:])) != 784:
        raise DataFormatError(
            f"{path}:1: expected an N x 784 uint8 array, got shape {arr.shape} dtype {arr.dtype}"
        )
    return arr.reshape(-1, 784)


def load_bitmaps(path, limit: int | None = None) -> np.ndarray:
    """A numpy_bitmap `.npy` file → (N, 784) uint8. Memory-mapped, so a limit reads only that much.

    Accepts the official N x 784 layout and the N x 1 x 784 / N x 28 x 28 variants found in
    the wild; anything else (another dtype or shape, an .npz, pickled objects) is refused.
    """
    arr = _open_bitmaps(Path(path))
    try:
        return np.array(arr[:limit] if limit is not None else arr)
    except (OSError, ValueError) as exc:  # e.g. a file shorter than its header says
        raise DataFormatError(f"{path}:1: not a numpy_bitmap .npy file ({exc})") from None


def count_bitmaps(path) -> int:
    """Rows of a numpy_bitmap `.npy` file, read from its header (nothing else is loaded)."""
    return int(_open_bitmaps(Path(path)).shape[0])


def load_npz(path) -> tuple[np.ndarray, np.ndarray]:
    """The seed's quickdraw10 `.npz`: arr_0 (N x 784 bitmaps) and arr_1 (N integer labels).

    Float images in [0, 1] are scaled to 0..255 uint8.
    """
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _np_load_error(path, "quickdraw10 .npz file", exc) from None
    if not isinstance(data, np.lib.npyio.NpzFile):  # a plain .npy opens as an ndarray
        raise DataFormatError(f"{path}:1: not a quickdraw10 .npz file (it is a single .npy array)")
    try:
        with data:
            if "arr_0" not in data.files or "arr_1" not in data.files:
                raise DataFormatError(f"{path}:1: expected arrays arr_0 and arr_1, found {data.files}")
            images, labels = data["arr_0"], data["arr_1"]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise _np_load_error(path, "quickdraw10 .npz file", exc) from None
    images = images.reshape(len(images), -1) if images.ndim >= 2 else images
    labels = labels.reshape(-1) if labels.ndim == 2 and 1 in labels.shape else labels
    if images.ndim != 2 or images.shape[1] != 784 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFormatError(
            f"{path}:1: arr_0 must be N x 784 and arr_1 N labels; got {images.shape} and {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(f"{path}:1: arr_1 must hold integer labels, got {labels.dtype}")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.number) or not np.isfinite(images).all():
            raise DataFormatError(f"{path}:1: arr_0 must hold finite numbers, got {images.dtype}")
        if images.max(initial=0) <= 1.0:
            images = images * 255.0
        images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)
