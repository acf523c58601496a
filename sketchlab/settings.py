"""Where SketchLab reads data and keeps its state, resolved once and passed around.

- `data_dir`: a folder of Quick Draw files in the bucket's layout
  (`simplified_ndjson/<class>.ndjson`, `raw_ndjson/`, `numpy_bitmap/<class>.npy`, ...).
  Downloads land here. Set by a CLI flag, else `SKETCHLAB_DATA`, else `<home>/quickdraw`.
- `home_dir`: writable state: built-dataset cache, sweep database, trained runs,
  promoted models. `SKETCHLAB_HOME`, else the user's cache dir (`$XDG_CACHE_HOME/sketchlab`).
- `models_dir`: the shipped default models (`models/` in the repo); `SKETCHLAB_MODELS` overrides.
The data folder may be read-only (a shared mount): nothing but downloads is written there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def default_home() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sketchlab"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    home_dir: Path
    models_dir: Path = REPO_MODELS_DIR

    @classmethod
    def from_env(cls, data_dir=None, home_dir=None, models_dir=None) -> "Settings":
        home = Path(home_dir or os.environ.get("SKETCHLAB_HOME") or default_home()).expanduser()
        data = Path(data_dir or os.environ.get("SKETCHLAB_DATA") or home / "quickdraw").expanduser()
        models = Path(models_dir or os.environ.get("SKETCHLAB_MODELS") or REPO_MODELS_DIR).expanduser()
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
