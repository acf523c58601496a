"""CLI command for taught models: `teach` (the add-a-class recipe, `sketchlab.newclass`).

    python -m sketchlab teach --classes "cat,apple,banana" --name "cats"   # here, with a progress bar
    python -m sketchlab teach --job DIR     # what the Train page starts in the background

The classes may be any class with drawings here: the data folder's, and drawings kept
with "This is a …" on the Draw page (the command line keeps and reads the `local` owner's;
the teacher's view, everybody's, since the command line has every power). The model is
saved under `<home>/taught/`, where the Train page lists it.
"""

from __future__ import annotations

from .common import UserError, progress_bar


def register(sub) -> None:
    p = sub.add_parser("teach", help="teach a model new classes from a few drawings (transfer + augmentation)")
    p.add_argument("--classes", default=None, help="comma-separated class names (at least 2)")
    p.add_argument("--name", default="", help="the model's name (default: its classes)")
    p.add_argument("--job", default=None, metavar="DIR", help="run a job the Train page queued")
    p.set_defaults(func=_teach)


def _teach(args, settings) -> int:
    from .. import taught

    if args.job:
        taught.run_job(args.job, settings)
        return 0
    if not args.classes:
        raise UserError("name the classes: --classes \"cat,apple,banana\" (at least 2)")
    job = taught.start_teaching(settings, [c.strip() for c in args.classes.split(",") if c.strip()],
                                name=args.name, background=False)
    bar, progress = progress_bar("teach", "%")
    try:
        card = taught.run_job(job.path, settings, progress=lambda f, m: progress(round(100 * f), 100, m))
    finally:
        bar.close()
    counts = card["data"]["per_class_counts"]
    print(f"saved {job.path} ({job.name}): " + ", ".join(f"{c} {n}" for c, n in counts.items())
          + f"; training accuracy {card['train_accuracy']:.0%} (augmented training rows, not a held-out figure)")
    return 0
