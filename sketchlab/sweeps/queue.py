"""The fair queue: which sweep's run a worker starts next, round-robin over the sweeps' owners.

One student's 40-run grid must not hold back everybody else. So a free worker serves the
owner whose latest run started longest ago (an owner with no run started yet comes first),
and within one owner, their oldest sweep first. Nothing is kept in a worker: the choice is
made from the storage (each trial's start time), so any number of workers on any machines
share one fair order, and it survives restarts. Sweeps started from the command line have
the owner "" and take their turn like anyone else.

`fair_order` lists the queued runs in the order they will start; a worker takes the first,
and the Train page counts how many runs are ahead of a person's first queued run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from optuna.trial import TrialState

from .records import CANCELLED, STUDY_ATTR, cancel_key


@dataclass(frozen=True)
class QueuedSweep:
    """What the queue needs to know about one sweep, read from its Optuna study."""

    name: str
    owner: str
    created: str  # ISO time, sorts in time order
    queued: int  # runs waiting to start (not cancelled)
    cancelled_waiting: int  # cancelled runs a worker still has to mark (takes no training)
    last_start: dt.datetime | None  # when the latest of its runs started


def queued_sweep(name: str, study) -> QueuedSweep | None:
    """The queue's view of one study; None when it is not a SketchLab sweep."""
    attrs = study.user_attrs
    meta = attrs.get(STUDY_ATTR)
    if meta is None:
        return None
    owner = str((meta.get("owner") or {}).get("id") or "")
    queued = cancelled = 0
    last_start = None
    for t in study.get_trials(deepcopy=False):
        if "run" not in t.user_attrs:
            continue
        if t.state == TrialState.WAITING:
            if attrs.get(CANCELLED) or attrs.get(cancel_key(t.number)):
                cancelled += 1
            else:
                queued += 1
        elif t.datetime_start is not None and (last_start is None or t.datetime_start > last_start):
            last_start = t.datetime_start
    return QueuedSweep(name, owner, str(meta.get("created") or ""), queued, cancelled, last_start)


def fair_order(sweeps: list[QueuedSweep]) -> list[tuple[str, str]]:
    """(sweep name, owner) of every queued run, in the order workers will start them."""
    latest: dict[str, dt.datetime | None] = {}
    waiting: dict[str, list[list]] = {}
    for sw in sorted(sweeps, key=lambda s: (s.created, s.name)):
        if sw.last_start is not None and (latest.get(sw.owner) is None or sw.last_start > latest[sw.owner]):
            latest[sw.owner] = sw.last_start
        else:
            latest.setdefault(sw.owner, None)
        if sw.queued:
            waiting.setdefault(sw.owner, []).append([sw.name, sw.queued])
    # An owner's turn: (never started: 0, else 1, when). Simulated starts come after every real one.
    turn = {owner: (0, 0, dt.datetime.min) if t is None else (1, 0, t) for owner, t in latest.items()}
    first_created = {owner: next(s.created for s in sorted(sweeps, key=lambda s: (s.created, s.name))
                                 if s.owner == owner) for owner in waiting}
    order: list[tuple[str, str]] = []
    step = 0
    while waiting:
        owner = min(waiting, key=lambda o: (turn[o], first_created[o]))
        queue = waiting[owner]
        name = queue[0][0]
        order.append((name, owner))
        queue[0][1] -= 1
        if not queue[0][1]:
            queue.pop(0)
        if not queue:
            del waiting[owner]
        step += 1
        turn[owner] = (2, step, dt.datetime.min)
    return order


def next_sweep(sweeps: list[QueuedSweep]) -> str | None:
    """The sweep a free worker serves now: first any with only cancelled runs left to mark
    (no training, and it ends the sweep), then the head of the fair order."""
    for sw in sorted(sweeps, key=lambda s: (s.created, s.name)):
        if sw.cancelled_waiting and not sw.queued:
            return sw.name
    order = fair_order(sweeps)
    return order[0][0] if order else None


def runs_ahead(order: list[tuple[str, str]], owner: str | None = None, sweep: str | None = None) -> int | None:
    """How many queued runs start before the first one of `owner` (or of `sweep`); None if none queued."""
    for i, (name, who) in enumerate(order):
        if (sweep is not None and name == sweep) or (sweep is None and who == owner):
            return i
    return None
