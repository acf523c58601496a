"""Command line: `python -m sketchlab data|train|evaluate|predict|sweep|worker|teach ...`.

Each group of commands (`cli.data`, `cli.train`, `cli.sweep`) registers its own
sub-parsers; handlers are thin and call the library. Errors a user can fix are printed
as one line (exit code 2), not a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .common import one_line
from ..errors import SketchLabError, bug_report
from ..settings import Settings



def _command_groups():
    from . import data, sweep, teach, train

    return [data.register, train.register, sweep.register, teach.register]


def build_parser() -> argparse.ArgumentParser:
    # The installed `sketchlab` command, or `python -m sketchlab` from a checkout.
    prog = "sketchlab" if os.path.basename(sys.argv[0]) == "sketchlab" else "python -m sketchlab"
    parser = argparse.ArgumentParser(prog=prog, description="SketchLab: Quick, Draw! data and models")
    parser.add_argument("--data-dir", default=None, help="folder of Quick Draw files (default: $SKETCHLAB_DATA)")
    parser.add_argument("--home", default=None, help="folder for caches, runs and sweeps (default: $SKETCHLAB_HOME)")
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _command_groups():
        register(sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --data-dir and --home may stand anywhere on the line, before or after the command.
    places = argparse.ArgumentParser(add_help=False)
    places.add_argument("--data-dir", default=None)
    places.add_argument("--home", default=None)
    where, rest = places.parse_known_args(argv)
    args = build_parser().parse_args(rest)
    try:
        settings = Settings.from_env(data_dir=where.data_dir, home_dir=where.home)
        return int(args.func(args, settings) or 0)
    except SketchLabError as exc:
        print(f"error: {one_line(exc.user_message)}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine's side (missing file, permissions, full disk): the user can fix it
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: an id shown, the traceback logged
        log = _log_bugs_to(where.home)
        print(f"error: {bug_report(exc)}" + (f" Log: {log}" if log else ""), file=sys.stderr)
        return 1


def _log_bugs_to(home) -> str | None:
    """Send the "sketchlab" logger to <home>/logs/errors.log (stderr if that cannot be written)."""
    import logging

    from ..errors import logger

    path = Path(home or Settings.from_env().home_dir) / "logs" / "errors.log"
    for old in [h for h in logger.handlers if getattr(h, "sketchlab_cli", False)]:
        logger.removeHandler(old)  # main() may run more than once in a process (tests)
        old.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        return None  # the bug report then goes to stderr through logging's last-resort handler
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.sketchlab_cli = True
    logger.addHandler(handler)  # with a handler found, logging does not also print to stderr
    return str(path)
