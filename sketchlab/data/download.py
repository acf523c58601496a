"""Download Quick Draw files from Google's public bucket: whole classes or their first N drawings.

Files come from `<base_url>/simplified/<class>.ndjson` and `<base_url>/numpy_bitmap/<class>.npy`
and land in the data folder's layout (`simplified_ndjson/<class>.ndjson`,
`numpy_bitmap/<class>.npy`), where `dataset.scan_data_dir` finds them.

- First N drawings only: HTTP Range requests. ndjson: growing byte ranges until N complete
  lines, the cut last line dropped. npy: the header from a first small range, then exactly
  header + N x 784 bytes, saved with a header that says N rows.
- Resume: bytes arrive in a `<file>.part` (always a prefix of the remote file); a new call
  continues it with `Range: bytes=k-`.
- Never a half file under the final name: the `.part` is fsynced, then `os.replace`d.
- A server that ignores Range (200 instead of 206) is streamed from the start and cut.
- `progress(done_bytes, total_bytes_or_None, message)` after every block: the app feeds it
  to st.progress, the CLI to tqdm.
- Every failure is a `DownloadError` with a one-line message (offline, unknown class,
  HTTP error, connection lost, folder not writable).
"""

from __future__ import annotations

import ast
import json
import os
import re
import struct
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests
import urllib3

from ..access import LOCAL, Access
from ..categories import canonical_category
from ..errors import SketchLabError
from ..fileio import replace_file

DEFAULT_BASE_URL = "https://storage.googleapis.com/quickdraw_dataset/full"
# format -> (folder in the bucket, folder in the data dir, file suffix)
FORMATS = {
    "simplified": ("simplified", "simplified_ndjson", ".ndjson"),
    "numpy_bitmap": ("numpy_bitmap", "numpy_bitmap", ".npy"),
}
BITMAP_ROW_BYTES = 784
_BLOCK = 64 * 1024
_NPY_HEAD_BYTES = 4096  # numpy headers are 128 bytes in practice; this leaves room
_GUESS_LINE_BYTES = 600  # a simplified line averages ~450 bytes: a first range slightly too big
_MIN_RANGE = 16 * 1024
_TIMEOUT = 30.0


class DownloadError(SketchLabError, RuntimeError):
    """A download that could not be done; the message is one line meant for a person."""


def class_url(name: str, fmt: str = "simplified", base_url: str = DEFAULT_BASE_URL) -> str:
    """The bucket URL of one class file (the name URL-quoted: 'The%20Eiffel%20Tower')."""
    remote, _, suffix = FORMATS[fmt]
    return f"{base_url.rstrip('/')}/{remote}/{quote(name)}{suffix}"


def local_path(data_dir, name: str, fmt: str = "simplified") -> Path:
    """Where a downloaded class file lives in the data folder."""
    _, folder, suffix = FORMATS[fmt]
    return Path(data_dir) / folder / f"{name}{suffix}"


def check_request(name: str, fmt: str, max_drawings) -> str:
    """The official spelling of class `name`, or DownloadError for a bad name, format or count."""
    if fmt not in FORMATS:
        raise DownloadError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if max_drawings is not None and (not isinstance(max_drawings, int) or max_drawings < 1):
        raise DownloadError(f"the number of drawings per class must be at least 1, got {max_drawings!r}")
    try:
        return canonical_category(name)
    except ValueError as exc:
        raise DownloadError(str(exc)) from None


def _writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create {path} ({exc.strerror}); choose a writable data folder with "
            "--data-dir or SKETCHLAB_DATA"
        ) from None
    if not os.access(path, os.W_OK):
        raise DownloadError(
            f"cannot write to {path} (permission denied); choose a writable data folder with "
            "--data-dir or SKETCHLAB_DATA"
        )


def _offline_message(url: str, exc: Exception) -> str:
    host = urlsplit(url).netloc
    text = str(exc)
    if "refused" in text:
        why = "connection refused"
    elif "resolution" in text or "not known" in text or "nodename" in text or "getaddrinfo" in text:
        why = "host name not found"
    elif "unreachable" in text:
        why = "network unreachable"
    else:
        why = type(exc).__name__
    return (
        f"cannot reach {host} ({why}): are you offline? Without internet, point SKETCHLAB_DATA "
        "(or --data-dir) at a folder of Quick Draw files"
    )


