"""What an oversized drawing costs now that the drawing limits (sketchlab/limits.py) apply.

    python benchmarks/limits.py              # 1M-point drawings: canvas, ndjson line, CLI path
    python benchmarks/limits.py --points 200000 --repeats 5

It also prints how far the real drawings in the data folder are from the limits, and what
`count_drawings` (behind `data info` and the pages' counts) costs per line in each mode.

Each case goes the whole way a drawing goes: parse (canvas JSON or an ndjson line read by
`read_drawings`), then `preprocess_strokes` (normalize + rasterize to 28x28, the models' input).
The baseline, measured in the same run, is an ordinary 100-point drawing through the same path,
so the ratio stays meaningful on a busy machine. For scale, the last row runs a 20,000-point
zigzag with the limits lifted (what one crafted stroke used to cost; issue 11 measured 104 s at
100,000 points, so it is not run at full size).
A data-file line longer than max_line_bytes is skipped without being parsed (parsing its
JSON is the one cost that thinning cannot bound); the longest line allowed is timed too.
Prints median wall-clock milliseconds per case. The issue's target: a 1M-point drawing in < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np

from sketchlab import limits
from sketchlab.canvas import strokes_from_canvas
from sketchlab.errors import SketchLabError
from sketchlab.data.formats import read_drawings
from sketchlab.predict import preprocess_strokes


def canvas_message(points: np.ndarray, n_strokes: int) -> dict:
    """A fabric.js drawing as the canvas sends it: one path object per stroke."""
    objects = []
    for part in np.array_split(points, n_strokes):
        xy = part.tolist()
        objects.append({"type": "path", "path": [["M", *xy[0]]] + [["Q", x, y, x, y] for x, y in xy[1:]]})
    return {"objects": objects}


def zigzag(n: int, seed: int = 0) -> np.ndarray:
    """The worst case for the rasterizer: points jumping across the whole canvas."""
    return np.random.default_rng(seed).uniform(0, 600, (n, 2)).round(1)


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def real_data_section(data_dir: Path) -> None:
    """How far real drawings are from the limits, and what counting a folder costs per line."""
    from sketchlab.data.dataset import scan_data_dir
    from sketchlab.data.formats import ReadReport, count_drawings

    files = [p for f in scan_data_dir(data_dir).values() for p in f.simplified + f.raw]
    if not files:
        print(f"(no stroke files in {data_dir}: real-data figures skipped)")
        return
    per_stroke = strokes = points = 0
    for path in files:
        for d in read_drawings(path)[0]:
            per_stroke = max(per_stroke, max(len(s) for s in d.strokes))
            strokes, points = max(strokes, d.n_strokes), max(points, d.n_points)
    print(f"real drawings in {data_dir} ({len(files)} stroke files), largest: {per_stroke} points in a "
          f"stroke, {strokes} strokes, {points} points in a drawing")
    for exact in (False, True):
        lines, start = 0, time.perf_counter()
        for path in files:
            report = ReadReport()
            count_drawings(path, report, exact=exact)
            lines += report.n_ok + report.n_bad
        spent = time.perf_counter() - start
        how = "parse every line (data info --check)" if exact else "check each line's shape (default)"
        print(f"count_drawings, {how}: {spent / lines * 1e6:.1f} us per line over {lines} lines")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=1_000_000, help="points in the big drawings (default: 1M)")
    p.add_argument("--repeats", type=int, default=3, help="runs per case; the median is printed (default: 3)")
    p.add_argument("--unlimited-points", type=int, default=20_000,
                   help="size of the no-limits reference zigzag (default: 20,000; 0 skips it)")
    p.add_argument("--data-dir", default=None,
                   help="real data for the 'how far from the limits' figures (default: ../shared/quickdraw)")
    args = p.parse_args(argv)
    lim = limits.drawing_limits()
    print(f"limits: {lim}")

    t = np.linspace(0, 2 * np.pi, 100)
    small = canvas_message(np.column_stack([300 + 200 * np.cos(t), 300 + 200 * np.sin(t)]), 1)
    base = timed(lambda: preprocess_strokes(strokes_from_canvas(small)), max(args.repeats, 20))

    big = zigzag(args.points)
    one_stroke = canvas_message(big, 1)
    many_strokes = canvas_message(big, 1000)
    with tempfile.TemporaryDirectory() as tmp:
        def ndjson(points: np.ndarray) -> Path:
            line = {"word": "apple", "key_id": "1", "drawing": [[points[:, 0].tolist(), points[:, 1].tolist()]]}
            path = Path(tmp) / f"apple-{len(points)}.ndjson"
            path.write_text(json.dumps(line) + "\n")
            return path

        def from_file(path: Path):
            try:
                drawings, _ = read_drawings(path)
            except SketchLabError:  # its one line was refused: no drawing in the file
                drawings = []
            if drawings:
                preprocess_strokes(drawings[0].strokes)

        huge_file = ndjson(big)
        # the longest line the limit lets through: ~14 bytes per point in this file
        at_limit = zigzag(lim.max_line_bytes // 14, seed=2)
        limit_file = ndjson(at_limit)
        size = limit_file.stat().st_size
        cases = {
            "ordinary 100-point canvas drawing (baseline)": base,
            f"canvas, 1 stroke of {args.points:,} points": timed(
                lambda: preprocess_strokes(strokes_from_canvas(one_stroke)), args.repeats),
            f"canvas, 1,000 strokes, {args.points:,} points": timed(
                lambda: preprocess_strokes(strokes_from_canvas(many_strokes)), args.repeats),
            f"ndjson line, {args.points:,} points ({huge_file.stat().st_size / 1e6:.1f} MB: skipped unread)":
                timed(lambda: from_file(huge_file), args.repeats),
            f"ndjson line, {len(at_limit):,} points ({size / 1e6:.1f} MB: parsed, thinned)":
                timed(lambda: from_file(limit_file), args.repeats),
        }
    if args.unlimited_points:
        lifted = {"SKETCHLAB_MAX_POINTS_PER_STROKE": str(10**9), "SKETCHLAB_MAX_POINTS": str(10**9)}
        os.environ.update(lifted)
        limits.drawing_limits.cache_clear()
        ref = canvas_message(zigzag(args.unlimited_points, seed=1), 1)
        cases[f"NO LIMITS: canvas, 1 stroke of {args.unlimited_points:,} points"] = timed(
            lambda: preprocess_strokes(strokes_from_canvas(ref)), 1)
        for key in lifted:
            del os.environ[key]
        limits.drawing_limits.cache_clear()

    real_data_section(Path(args.data_dir or os.environ.get("SKETCHLAB_DATA") or REPO.parent / "shared" / "quickdraw"))

    width = max(map(len, cases))
    print(f"{'case':<{width}}  {'ms':>9}  {'x baseline':>10}")
    for name, seconds in cases.items():
        print(f"{name:<{width}}  {seconds * 1e3:>9.1f}  {seconds / base:>10.0f}")
    print(f"(machine: {os.cpu_count()} CPUs, shared with other jobs: compare the ratios, not the seconds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
