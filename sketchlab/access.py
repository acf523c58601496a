"""Who may do what: classroom mode's two roles, checked by the library, not only by the page.

One server, one teacher, many students. The person running the server sets a teacher
password (the app reads it from `SKETCHLAB_TEACHER_PASSWORD` or Streamlit's secrets and
passes it in; nothing here reads the environment). A session that typed it is the teacher;
every other session is a student. With no password set there is no classroom: everyone is
the teacher, as on one person's own machine, and the command line always is.

Only the teacher may promote a model or go back to the shipped ones, download data, change
the shared sweep limits, clear stale sweeps and cancel someone else's sweep. Students draw,
explore, and start and cancel their own sweeps. The functions that do those things take an
`Access` and raise `NotAllowedError` (a SketchLabError: its message is shown in words), so a
student's request fails even if a page showed a button by mistake.

Each browser session has an anonymous owner id (a random token the page keeps in its URL,
so it survives a reload) and, if the student typed one, a display name. A sweep records both.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass

from .errors import SketchLabError

OWNER_ID_CHARS = 22  # secrets.token_urlsafe(16): 128 random bits
MAX_DISPLAY_NAME = 40


class NotAllowedError(SketchLabError):
    """The session's role may not do this; the message says who may and how to become them."""


def password_matches(configured: str | None, typed: str | None) -> bool:
    """True when a password is configured and `typed` is it, compared in constant time."""
    if not configured or not typed:
        return False
    return hmac.compare_digest(str(typed).encode("utf-8"), str(configured).encode("utf-8"))


def new_owner_id() -> str:
    return secrets.token_urlsafe(16)


def is_owner_id(text) -> bool:
    """What `new_owner_id` makes: 22 URL-safe characters (anything else from a URL is ignored)."""
    return (isinstance(text, str) and len(text) == OWNER_ID_CHARS
            and all(c.isascii() and (c.isalnum() or c in "-_") for c in text))


def clean_display_name(text) -> str:
    """A typed name as it may be shown: printable characters only, spaces collapsed, at most 40."""
    text = unicodedata.normalize("NFKC", str(text or ""))
    kept = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(kept.split())[:MAX_DISPLAY_NAME]


def owner_label(owner_id: str, name: str = "") -> str:
    """How a sweep's owner is shown: their name, else a short tag that does not reveal the id."""
    if name:
        return name
    if not owner_id:
        return "command line"
    return "anonymous " + hashlib.sha256(owner_id.encode()).hexdigest()[:4]


@dataclass(frozen=True)
class Access:
    """What one session may do. `owner`: its anonymous id ("" for the command line);
    `teacher`: it has the teacher's powers; `classroom`: a teacher password is set."""

    owner: str = ""
    name: str = ""
    teacher: bool = True
    classroom: bool = False

    @classmethod
    def for_session(cls, configured_password: str | None, unlocked: bool, owner: str = "",
                    name: str = "") -> Access:
        """A browser session: the teacher when no password is set or when it was unlocked."""
        classroom = bool(configured_password)
        return cls(owner=owner, name=clean_display_name(name), teacher=(not classroom) or bool(unlocked),
                   classroom=classroom)

    @property
    def role(self) -> str:
        return "teacher" if self.teacher else "student"

    @property
    def label(self) -> str:
        return owner_label(self.owner, self.name)

    def may_manage(self, owner: str) -> bool:
        """May this session cancel or retry runs of a sweep that `owner` started?"""
        return self.teacher or (bool(self.owner) and hmac.compare_digest(self.owner, owner or ""))

    def require_teacher(self, action: str) -> None:
        if not self.teacher:
            raise NotAllowedError(f"only the teacher can {action}: enter the teacher password in the sidebar")

    def require_manage(self, owner: str, action: str) -> None:
        if not self.may_manage(owner):
            raise NotAllowedError(f"only the teacher can {action} of a sweep someone else started; "
                                  "you can cancel your own sweeps")


LOCAL = Access()  # the command line, and the app with no teacher password: every power
