"""CLI commands for sweeps: `sweep run|status|cancel|export` and `worker` (see sketchlab.cli)."""


def register(sub) -> None:
    """Add the sweep commands to the top-level sub-parsers."""
