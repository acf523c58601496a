"""Where SketchLab reads data and keeps its state, resolved once and passed around.

- `data_dir`: a folder of Quick Draw files in the bucket's layout
  (`simplified_ndjson/<class>.ndjson`, `raw_ndjson/`, `numpy_bitmap/<class>.npy`, ...).
  Downloads land here. Set by a CLI flag, else `SKETCHLAB_DATA`, else `<home>/quickdraw`.
- `home_dir`: writable state: built-dataset cache, sweep database, trained runs,
  promoted models. `SKETCHLAB_HOME`, else the user's cache dir (`$XDG_CACHE_HOME/sketchlab`).
- `models_dir`: the shipped default models: `SKETCHLAB_MODELS`, else the copy an installed
  wheel carries (`sketchlab/shipped_models/`), else `models/` in a source checkout.
The data folder may be read-only (a shared mount): nothing but downloads is written there.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

# Found from the package, not from this file, so the module may move inside the package.
_PACKAGE_DIR = Path(importlib.util.find_spec("sketchlab").origin).resolve().parent
REPO_MODELS_DIR = _PACKAGE_DIR.parent / "models"
WHEEL_MODELS_DIR = _PACKAGE_DIR / "shipped_models"  # setup.py maps the repo's models/ here


def shipped_models_dir() -> Path:
    """The installed wheel's models, else the source checkout's `models/`."""
    return WHEEL_MODELS_DIR if WHEEL_MODELS_DIR.is_dir() else REPO_MODELS_DIR


def default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sketchlab"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    home_dir: Path
    models_dir: Path = field(default_factory=shipped_models_dir)

    @classmethod
    def from_env(cls, data_dir=None, home_dir=None, models_dir=None) -> "Settings":
        home = Path(home_dir or os.environ.get("SKETCHLAB_HOME") or default_home()).expanduser()
        data = Path(data_dir or os.environ.get("SKETCHLAB_DATA") or home / "quickdraw").expanduser()
        models = Path(models_dir or os.environ.get("SKETCHLAB_MODELS") or shipped_models_dir()).expanduser()
        return cls(data_dir=data, home_dir=home, models_dir=models)

    @property
    def dataset_cache_dir(self) -> Path:
        return self.home_dir / "datasets"

    @property
    def runs_dir(self) -> Path:
        return self.home_dir / "runs"

    @property
    def promoted_dir(self) -> Path:
        return self.home_dir / "promoted"

    @property
    def sweep_storage(self) -> str:
        """Default Optuna storage: a SQLite file in the home folder."""
        return os.environ.get("SKETCHLAB_STORAGE") or f"sqlite:///{self.home_dir / 'sweeps.db'}"
