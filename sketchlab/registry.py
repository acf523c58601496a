"""Which trained models the app uses: shipped defaults, overridden by promoted ones.

Two places hold models, each as `<kind>/model.keras` + `<kind>/card.json`:
- shipped defaults in `settings.models_dir` (the repo's `models/`), read-only;
- promoted models in `settings.promoted_dir` (`<home>/promoted/`), written by `promote`
  when someone picks a finished training run on the Train page.
A promoted model of a kind replaces the shipped model of that kind everywhere the app
predicts, unless it cannot be loaded: then the shipped one stands in (`load_models_in_use`).
The file names and the card reader are training's (`save_model` writes the same layout).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .access import LOCAL, Access
from .errors import SketchLabError
from .fileio import atomic_dir, remove_dir, safe_name
from .inference import load_network
from .cards import CARD_FILE, MODEL_FILE, ModelLoadError, load_card

# Kinds first in this order; any other kind a card names comes after, alphabetically.
KIND_ORDER = ("mlp", "cnn", "strong", "taught")


class PromoteError(SketchLabError, ValueError):
    """A run that cannot be promoted (missing files, unfinished or diverged run)."""


@dataclass(frozen=True)
class ModelInfo:
    """A model folder and its card."""

    kind: str
    path: Path  # the folder holding model.keras and card.json
    card: dict
    source: str  # "shipped" or "promoted"
    # Changes whenever the model file is replaced: the key under which the app caches it.
    version: tuple = ()

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def name(self) -> str:
        return str(self.card.get("name") or self.kind)

    @property
    def classes(self) -> list[str]:
        return list(self.card.get("classes") or [])

    @property
    def accuracy(self) -> tuple[float | None, str]:
        """The card's best accuracy figure and what it is: the class-balanced accuracy (mean
        per-class recall) on the held-out split if present, else k-fold top-1, else val."""
        heldout = self.card.get("heldout") or {}
        if heldout.get("balanced_accuracy") is not None:
            return float(heldout["balanced_accuracy"]), "class-balanced accuracy"
        kfold = self.card.get("kfold") or {}
        if kfold.get("top1_mean") is not None:
            return float(kfold["top1_mean"]), "k-fold top-1"
        if self.card.get("val_balanced_accuracy") is not None:
            return float(self.card["val_balanced_accuracy"]), "val class-balanced accuracy"
        if self.card.get("val_accuracy") is not None:
            return float(self.card["val_accuracy"]), "val"
        return None, ""

    @property
    def accuracy_text(self) -> str:
        value, what = self.accuracy
        if value is None and self.card.get("train_accuracy") is not None:  # a taught model (`newclass`)
            kept = sum((self.card.get("data") or {}).get("kept_drawings", {}).values())
            return (f"taught from {kept} kept drawing{'s' if kept != 1 else ''} · " if kept else "") + \
                "not measured on held-out drawings"
        if value is None:
            return "accuracy unknown"
        heldout = self.card.get("heldout") or {}
        if what == "class-balanced accuracy":
            spread = heldout.get("balanced_accuracy_std")
            low = heldout.get("min_recall")
            text = f"{what} {value:.2f}" + (f" ± {float(spread):.2f}" if spread is not None else "")
            return text + (f" (worst class {float(low):.2f})" if low is not None else "")
        kfold = self.card.get("kfold") or {}
        if what.startswith("k-fold") and kfold.get("top1_std") is not None:
            return f"{what} {value:.2f} ± {float(kfold['top1_std']):.2f}"
        if what.startswith("val class"):
            return f"{what} {value:.2f}"
        return f"{what} accuracy {value:.2f}"

    @property
    def date(self) -> str:
        """The card's creation date (YYYY-MM-DD), or '' when the card has none."""
        return str(self.card.get("created") or "")[:10]

    @property
    def details(self) -> str:
        """Accuracy, date and where the model comes from, for a caption under its name."""
        return f"{self.accuracy_text} · {self.date or 'no date'} · {self.source}"

    @property
    def label(self) -> str:
        """One line naming the model for people: its name, then its details."""
        return f"{self.name} · {self.details}"