class _Part:
    """The `.part` file of one download: an exact prefix of the remote file, grown by appends."""

    def __init__(self, final: Path):
        self.final = final
        self.path = final.with_name(final.name + ".part")
        try:
            self.fh = open(self.path, "a+b")
        except OSError as exc:
            raise DownloadError(f"cannot write {self.path} ({exc.strerror})") from None
        try:  # two downloads of one class must not interleave their bytes
            import fcntl

            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:
            pass
        except OSError:
            self.fh.close()
            raise DownloadError(f"another download is writing {self.path}; wait for it to finish") from None
        self.fh.seek(0, os.SEEK_END)
        self.size = self.fh.tell()
        self.newlines = None  # counted on demand (ndjson only)

    def count_newlines(self) -> int:
        self.fh.seek(0)
        n = sum(block.count(b"\n") for block in iter(lambda: self.fh.read(1 << 20), b""))
        self.fh.seek(0, os.SEEK_END)
        return n

    def restart(self) -> None:
        self.fh.truncate(0)
        self.size = 0
        if self.newlines is not None:
            self.newlines = 0

    def append(self, block: bytes) -> None:
        try:
            self.fh.write(block)
        except OSError as exc:
            raise DownloadError(f"cannot write {self.path} ({exc.strerror})") from None
        self.size += len(block)
        if self.newlines is not None:
            self.newlines += block.count(b"\n")

    def read(self, start: int, n: int) -> bytes:
        self.fh.flush()
        with open(self.path, "rb") as fh:
            fh.seek(start)
            return fh.read(n)

    def publish(self, keep: int, header: bytes | None = None) -> Path:
        """Cut to `keep` bytes, optionally overwrite the start, fsync and move to the final name."""
        self.fh.flush()
        with open(self.path, "r+b") as fh:  # a second handle: the append-only one keeps the lock
            if header is not None:
                fh.write(header)
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        replace_file(self.path, self.final)
        self.fh.close()
        return self.final

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.flush()
            self.fh.close()


class _Fetcher:
    """HTTP GETs of byte ranges of one URL into a `_Part`, with progress and clear errors."""

    def __init__(self, url, name, session, progress, timeout):
        self.url, self.name, self.session = url, name, session
        self.progress, self.timeout = progress, timeout
        self.total = None  # remote size, once a response tells it
        self.want_lines = None  # ndjson prefix downloads: the drawings asked for (for messages)

    def fetch(self, part: _Part, end: int | None = None, stop=None, expect: int | None = None) -> bool:
        """Append bytes [part.size, end] (end None = to EOF) to `part`; stop early when `stop()`.

        `expect` is the byte total to report to `progress`. Returns False when the server
        ignored the Range header: the part then restarted at byte 0 with the whole file.
        """
        start = part.size
        headers = {"Accept-Encoding": "identity"}  # byte ranges of the file itself, never of a gzip
        if start or end is not None:
            headers["Range"] = f"bytes={start}-{'' if end is None else end}"
        resp = self._get(headers)
        try:
            ranged = self._check(resp, part, start)
            if resp.status_code == 416:
                return True
            length = resp.headers.get("Content-Length", "")
            announced = int(length) if length.isdigit() else None
            received, stopped = 0, False
            # read1: whatever has arrived, so the bytes before a dropped connection are kept.
            for block in iter(lambda: resp.raw.read1(_BLOCK), b""):
                part.append(block)
                received += len(block)
                self._report(part, expect)
                if stop is not None and stop():
                    stopped = True
                    break
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._lost(part, type(exc).__name__) from None
        finally:
            resp.close()
        if not stopped and announced is not None and received < announced:
            raise self._lost(part, f"{received:,} of {announced:,} bytes of this response")
        return ranged

    def _lost(self, part: _Part, why: str) -> DownloadError:
        part.fh.flush()
        return DownloadError(
            f"connection lost while downloading {self.name} after {part.size:,} bytes ({why}); "
            "run the same command again to resume"
        )

    def _get(self, headers):
        try:
            return self.session.get(self.url, headers=headers, stream=True, timeout=self.timeout)
        except requests.exceptions.Timeout:
            host = urlsplit(self.url).netloc
            message = f"{host} did not answer within {self.timeout:.0f} s: is the network down?"
            raise DownloadError(message) from None
        except requests.exceptions.ConnectionError as exc:
            raise DownloadError(_offline_message(self.url, exc)) from None
        except requests.exceptions.RequestException as exc:
            raise DownloadError(f"cannot download {self.url}: {exc}") from None

    def _check(self, resp, part: _Part, start: int) -> bool:
        code = resp.status_code
        if code == 404:
            raise DownloadError(f"class '{self.name}' not found on the server ({self.url}: HTTP 404)")
        if code == 416:  # asked for bytes past the end: the part already holds the whole file
            self.total = _content_range(resp.headers.get("Content-Range", ""))[2] or start
            return True
        if code >= 400:
            raise DownloadError(f"the server answered HTTP {code} {resp.reason} for {self.url}")
        if resp.headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
            raise DownloadError(f"the server sent {self.url} compressed although asked not to: cannot resume it")
        if code == 206:
            first, _, total = _content_range(resp.headers.get("Content-Range", ""))
            if first != start:
                raise DownloadError(f"the server sent bytes from {first}, not {start}, for {self.url}")
            self.total = total
            return True
        # 200: the whole file from byte 0, whatever Range said.
        if start:
            part.restart()
        length = resp.headers.get("Content-Length", "")
        self.total = int(length) if length.isdigit() else None
        return False

    def _report(self, part: _Part, expect: int | None) -> None:
        if self.progress is None:
            return
        total = expect if expect is not None else self.total
        if total is not None:
            total = max(total, part.size)
        if self.want_lines:
            message = f"{self.name}: {min(part.newlines, self.want_lines):,}/{self.want_lines:,} drawings"
        else:
            message = f"{self.name}: {part.size / 1e6:.1f} MB"
        self.progress(part.size, total, message)


