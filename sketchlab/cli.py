"""Command line: `python -m sketchlab data|train|evaluate|predict|sweep|worker ...`.

Each group of commands registers its own sub-parsers below; handlers are thin and call
the library. Errors a user can fix are printed as one line (exit code 2), not a traceback.
"""

from __future__ import annotations

import argparse
import sys

from .settings import Settings


class UserError(Exception):
    """An error with a message meant for the person at the terminal."""


# ---------------------------------------------------------------- data


def _data_commands(sub) -> None:
    data = sub.add_parser("data", help="download, inspect and build Quick Draw data")
    dsub = data.add_subparsers(dest="data_command", required=True)

    info = dsub.add_parser("info", help="list the classes in the data folder with drawing counts")
    info.add_argument("--all", action="store_true", help="also list all 345 category names")
    info.set_defaults(func=cmd_data_info)

    build = dsub.add_parser("build", help="build (and cache) the train/test arrays")
    _add_dataset_args(build)
    build.set_defaults(func=cmd_data_build)

    dl = dsub.add_parser("download", help="download classes from the public Quick Draw bucket")
    dl.add_argument("classes", nargs="*", help="class names (default: QuickDraw-10)")
    dl.add_argument("--per-class", type=int, default=None, help="fetch only the first N drawings")
    dl.add_argument(
        "--format", choices=["simplified", "numpy_bitmap"], default="simplified", help="which files"
    )
    dl.add_argument("--base-url", default=None, help="bucket URL (default: the public Quick Draw bucket)")
    dl.set_defaults(func=cmd_data_download)


def _add_dataset_args(p) -> None:
    p.add_argument("--classes", default=None, help="comma-separated class names (default: QuickDraw-10)")
    p.add_argument("--per-class", type=int, default=None, help="cap per class")
    p.add_argument("--unbalanced", action="store_true", help="keep every drawing (no cut to the smallest class)")
    p.add_argument("--recognized-only", action="store_true", help="drop drawings the game did not recognize")


def classes_arg(text: str | None) -> tuple[str, ...]:
    """A `--classes a,b,c` value → official class names (QuickDraw-10 when empty)."""
    from .categories import QUICKDRAW_10, canonical_category

    if not text:
        return QUICKDRAW_10
    try:
        return tuple(canonical_category(c) for c in text.split(",") if c.strip())
    except ValueError as exc:
        raise UserError(str(exc)) from None


def dataset_spec_from_args(args):
    from .dataset import DatasetSpec

    if args.per_class is not None and args.per_class < 1:
        raise UserError("--per-class must be at least 1")
    return DatasetSpec(
        classes=classes_arg(args.classes),
        per_class=args.per_class,
        balanced=not args.unbalanced,
        recognized_only=args.recognized_only,
    )


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


def cmd_data_info(args, settings: Settings) -> int:
    from .categories import ALL_CATEGORIES
    from .dataset import count_lines, no_data_message, scan_data_dir
    from .formats import DataFormatError, count_bitmaps

    found = scan_data_dir(settings.data_dir)
    print(f"data folder: {settings.data_dir}")
    if not found:
        print(no_data_message(settings.data_dir))
    else:
        rows, problems = [], []
        bar, progress = progress_bar("counting", "class")
        with bar:
            for i, (name, files) in enumerate(sorted(found.items(), key=lambda kv: kv[0].lower())):
                counts = []
                kinds = ((files.simplified, count_lines), (files.raw, count_lines), (files.bitmap, count_bitmaps))
                for paths, count in kinds:
                    n = 0
                    for p in paths:
                        try:
                            n += count(p)
                        except (OSError, DataFormatError) as exc:
                            problems.append(str(exc))
                    counts.append(n)
                rows.append((name, *counts))
                progress(i + 1, len(found), name)
        print(f"{'class':<28} {'simplified':>10} {'raw':>6} {'bitmaps':>8}")
        for name, simp, raw, bmp in rows:
            print(f"{name:<28} {simp:>10} {raw:>6} {bmp:>8}")
        totals = [sum(r[i] for r in rows) for i in (1, 2, 3)]
        print(f"{len(found)} classes; {totals[0]} simplified, {totals[1]} raw, {totals[2]} bitmaps")
        for problem in problems:
            print(f"skipped: {problem}")
    if args.all:
        print("\nall categories:", ", ".join(ALL_CATEGORIES))
    return 0


def cmd_data_build(args, settings: Settings) -> int:
    from .dataset import build_dataset

    spec = dataset_spec_from_args(args)
    bar, progress = progress_bar("building", "class")
    with bar:
        ds = build_dataset(settings.data_dir, spec, settings.dataset_cache_dir, progress=progress)
    print(f"source: {ds.source}")
    print(f"train {len(ds.y_train)}, test {len(ds.y_test)}, classes {len(ds.classes)}")
    for name, n in ds.counts().items():
        print(f"  {name:<28} {n:>7}")
    return 0


def cmd_data_download(args, settings: Settings) -> int:
    from .download import download_cli

    return download_cli(args, settings)


# ---------------------------------------------------------------- entry point

def _command_groups():
    from . import training_cli
    from .sweeps import cli as sweep_cli

    return [_data_commands, training_cli.register, sweep_cli.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sketchlab", description="SketchLab: Quick, Draw! data and models")
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
    settings = Settings.from_env(data_dir=where.data_dir, home_dir=where.home)
    from .dataset import NoDataError
    from .errors import SketchLabError
    from .formats import DataFormatError

    try:
        return int(args.func(args, settings) or 0)
    except (UserError, SketchLabError, NoDataError, DataFormatError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
