"""The downloader against a real HTTP server on 127.0.0.1 (tests/http_fixture.py).

The server serves files written here in the bucket's layout; it honours Range like
Google Cloud Storage, or ignores it, or drops the connection mid-body.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from conftest import synthetic_records
from http_fixture import QuickDrawServer, closed_port
from sketchlab.data.dataset import scan_data_dir
from sketchlab.data.download import DownloadError, class_url, download_class, download_classes, local_path
from sketchlab.data.formats import read_drawings

pytestmark = pytest.mark.slow  # starts servers


@pytest.fixture
def bucket(tmp_path):
    """A bucket folder: long ndjson lines (raw records, ~1.5 KB), a short class, and a bitmap file."""
    root = tmp_path / "bucket"
    simplified = root / "full" / "simplified"
    simplified.mkdir(parents=True)
    records = synthetic_records("apple", 0, 200, raw=True)
    (simplified / "apple.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records))
    tower = synthetic_records("The Eiffel Tower", 1, 12)
    (simplified / "The Eiffel Tower.ndjson").write_text("".join(json.dumps(r) + "\n" for r in tower))
    (root / "full" / "numpy_bitmap").mkdir()
    bitmaps = np.random.default_rng(0).integers(0, 256, (500, 784), dtype=np.uint8)
    np.save(root / "full" / "numpy_bitmap" / "apple.npy", bitmaps)
    return root


@pytest.fixture
def server(bucket):
    with QuickDrawServer(bucket) as srv:
        yield srv


@pytest.fixture
def session():
    s = requests.Session()
    s.trust_env = False  # a proxy from the environment must not stand between us and 127.0.0.1
    yield s
    s.close()


def _source(bucket, name="apple", fmt="simplified"):
    sub, suffix = ("simplified", ".ndjson") if fmt == "simplified" else ("numpy_bitmap", ".npy")
    return bucket / "full" / sub / f"{name}{suffix}"


def test_class_url_quotes_the_name():
    url = class_url("The Eiffel Tower", "simplified", "https://host/full/")
    assert url == "https://host/full/simplified/The%20Eiffel%20Tower.ndjson"
    assert class_url("apple", "numpy_bitmap", "https://host/full").endswith("/numpy_bitmap/apple.npy")


@pytest.mark.parametrize("mode", ["range", "ignore_range"])
def test_first_n_drawings_exactly(bucket, session, tmp_path, mode):
    source_lines = _source(bucket).read_bytes().splitlines(keepends=True)
    with QuickDrawServer(bucket, mode) as srv:
        path = download_class("apple", tmp_path / "data", max_drawings=60, base_url=srv.base_url + "/full",
                              session=session)
        ranges = [r for _, r in srv.requests]
    assert path == local_path(tmp_path / "data", "apple")
    assert path == tmp_path / "data" / "simplified_ndjson" / "apple.ndjson"
    assert path.read_bytes() == b"".join(source_lines[:60])  # the cut last line is dropped
    drawings, report = read_drawings(path)
    assert len(drawings) == 60 and report.n_bad == 0
    assert scan_data_dir(tmp_path / "data")["apple"].simplified == [path]  # where the builder looks
    assert not path.with_name("apple.ndjson.part").exists()
    if mode == "range":
        # Growing ranges: the first guess (~600 bytes a line) falls short of these long lines.
        assert len(ranges) >= 2 and all(r and r.startswith("bytes=") for r in ranges)
        last_byte = max(int(r.split("-")[1]) for r in ranges)
        assert last_byte < _source(bucket).stat().st_size - 1  # never the whole file
    else:
        assert len(ranges) == 1  # streamed from the start and cut


def test_fewer_drawings_on_the_server_than_asked(bucket, server, session, tmp_path):
    path = download_class("The Eiffel Tower", tmp_path, max_drawings=1000, base_url=server.base_url + "/full",
                          session=session)
    assert path.read_bytes() == _source(bucket, "The Eiffel Tower").read_bytes()
    assert server.requests[0][0] == "/full/simplified/The%20Eiffel%20Tower.ndjson"


def test_whole_file_without_a_limit(bucket, server, session, tmp_path):
    path = download_class("apple", tmp_path, base_url=server.base_url + "/full", session=session)
    assert path.read_bytes() == _source(bucket).read_bytes()


@pytest.mark.parametrize("mode", ["range", "ignore_range"])
def test_first_n_bitmaps(bucket, session, tmp_path, mode):
    source = np.load(_source(bucket, fmt="npy"))
    with QuickDrawServer(bucket, mode) as srv:
        path = download_class("apple", tmp_path, fmt="numpy_bitmap", max_drawings=123,
                              base_url=srv.base_url + "/full", session=session)
        ranges = [r for _, r in srv.requests]
    assert path == tmp_path / "numpy_bitmap" / "apple.npy"
    got = np.load(path, allow_pickle=False)
    assert got.shape == (123, 784) and got.dtype == np.uint8
    assert np.array_equal(got, source[:123])
    if mode == "range":
        header = _source(bucket, fmt="npy").stat().st_size - source.nbytes
        assert ranges[-1].endswith(f"-{header + 123 * 784 - 1}")  # exactly header + N rows


def test_whole_bitmap_file_is_byte_identical(bucket, server, session, tmp_path):
    path = download_class("apple", tmp_path, fmt="numpy_bitmap", base_url=server.base_url + "/full",
                          session=session)
    assert path.read_bytes() == _source(bucket, fmt="npy").read_bytes()


@pytest.mark.parametrize("fmt", ["simplified", "numpy_bitmap"])
def test_resume_after_a_dropped_connection(bucket, server, session, tmp_path, fmt):
    base = server.base_url + "/full"
    final = local_path(tmp_path, "apple", fmt)
    server.drop_next_after(5000 if fmt == "simplified" else 3000)
    with pytest.raises(DownloadError, match="resume"):
        download_class("apple", tmp_path, fmt=fmt, base_url=base, session=session)
    part = final.with_name(final.name + ".part")
    assert not final.exists()  # never a half file under the final name
    assert part.exists() and 0 < part.stat().st_size < _source(bucket, fmt=fmt).stat().st_size
    k, n_before = part.stat().st_size, len(server.requests)
    path = download_class("apple", tmp_path, fmt=fmt, base_url=base, session=session)
    assert path.read_bytes() == _source(bucket, fmt=fmt).read_bytes()
    assert server.requests[n_before][1].startswith(f"bytes={k}-")  # continued, not restarted
    assert not part.exists()


def test_404_names_the_class_and_leaves_nothing(server, session, tmp_path):
    with pytest.raises(DownloadError, match="'cat' not found"):
        download_class("cat", tmp_path, base_url=server.base_url + "/full", session=session)
    assert list((tmp_path / "simplified_ndjson").iterdir()) == []


def test_offline_gives_one_clear_line(session, tmp_path):
    with pytest.raises(DownloadError) as err:
        download_class("apple", tmp_path, base_url=f"http://127.0.0.1:{closed_port()}/full", session=session)
    message = str(err.value)
    assert "cannot reach" in message and "offline" in message and "\n" not in message
    assert not local_path(tmp_path, "apple").exists()


def test_unknown_class_rejected_before_any_request(server, session, tmp_path):
    with pytest.raises(DownloadError, match="unknown Quick, Draw! category 'applez'"):
        download_class("applez", tmp_path, base_url=server.base_url + "/full", session=session)
    with pytest.raises(DownloadError, match="applez"):
        download_classes(["apple", "applez"], tmp_path, base_url=server.base_url + "/full", session=session)
    assert server.requests == []
    with pytest.raises(DownloadError, match="at least 1"):
        download_class("apple", tmp_path, max_drawings=0, base_url=server.base_url + "/full", session=session)


def test_progress_rises_to_the_file_size(bucket, server, session, tmp_path):
    calls = []
    download_class("apple", tmp_path, fmt="numpy_bitmap", max_drawings=400, base_url=server.base_url + "/full",
                   progress=lambda done, total, message: calls.append((done, total, message)), session=session)
    done = [c[0] for c in calls]
    assert len(calls) >= 2 and done == sorted(done) and len(set(done)) == len(done)
    assert done[-1] >= (tmp_path / "numpy_bitmap" / "apple.npy").stat().st_size
    assert all(total is None or total >= d for d, total, _ in calls) and calls[-1][1] is not None
    assert all(m.startswith("apple") for _, _, m in calls)


def test_download_classes_tags_progress_and_keeps_enough(bucket, server, session, tmp_path):
    messages = []
    paths = download_classes(["apple", "the eiffel tower"], tmp_path, max_drawings=5,
                             base_url=server.base_url + "/full", session=session,
                             progress=lambda d, t, m: messages.append(m))
    assert [p.name for p in paths] == ["apple.ndjson", "The Eiffel Tower.ndjson"]
    assert messages[0].startswith("[1/2] apple") and messages[-1].startswith("[2/2] The Eiffel Tower")
    n_requests = len(server.requests)
    download_classes(["apple"], tmp_path, max_drawings=5, base_url=server.base_url + "/full", session=session)
    assert len(server.requests) == n_requests  # already there: no request


def test_not_ndjson_is_refused(bucket, server, session, tmp_path):
    _source(bucket, "cat").write_text("<html><body>Sign in to continue</body></html>\n")
    with pytest.raises(DownloadError, match="not Quick Draw ndjson"):
        download_class("cat", tmp_path, max_drawings=3, base_url=server.base_url + "/full", session=session)
    assert not local_path(tmp_path, "cat").exists()


def test_not_npy_is_refused(bucket, server, session, tmp_path):
    np.save(_source(bucket, "cat", fmt="npy"), np.zeros((4, 28, 3), dtype=np.float32))
    with pytest.raises(DownloadError, match="784 uint8"):
        download_class("cat", tmp_path, fmt="numpy_bitmap", max_drawings=3, base_url=server.base_url + "/full",
                       session=session)
    assert not local_path(tmp_path, "cat", "numpy_bitmap").exists()


def test_data_dir_that_cannot_be_created(server, session, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DownloadError, match="cannot create .*SKETCHLAB_DATA"):
        download_class("apple", blocker / "data", max_drawings=2, base_url=server.base_url + "/full",
                       session=session)
    assert server.requests == []


def test_two_downloads_of_one_class_do_not_mix(server, session, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    part = local_path(tmp_path, "apple").with_name("apple.ndjson.part")
    part.parent.mkdir(parents=True)
    with open(part, "a+b") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(DownloadError, match="another download is writing"):
            download_class("apple", tmp_path, max_drawings=3, base_url=server.base_url + "/full", session=session)
    assert server.requests == []
