"""The one way SketchLab replaces files and folders: all or nothing, no litter, usual permissions."""

from __future__ import annotations

import os

import numpy as np
import pytest

from sketchlab import fileio
from sketchlab.fileio import atomic_dir, atomic_write, remove_dir, replace_dir


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_creates_and_replaces_text_and_bytes(tmp_path):
    path = tmp_path / "sub" / "a.json"  # the folder is made on the way
    with atomic_write(path) as fh:
        fh.write("first")
    with atomic_write(path, encoding="utf-8") as fh:
        fh.write("second é")
    assert path.read_text(encoding="utf-8") == "second é"
    with atomic_write(tmp_path / "x.npz", "wb") as fh:
        np.savez(fh, a=np.arange(3))
    assert np.load(tmp_path / "x.npz")["a"].tolist() == [0, 1, 2]
    assert names(tmp_path) == ["sub", "x.npz"] and names(tmp_path / "sub") == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(path) as fh:
            fh.write("half of the new")
            raise RuntimeError("disk full")
    assert path.read_text() == "old"
    assert names(tmp_path) == ["runs.csv"]


def test_files_get_the_usual_permissions_not_0600(tmp_path):
    old_umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "f") as fh:
            fh.write("x")
        with atomic_dir(tmp_path / "d") as d:
            (d / "inside").write_text("x")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_only_write_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_write(tmp_path / "f", "a"):
            pass


def test_atomic_dir_swaps_the_whole_folder(tmp_path):
    target = tmp_path / "models" / "mlp"
    with atomic_dir(target) as d:
        (d / "model.keras").write_text("v1")
        (d / "card.json").write_text("{}")
    with atomic_dir(target) as d:
        (d / "model.keras").write_text("v2")
    assert names(target) == ["model.keras"]  # the old card went with the old folder
    assert (target / "model.keras").read_text() == "v2"
    assert names(target.parent) == ["mlp"]


def test_a_failed_folder_write_keeps_the_old_folder(tmp_path):
    target = tmp_path / "mlp"
    with atomic_dir(target) as d:
        (d / "model.keras").write_text("good")
    with pytest.raises(OSError, match="no space"):
        with atomic_dir(target) as d:
            (d / "model.keras").write_text("half")
            raise OSError("no space left on device")
    assert (target / "model.keras").read_text() == "good"
    assert names(tmp_path) == ["mlp"]


def test_replace_dir_puts_the_old_folder_back_when_the_swap_fails(tmp_path, monkeypatch):
    target, new = tmp_path / "cnn", tmp_path / "new"
    target.mkdir()
    (target / "model.keras").write_text("old")
    new.mkdir()
    real_replace = os.replace

    def failing_second_rename(src, dst):
        if str(src) == str(new):
            raise OSError("simulated failure")
        return real_replace(src, dst)

    monkeypatch.setattr(fileio.os, "replace", failing_second_rename)
    with pytest.raises(OSError, match="simulated"):
        replace_dir(new, target)
    assert (target / "model.keras").read_text() == "old"
    assert names(tmp_path) == ["cnn", "new"]


def test_remove_dir(tmp_path):
    target = tmp_path / "promoted" / "mlp"
    target.mkdir(parents=True)
    (target / "model.keras").write_text("x")
    assert remove_dir(target) is True
    assert names(tmp_path / "promoted") == []
    assert remove_dir(target) is False
