"""The command line, `sketchlab ...` / `python -m sketchlab ...`: commands only, each calling the library."""

from .common import UserError
from .main import main

__all__ = ["UserError", "main"]
