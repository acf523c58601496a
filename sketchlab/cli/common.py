"""What every command of the command line shares: the user-error type, the `--classes`
parser, the tqdm progress bar and one-line error text.

Its own module so that `cli.main` (which registers every command group) and the command
groups (`cli.data`, `cli.train`, `cli.sweep`) import it instead of each other: no import cycle.
"""

from __future__ import annotations

from ..errors import SketchLabError


class UserError(SketchLabError):
    """An error with a message meant for the person at the terminal."""


def classes_arg(text: str | None) -> tuple[str, ...]:
    """A `--classes a,b,c` value → official class names (QuickDraw-10 when empty)."""
    from ..categories import QUICKDRAW_10, canonical_category

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


def one_line(text: str) -> str:
    """A message on one line: the CLI's errors never spread over the terminal."""
    lines = [" ".join(line.split()) for line in str(text).splitlines()]
    return "; ".join(line for line in lines if line).replace(":; ", ": ")
