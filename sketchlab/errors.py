"""The one error type whose message is written for people: the CLI prints it in one line, pages in words.

Every error a user can act on (no data, a file that is not the format, a model that
will not load, a drawing over the limits, a folder that cannot be written...) is a
`SketchLabError`; its message says what went wrong and, where it can, what to do.

Anything else reaching the CLI or a page is a bug in SketchLab. `bug_report` gives it a
short id, logs the traceback under that id (logger "sketchlab") and returns the words
to show, so a user can quote the id and a maintainer can find the traceback.
"""

from __future__ import annotations

import logging
import secrets

logger = logging.getLogger("sketchlab")


class SketchLabError(Exception):
    """A request that cannot be done; the message says why and what to do."""

    @property
    def user_message(self) -> str:
        return str(self) or type(self).__name__


def bug_report(exc: BaseException) -> str:
    """Log `exc` with its traceback under a new 8-hex-digit id; return the message for the user."""
    bug_id = secrets.token_hex(4)
    logger.error("bug %s: %s: %s", bug_id, type(exc).__name__, exc, exc_info=(type(exc), exc, exc.__traceback__))
    return (f"Unexpected error (id {bug_id}). This is a bug in SketchLab: the details were logged "
            "under that id. Please report it with the id and the steps that led here.")


def user_message(exc: BaseException) -> str:
    """Words for any error: a SketchLabError's own message, or a bug report (logged) for the rest."""
    if isinstance(exc, SketchLabError):
        return exc.user_message
    return bug_report(exc)
