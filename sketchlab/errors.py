"""The one error type whose message is written for people: the CLI prints it in one line, pages in words."""


class SketchLabError(Exception):
    """A request that cannot be done; the message says why and what to do."""
