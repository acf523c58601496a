"""CLI commands for models: `train`, `evaluate`, `predict` (see sketchlab.cli)."""


def register(sub) -> None:
    """Add the model commands to the top-level sub-parsers."""
