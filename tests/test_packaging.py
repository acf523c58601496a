"""The installable package: the wheel's metadata (dependencies, entry point), the shipped
models inside it, and an installed `sketchlab predict` that runs outside the repo."""

from __future__ import annotations

import email
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sketchlab import settings as settings_module
from sketchlab.cli import main

REPO = Path(__file__).resolve().parent.parent
# Tools the tests and benchmarks need and the app does not: an optional extra, not a dependency.
TEST_ONLY = {"pytest", "playwright", "hypothesis", "py-spy"}


def _name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return Requirement(requirement).name.lower().replace("_", "-")


def _pins() -> dict[str, str]:
    """requirements.txt as {name: version}; a name's extras (`psycopg[binary]`) are dropped."""
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            pins[_name(line)] = line.partition("==")[2].strip()
    return pins


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the source tree (the build writes build/ and *.egg-info)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "test-artifacts", ".venv"))
    command = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-w", str(work / "out")]
    if importlib.util.find_spec("setuptools") is not None:
        command.append("--no-build-isolation")  # build offline with the installed setuptools
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = (work / "out").glob("sketchlab-*.whl")
    return built


def _read(wheel: Path, suffix: str) -> str:
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(suffix)]
        return z.read(name).decode()


@pytest.mark.slow
def test_wheel_requires_every_pinned_runtime_package_in_a_range_that_holds_the_pin(wheel):
    from packaging.requirements import Requirement

    meta = email.message_from_string(_read(wheel, ".dist-info/METADATA"))
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    runtime = {r.name.lower(): r for r in requires if not r.marker or "extra" not in str(r.marker)}
    extras = {r.name.lower() for r in requires if r.marker and "extra" in str(r.marker)}
    for name, version in _pins().items():
        if name in TEST_ONLY:
            assert name in extras, f"{name} should be in the test extra"
            continue
        assert name in runtime, f"{name} is pinned in requirements.txt but not a dependency of the wheel"
        assert runtime[name].specifier.contains(version), f"{name}=={version} is outside {runtime[name]}"
    assert {"tensorflow-cpu", "keras", "streamlit", "optuna", "cairocffi"} <= set(runtime)
    assert meta["Requires-Python"] == ">=3.11"


@pytest.mark.slow
def test_wheel_has_the_console_script_every_module_and_the_shipped_models(wheel):
    entry_points = _read(wheel, ".dist-info/entry_points.txt")
    assert "[console_scripts]" in entry_points and "sketchlab = sketchlab.__main__:main" in entry_points
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for path in (REPO / "sketchlab").rglob("*.py"):  # subpackages included, whatever they become
            assert path.relative_to(REPO).as_posix() in names
        kinds = sorted(p.parent.name for p in (REPO / "models").glob("*/model.keras"))
        assert {"mlp", "cnn"} <= set(kinds)
        for kind in kinds:
            for file in ("model.keras", "card.json"):
                inside = f"sketchlab/shipped_models/{kind}/{file}"
                assert z.read(inside) == (REPO / "models" / kind / file).read_bytes()


@pytest.mark.slow
def test_the_installed_command_predicts_with_the_shipped_models_outside_the_repo(wheel, tmp_path):
    # Installed without dependencies into a folder of its own (this interpreter has them);
    # run from an empty folder, so neither the repo's sketchlab/ nor its models/ are in reach.
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("SKETCHLAB_MODELS", "PYTHONPATH")}
    env.update(PYTHONPATH=str(target), SKETCHLAB_HOME=str(tmp_path / "home"))
    drawing = json.dumps({"word": "banana", "drawing": [[[0, 60, 200, 255], [200, 90, 40, 0]]]})
    run = subprocess.run([str(target / "bin" / "sketchlab"), "predict", drawing], cwd=elsewhere, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "banana"
    classes = json.loads((REPO / "models" / "mlp" / "card.json").read_text())["classes"]
    for kind, line in zip(("mlp", "cnn"), lines[1:3]):
        name, guesses = line.split(maxsplit=1)
        assert name == kind and len(guesses.split(", ")) == 3
        assert any(guesses.startswith(c + " ") for c in classes)
    where = subprocess.run([sys.executable, "-c", "import sketchlab.settings as s; print(s.shipped_models_dir())"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert Path(where.stdout.strip()) == target / "sketchlab" / "shipped_models"


def test_models_are_found_in_the_wheel_first_then_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setattr(settings_module, "WHEEL_MODELS_DIR", tmp_path / "absent")
    assert settings_module.shipped_models_dir() == REPO / "models"  # a source checkout
    monkeypatch.setattr(settings_module, "WHEEL_MODELS_DIR", tmp_path)
    assert settings_module.shipped_models_dir() == tmp_path  # an installed wheel
    monkeypatch.setenv("SKETCHLAB_MODELS", str(tmp_path / "mine"))
    assert settings_module.Settings.from_env().models_dir == tmp_path / "mine"


def test_no_models_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKETCHLAB_MODELS", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("SKETCHLAB_HOME", str(tmp_path / "home"))
    assert main(["predict", '{"drawing": [[[0, 9], [0, 9]]]}']) == 2
    err = capsys.readouterr().err
    assert "no models found" in err and "SKETCHLAB_MODELS" in err and "nothing-here" in err