def file_version(path: Path) -> tuple:
    """(path, mtime in ns, size) of a file, or (path, None) when it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), st.st_mtime_ns, st.st_size)


def _kind_sort_key(kind: str):
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), kind)


def _scan(root: Path, source: str, problems: list | None = None) -> dict[str, ModelInfo]:
    found: dict[str, ModelInfo] = {}
    if not root.is_dir():
        return found
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / MODEL_FILE).is_file():
            continue
        try:
            card = load_card(folder)
        except ModelLoadError as exc:
            if problems is not None:
                problems.append(f"The {source} {folder.name} model was skipped: {exc}.")
            continue  # a broken folder is skipped; the other kinds still work
        found[folder.name] = ModelInfo(folder.name, folder, card, source, file_version(folder / MODEL_FILE))
    return found


def models_signature(settings) -> tuple:
    """What `active_models` depends on: each model folder's model and card file versions.

    A few `stat` calls, cheap enough for every stroke on the Draw page: a model promoted
    (or taken back) on the Train page changes it, and the next stroke uses the new model.
    """
    out = []
    for root in (Path(settings.models_dir), Path(settings.promoted_dir)):
        try:
            folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        except OSError:
            folders = []
        out.append((str(root), tuple((f.name, file_version(f / MODEL_FILE), file_version(f / CARD_FILE))
                                     for f in folders)))
    return tuple(out)


def list_models(settings) -> list[ModelInfo]:
    """Every model on disk, shipped then promoted, each group in kind order."""
    shipped = _scan(Path(settings.models_dir), "shipped")
    promoted = _scan(Path(settings.promoted_dir), "promoted")
    out = [shipped[k] for k in sorted(shipped, key=_kind_sort_key)]
    return out + [promoted[k] for k in sorted(promoted, key=_kind_sort_key)]


def active_models(settings) -> dict[str, ModelInfo]:
    """The model the app uses for each kind: the promoted one if any, else the shipped one."""
    active = _scan(Path(settings.models_dir), "shipped")
    active.update(_scan(Path(settings.promoted_dir), "promoted"))
    return {k: active[k] for k in sorted(active, key=_kind_sort_key)}


@dataclass
class ModelsInUse:
    """The models the app answers with, loaded: one per kind, and why any fell back.

    `networks[kind]` is (numpy Network, card), ready for `predict.Predictor`.
    """

    models: dict[str, ModelInfo]
    networks: dict[str, tuple]
    notes: list[str]


def load_models_in_use(settings) -> ModelsInUse:
    """Load the model of each kind, isolated: a promoted model that cannot be loaded (corrupt,
    foreign, a card that does not fit) gives way to the shipped model of its kind, and a note
    says so; one broken model never stops the others. Cards that cannot be read are skipped
    when the folders are listed."""
    notes: list[str] = []
    shipped = _scan(Path(settings.models_dir), "shipped", notes)
    promoted = _scan(Path(settings.promoted_dir), "promoted", notes)
    models, networks = {}, {}
    for kind in sorted(set(shipped) | set(promoted), key=_kind_sort_key):
        for info in (promoted.get(kind), shipped.get(kind)):
            if info is None:
                continue
            try:
                networks[kind] = load_network(info.path)
            except ModelLoadError as exc:
                fallback = " the shipped one is used instead" if info.source == "promoted" and kind in shipped else ""
                notes.append(f"The {info.source} {kind} model could not be loaded ({exc});{fallback or ' it is left out'}.")
                continue
            models[kind] = info
            break
    return ModelsInUse(models, networks, notes)


def promote(run_dir, settings, check_loads: bool = True, access: Access = LOCAL, kind: str | None = None) -> Path:
    """Copy a finished run's model.keras + card.json to `<home>/promoted/<kind>/`, atomically.

    The files are copied into a temporary folder beside the target and swapped in with
    renames, so a reader sees the old model or the new one, never half of one. With
    `check_loads`, the model is loaded once first (a corrupt file is refused here, not on
    the Draw page). Returns the promoted folder. Only the teacher may promote (`access`):
    it changes the Draw page for everybody. `kind` files it under another kind than its
    card's (a taught model is promoted as "taught", next to the shipped kinds, not over one).
    """
    access.require_teacher("promote a model to the Draw page")
    run_dir = Path(run_dir)
    if not (run_dir / MODEL_FILE).is_file():
        raise PromoteError(f"no {MODEL_FILE} in {run_dir}: only finished runs can be promoted")
    try:
        card = load_card(run_dir)
    except ModelLoadError as exc:
        raise PromoteError(str(exc)) from None
    status = card.get("status", "done")
    if status != "done":
        raise PromoteError(f"this run ended as '{status}'; only runs that finished ('done') can be promoted")
    kind = str(kind or card.get("kind") or "")
    if not kind or safe_name(kind) != kind:  # the folder's name: nothing that leaves promoted/
        raise PromoteError(f"the card in {run_dir} names no model kind it can be saved as "
                           "(letters, digits, '.', '_' or '-')")
    if check_loads:
        try:
            load_network(run_dir)  # the Draw page runs it this way: refused here, not there
        except ModelLoadError as exc:
            raise PromoteError(str(exc)) from None

    target = Path(settings.promoted_dir) / kind
    with atomic_dir(target) as staging:
        # A fresh copy (new mtime) so every promotion gets a new version, even of an equal-size file.
        shutil.copyfile(run_dir / MODEL_FILE, staging / MODEL_FILE)
        card = dict(card, kind=kind)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        card["promoted"] = {"from": str(run_dir), "at": now}
        (staging / CARD_FILE).write_text(json.dumps(card, indent=1))
    return target


def unpromote(kind: str, settings, access: Access = LOCAL) -> bool:
    """Remove the promoted model of `kind` (the shipped one is used again). True if one was removed.
    Only the teacher may (`access`)."""
    access.require_teacher("go back to the shipped models")
    if safe_name(kind) != kind:
        return False  # no such folder can have been promoted
    return remove_dir(Path(settings.promoted_dir) / kind)
