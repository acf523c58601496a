"""Before a trained model replaces the one the Draw page uses: both, measured the same way.

Each model's card carries its own figure (a k-fold mean for the shipped models, one
validation split for a sweep's run), and those are not comparable. Here both models answer
the same held-out drawings (the candidate's validation split, `explore.heldout_split`),
scored by the same function (`explore.evaluate`): accuracy, and the mean of the per-class
accuracies, which a class with more drawings cannot sway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import explore, registry
from .inference import load_network


@dataclass
class Scores:
    name: str
    accuracy: float
    balanced_accuracy: float  # the mean of the per-class accuracies
    note: str = ""  # e.g. it may have trained on these drawings


@dataclass
class Comparison:
    kind: str
    n_drawings: int
    candidate: Scores
    current: Scores | None  # None when no model of that kind is in use, or classes differ
    why_not: str = ""  # why `current` could not be measured

    @property
    def candidate_is_worse(self) -> bool:
        return self.current is not None and self.candidate.accuracy < self.current.accuracy


def _scores(name: str, evaluation: explore.Evaluation, note: str = "") -> Scores:
    from .cards import balanced_accuracy

    return Scores(name, evaluation.accuracy, balanced_accuracy(evaluation.confusion) or 0.0, note)


def compare_with_current(run_dir, settings) -> Comparison:
    """The candidate in `run_dir` and the model of its kind in use, on the candidate's held-out split."""
    model, card = load_network(run_dir)
    kind = card.get("kind", "mlp")
    classes = list(card["classes"])
    per_class = (card.get("hyperparameters") or {}).get("per_class")
    held = explore.heldout_split(settings.data_dir, classes, per_class, settings.dataset_cache_dir)
    candidate = _scores(card.get("name", "trained model"), explore.evaluate(model, held))
    info = registry.active_models(settings).get(kind)
    if info is None:
        return Comparison(kind, len(held.labels), candidate, None, f"no {kind} model is in use now")
    if sorted(info.classes) != sorted(classes):
        return Comparison(kind, len(held.labels), candidate, None,
                          f"the {kind} in use knows other classes ({len(info.classes)}: "
                          f"{', '.join(info.classes[:5])}{'…' if len(info.classes) > 5 else ''}), "
                          "so the two cannot answer the same drawings")
    current_model, current_card = load_network(info.path)
    order = {c: i for i, c in enumerate(current_card["classes"])}
    # The same drawings, labelled in the current model's class order.
    labels = np.array([order[classes[y]] for y in held.labels], dtype=np.int64)
    held_current = explore.HeldOut(held.images, labels, list(current_card["classes"]), held.n_train, held.source)
    n_val = (current_card.get("data") or {}).get("n_val")
    note = "it may have trained on some of these drawings" if info.source == "shipped" or not n_val else ""
    current = _scores(info.name, explore.evaluate(current_model, held_current), note)
    return Comparison(kind, len(held.labels), candidate, current)
