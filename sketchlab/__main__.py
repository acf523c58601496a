"""`python -m sketchlab ...` — see sketchlab.cli.main."""

import os
import sys

# TensorFlow's C++ start-up notices (CPU features, oneDNN) are noise at a terminal.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .cli import main  # noqa: E402  (after the environment is set)

if __name__ == "__main__":
    sys.exit(main())