def _content_range(value: str) -> tuple[int | None, int | None, int | None]:
    """'bytes 0-99/1234' -> (0, 99, 1234); 'bytes */1234' -> (None, None, 1234)."""
    m = re.match(r"bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)", value.strip())
    if not m:
        return None, None, None
    first, last, total = m.groups()
    to_int = lambda v: int(v) if v and v.isdigit() else None  # noqa: E731
    return to_int(first), to_int(last), to_int(total)


# ---------------------------------------------------------------- ndjson


def _nth_line_end(part: _Part, n: int) -> int | None:
    """Byte offset just past the n-th newline of the part, or None if it has fewer."""
    seen, offset = 0, 0
    with open(part.path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            count = block.count(b"\n")
            if seen + count >= n:
                pos = -1
                for _ in range(n - seen):
                    pos = block.index(b"\n", pos + 1)
                return offset + pos + 1
            seen += count
            offset += len(block)
    return None


def _download_ndjson(fetcher: _Fetcher, part: _Part, max_drawings: int | None) -> Path:
    if max_drawings is None:  # the whole file: one open-ended request, resumed if need be
        fetcher.fetch(part)
        if fetcher.total is not None and part.size < fetcher.total:
            got = f"{part.size:,} of {fetcher.total:,} bytes"
            raise DownloadError(f"{fetcher.name}: got {got}; run the same command again to resume")
        keep = part.size
    else:
        part.fh.flush()
        part.newlines = part.count_newlines()
        fetcher.want_lines = max_drawings
        while part.newlines < max_drawings:
            have, before = part.newlines, part.size
            per_line = part.size / have if have else _GUESS_LINE_BYTES
            span = max(_MIN_RANGE, int((max_drawings - have) * per_line * 1.1))
            ranged = fetcher.fetch(
                part,
                end=part.size + span - 1,
                stop=lambda: part.newlines >= max_drawings,
                expect=int(per_line * max_drawings),
            )
            at_end = fetcher.total is not None and part.size >= fetcher.total
            # Without Range the whole file came (or enough of it); with Range, stop at the end.
            if not ranged or at_end or part.size == before:
                break
        part.fh.flush()
        keep = _nth_line_end(part, max_drawings) if part.newlines >= max_drawings else None
        if keep is None:  # fewer lines than asked: keep them all (a last line without \n is whole at EOF)
            keep = part.size
    _check_ndjson_start(part, fetcher)
    return part.publish(keep)


def _check_ndjson_start(part: _Part, fetcher: _Fetcher) -> None:
    """An HTML error page or another file must not be saved as drawings."""
    head = part.read(0, 1 << 16).split(b"\n", 1)[0]
    if not head.strip():
        raise DownloadError(f"the server sent an empty file for {fetcher.name} ({fetcher.url})")
    try:
        record = json.loads(head)
        ok = isinstance(record, dict) and "drawing" in record
    except ValueError:
        ok = False
    if not ok:
        raise DownloadError(f"{fetcher.url} is not Quick Draw ndjson (first line: {head[:60]!r})")


# ---------------------------------------------------------------- npy


def _parse_npy_header(head: bytes, url: str) -> tuple[int, int, str]:
    """(header length in bytes, rows, descr) of a numpy_bitmap file's first bytes."""
    if head[:6] != b"\x93NUMPY" or len(head) < 10:
        raise DownloadError(f"{url} is not a .npy file")
    major = head[6]
    if major == 1:
        length, start = struct.unpack("<H", head[8:10])[0], 10
    elif major in (2, 3):
        length, start = struct.unpack("<I", head[8:12])[0], 12
    else:
        raise DownloadError(f"{url}: unknown .npy version {major}")
    if len(head) < start + length:
        raise DownloadError(f"{url}: .npy header longer than {len(head)} bytes")
    try:
        meta = ast.literal_eval(head[start : start + length].decode("latin1"))
        shape, descr = tuple(meta["shape"]), meta["descr"]
    except (ValueError, SyntaxError, KeyError, TypeError):
        raise DownloadError(f"{url}: unreadable .npy header") from None
    row = 1
    for d in shape[1:]:
        row *= d
    if descr not in ("|u1", "<u1", ">u1") or meta.get("fortran_order") or not shape or row != BITMAP_ROW_BYTES:
        raise DownloadError(f"{url}: expected N x 784 uint8 bitmaps, got shape {shape} dtype {descr}")
    return start + length, int(shape[0]), descr


def _npy_header(rows: int, descr: str, size: int, major: int) -> bytes:
    """A header of exactly `size` bytes (space-padded, as the format allows) for rows x 784."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {BITMAP_ROW_BYTES}), }}"
    prefix_len = 10 if major == 1 else 12
    body = text.ljust(size - prefix_len - 1) + "\n"
    packed = struct.pack("<H", len(body)) if major == 1 else struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes([major, 0]) + packed + body.encode("latin1")


def _download_npy(fetcher: _Fetcher, part: _Part, max_drawings: int | None) -> Path:
    if part.size < _NPY_HEAD_BYTES:  # the header first (a server ignoring Range is cut after it)
        fetcher.fetch(part, end=_NPY_HEAD_BYTES - 1, stop=lambda: part.size >= _NPY_HEAD_BYTES)
    head = part.read(0, _NPY_HEAD_BYTES)
    header_size, rows_remote, descr = _parse_npy_header(head, fetcher.url)
    rows = rows_remote if max_drawings is None else min(max_drawings, rows_remote)
    needed = header_size + rows * BITMAP_ROW_BYTES
    while part.size < needed:
        before = part.size
        ranged = fetcher.fetch(part, end=needed - 1, stop=lambda: part.size >= needed, expect=needed)
        if part.size < needed and (not ranged or part.size == before):
            raise DownloadError(f"{fetcher.url} ended after {part.size:,} of {needed:,} bytes")
    header = None if rows == rows_remote else _npy_header(rows, descr, header_size, head[6])
    return part.publish(needed, header)


# ---------------------------------------------------------------- public API


def _have_enough(final: Path, fmt: str, max_drawings: int | None) -> bool:
    """A finished file that already holds the drawings asked for (a full download: never assumed)."""
    if not final.exists() or max_drawings is None:
        return False
    from .dataset import count_lines
    from .formats import DataFormatError, count_bitmaps

    try:
        have = count_lines(final) if fmt == "simplified" else count_bitmaps(final)
    except (OSError, DataFormatError):
        return False
    return have >= max_drawings


def download_class(
    name: str,
    data_dir,
    fmt: str = "simplified",
    max_drawings: int | None = None,
    base_url: str = DEFAULT_BASE_URL,
    progress=None,
    session: requests.Session | None = None,
    timeout: float = _TIMEOUT,
    access: Access = LOCAL,
) -> Path:
    """Download one class file (or its first `max_drawings` drawings) into `data_dir`; returns its path.

    A file that already holds `max_drawings` drawings is kept as is. Raises DownloadError;
    NotAllowedError for a student in classroom mode (only the teacher downloads data).
    """
    access.require_teacher("download data")
    name = check_request(name, fmt, max_drawings)
    final = local_path(data_dir, name, fmt)
    _writable_dir(final.parent)
    if _have_enough(final, fmt, max_drawings):
        return final
    # A smaller file downloaded before is replaced (it is not resumed: a local file need
    # not be a prefix of the remote one); an interrupted download's .part is resumed.
    part = _Part(final)
    own_session = session is None
    session = session or requests.Session()
    fetcher = _Fetcher(class_url(name, fmt, base_url), name, session, progress, timeout)
    try:
        if fmt == "simplified":
            return _download_ndjson(fetcher, part, max_drawings)
        return _download_npy(fetcher, part, max_drawings)
    finally:
        part.close()
        if part.path.exists() and part.path.stat().st_size == 0:
            part.path.unlink()  # nothing to resume: leave no litter
        if own_session:
            session.close()


def download_classes(
    names,
    data_dir,
    fmt: str = "simplified",
    max_drawings: int | None = None,
    base_url: str = DEFAULT_BASE_URL,
    progress=None,
    session: requests.Session | None = None,
    timeout: float = _TIMEOUT,
    access: Access = LOCAL,
) -> list[Path]:
    """Download several classes (all names are checked before the first request).

    `progress(done_bytes, total_bytes, message)` gets "[i/n] " in front of each message.
    """
    access.require_teacher("download data")
    names = [check_request(n, fmt, max_drawings) for n in names]
    own_session = session is None
    session = session or requests.Session()
    paths = []
    try:
        for i, name in enumerate(names):
            tag = f"[{i + 1}/{len(names)}] "
            report = None if progress is None else (lambda d, t, m, tag=tag: progress(d, t, tag + m))
            paths.append(download_class(name, data_dir, fmt, max_drawings, base_url, report, session, timeout))
    finally:
        if own_session:
            session.close()
    return paths
