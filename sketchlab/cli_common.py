"""What every command of the command line shares: the user-error type, the `--classes`
parser and the tqdm progress bar.

Its own module so that `cli` (which registers every command group) and the command
groups (`training_cli`, `sweep_cli`) import it instead of each other: no import cycle.
"""

from __future__ import annotations

from .errors import SketchLabError


class UserError(SketchLabError):
    """An error with a message meant for the person at the terminal."""


def classes_arg(text: str | None) -> tuple[str, ...]:
    """A `--classes a,b,c` value → official class names (QuickDraw-10 when empty)."""
    from .categories import QUICKDRAW_10, canonical_category

    if not text:
        return QUICKDRAW_10
    try:
        return tuple(canonical_category(c) for c in text.split(",") if c.strip())
    except ValueError as exc:
        raise UserError(str(exc)) from None


def progress_bar(desc: str, unit: str):
    """A tqdm bar (on stderr, hidden when stderr is not a terminal) and a progress(done, total, msg) for it."""
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, unit_scale=unit == "B", leave=False, disable=None)

    def progress(done, total, message):
        if total is not None and bar.total != total:
            bar.total = total
        bar.set_postfix_str(message, refresh=False)
        bar.update(done - bar.n)

    return bar, progress
