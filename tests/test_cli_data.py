"""`python -m sketchlab data info|build|download`: help, output, and errors as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, synthetic_records
from http_fixture import QuickDrawServer, closed_port
from sketchlab.cli import main


@pytest.mark.parametrize("command", ["info", "build", "download"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main(["data", command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert f"data {command}" in out
    expected = {"info": "--all", "build": "--per-class", "download": "--base-url"}[command]
    assert expected in out


@pytest.mark.slow
def test_module_entry_point_lists_classes(tiny_data_dir, tmp_path):
    env = dict(os.environ, SKETCHLAB_DATA=str(tiny_data_dir), SKETCHLAB_HOME=str(tmp_path / "home"),
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "sketchlab", "data", "info"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "apple" in done.stdout and "4 classes" in done.stdout


def test_info_lists_classes_and_counts(sketchlab_env, capsys):
    assert main(["data", "info"]) == 0
    out = capsys.readouterr().out
    classes = ("apple", "anvil", "airplane", "banana")
    rows = {words[0]: words[1:] for words in map(str.split, out.splitlines()) if words and words[0] in classes}
    # simplified, raw, bitmaps, then the distinct drawings: from strokes, from bitmaps only, total
    assert rows == {c: ["30", "0", "0", "30", "0", "30"] for c in classes}
    assert "4 classes; 120 simplified, 0 raw, 0 bitmaps" in out
    assert "distinct drawings: 120 = 120 with strokes" in out


def test_info_counts_a_bitmap_of_a_stroke_drawing_once(sketchlab_env, capsys, tiny_data_dir):
    folder = tiny_data_dir / "numpy_bitmap"
    folder.mkdir()
    np.save(folder / "apple.npy", np.zeros((40, 784), dtype=np.uint8))  # official rows 0..39
    assert main(["data", "info"]) == 0
    out = capsys.readouterr().out
    words = next(line.split() for line in out.splitlines() if line.startswith("apple"))
    # rows 0..29 are the 30 stroke drawings: only rows 30..39 are new
    assert words[1:] == ["30", "0", "40", "30", "10", "40"]


def test_info_on_an_empty_folder_says_how_to_get_data(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "data", "info"]) == 0
    out = capsys.readouterr().out
    assert "no Quick Draw files" in out and "sketchlab data download" in out and "SKETCHLAB_DATA" in out


def test_info_skips_a_broken_file(sketchlab_env, capsys):
    (sketchlab_env.data_dir / "numpy_bitmap").mkdir()
    (sketchlab_env.data_dir / "numpy_bitmap" / "apple.npy").write_bytes(b"not numpy")
    assert main(["data", "info"]) == 0
    assert "skipped:" in capsys.readouterr().out


def test_build_prints_counts(sketchlab_env, capsys):
    assert main(["data", "build", "--classes", "apple,anvil", "--per-class", "20"]) == 0
    out = capsys.readouterr().out
    assert "train 32, test 8, classes 2" in out and "apple" in out
    assert list(sketchlab_env.dataset_cache_dir.glob("dataset-*.npz"))


def test_build_errors_are_one_line(sketchlab_env, capsys):
    assert main(["data", "build", "--classes", "apple,The Mona Lisa"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no Quick Draw files for The Mona Lisa") and err.count("\n") == 1
    assert main(["data", "build", "--classes", "aple"]) == 2
    assert "unknown Quick, Draw! category 'aple'" in capsys.readouterr().err


@pytest.fixture
def no_proxy(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.mark.slow
def test_download_against_a_local_server(tmp_path, capsys, no_proxy):
    bucket = tmp_path / "bucket" / "full" / "simplified"
    bucket.mkdir(parents=True)
    records = synthetic_records("The Eiffel Tower", 1, 9)
    (bucket / "The Eiffel Tower.ndjson").write_text("".join(json.dumps(r) + "\n" for r in records))
    data = tmp_path / "data"
    with QuickDrawServer(tmp_path / "bucket") as srv:
        code = main(["data", "download", "the eiffel tower", "--per-class", "4",
                     "--base-url", srv.base_url + "/full", "--data-dir", str(data)])
        out = capsys.readouterr().out
        assert code == 0
        assert "The Eiffel Tower: 4 drawings" in out
        assert len((data / "simplified_ndjson" / "The Eiffel Tower.ndjson").read_text().splitlines()) == 4
        code = main(["--data-dir", str(data), "data", "download", "apple", "--base-url", srv.base_url + "/full"])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith("error: class 'apple' not found") and err.count("\n") == 1


def test_download_offline_and_unknown_class(tmp_path, capsys, no_proxy):
    url = f"http://127.0.0.1:{closed_port()}/full"
    place = ["--data-dir", str(tmp_path)]
    assert main([*place, "data", "download", "apple", "--per-class", "3", "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "cannot reach" in err and "offline" in err
    assert main([*place, "data", "download", "apple", "snakes", "--base-url", url]) == 2
    assert "unknown Quick, Draw! category 'snakes'" in capsys.readouterr().err
    assert main([*place, "data", "download", "--per-class", "0", "--base-url", url]) == 2
