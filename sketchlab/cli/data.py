"""CLI commands for data: `data info`, `data build`, `data download` (see sketchlab.cli.main)."""

from __future__ import annotations

from pathlib import Path

from .common import UserError, classes_arg, one_line, progress_bar
from ..errors import SketchLabError
from ..settings import Settings




def register(sub) -> None:
    """Add the data commands to the top-level sub-parsers."""
    data = sub.add_parser("data", help="download, inspect and build Quick Draw data")
    dsub = data.add_subparsers(dest="data_command", required=True)

    info = dsub.add_parser("info", help="list the classes in the data folder with drawing counts")
    info.add_argument("--all", action="store_true", help="also list all 345 category names")
    info.add_argument("--check", action="store_true",
                      help="parse every line (slower): count only drawings the readers accept")
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


def dataset_spec_from_args(args):
    from ..data.dataset import DatasetSpec

    if args.per_class is not None and args.per_class < 1:
        raise UserError("--per-class must be at least 1")
    return DatasetSpec(
        classes=classes_arg(args.classes),
        per_class=args.per_class,
        balanced=not args.unbalanced,
        recognized_only=args.recognized_only,
    )


def cmd_data_info(args, settings: Settings) -> int:
    """Readable drawings per class and format; every file or line skipped is named."""
    from ..categories import ALL_CATEGORIES
    from ..data.dataset import no_data_message
    from ..explore import class_overview

    print(f"data folder: {settings.data_dir}")
    problems: list[str] = []
    bar, progress = progress_bar("counting", "class")
    with bar:
        overview = class_overview(settings.data_dir, problems, progress=progress, exact=args.check)
    npz = _npz_line(settings.data_dir, bool(overview), problems)
    if not overview and not npz:
        print(no_data_message(settings.data_dir))
    if overview:
        print(f"{'class':<28} {'simplified':>10} {'raw':>6} {'bitmaps':>8}   {'from strokes':>12} "
              f"{'from bitmaps':>12} {'distinct':>8}")
        for c in overview.values():
            print(f"{c.name:<28} {c.simplified:>10} {c.raw:>6} {c.bitmaps:>8}   {c.strokes:>12} "
                  f"{c.bitmap_only:>12} {c.total:>8}")
        totals = [sum(getattr(c, k) for c in overview.values())
                  for k in ("simplified", "raw", "bitmaps", "strokes", "bitmap_only", "total")]
        print(f"{len(overview)} classes; {totals[0]} simplified, {totals[1]} raw, {totals[2]} bitmaps"
              + ("" if args.check else " (lines that look like drawings; --check parses every line)"))
        print(f"distinct drawings: {totals[5]} = {totals[3]} with strokes (simplified and raw merged by key_id) "
              f"+ {totals[4]} from bitmaps only (a bitmap row whose official index is also here as "
              "strokes is the same drawing and counts once)")
    if npz:
        print(npz)
    for problem in problems:
        print(f"skipped: {one_line(problem)}")
    if args.all:
        print("\nall categories:", ", ".join(ALL_CATEGORIES))
    return 0


def _npz_line(data_dir, has_class_files: bool, problems: list) -> str | None:
    """The quickdraw10.npz that `data build` falls back on, if the folder has one."""
    from ..data.dataset import NPZ_NAME
    from ..data.formats import count_npz

    root = Path(data_dir)
    npz = next(root.rglob(NPZ_NAME), None) if root.is_dir() else None
    if npz is None:
        return None
    try:
        rows, n_classes = count_npz(npz)
    except (SketchLabError, OSError) as exc:
        problems.append(f"{exc}; file skipped")
        return None
    use = ("not used by `data build`: the class files come first" if has_class_files
           else "used by `data build`, as the folder has no class files")
    return f"{npz}: {rows} bitmaps of {n_classes} classes ({use})"


def cmd_data_build(args, settings: Settings) -> int:
    from ..data.dataset import build_dataset

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
    """`data download [classes...] [--per-class N] [--format F] [--base-url U]`: one bar per class."""
    import requests

    from ..categories import QUICKDRAW_10
    from ..data.dataset import count_lines
    from ..data.download import DEFAULT_BASE_URL, DownloadError, check_request, download_class
    from ..data.formats import count_bitmaps

    fmt, per_class = args.format, args.per_class
    try:
        names = [check_request(c, fmt, per_class) for c in (list(args.classes) or list(QUICKDRAW_10))]
    except DownloadError as exc:
        raise UserError(str(exc)) from None
    what = f"the first {per_class} drawings of" if per_class else "all drawings of"
    print(f"downloading {what} {len(names)} classes ({fmt}) into {settings.data_dir}")
    with requests.Session() as session:
        for i, name in enumerate(names):
            bar, progress = progress_bar(f"[{i + 1}/{len(names)}] {name}", "B")
            try:
                with bar:
                    path = download_class(name, settings.data_dir, fmt, per_class,
                                          args.base_url or DEFAULT_BASE_URL, progress, session)
            except DownloadError as exc:
                raise UserError(str(exc)) from None
            count = count_lines(path) if fmt == "simplified" else count_bitmaps(path)
            print(f"  {name}: {count:,} drawings -> {path}")
    return 0
