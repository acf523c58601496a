"""Rasterizer speed: SketchLab's cairo renderer against seed 004's PIL `draw_it`, same drawings, same run.

Prints drawings per second and the ratio to the seed for
  - seed 004's `draw_it`, re-implemented faithfully: `ast.literal_eval` of the drawing string,
    PIL `ImageDraw.line` of width 5 per segment on a 256x256 'L' image, resize to 28x28;
  - ours from parsed strokes: `sketchlab.data.raster.rasterize_strokes` (1 thread, and all cores);
  - ours end to end from the same drawing string (json.loads, strokes_from_lists, rasterize);
  - ours end to end from the whole ndjson line (json.loads, Drawing with metadata, rasterize).
Every method runs on the same drawings, interleaved, `--repeats` times; the best time of each counts.

Input: every simplified ndjson drawing in the data folder (`--data-dir`, else $SKETCHLAB_DATA,
else ../shared/quickdraw beside the repo), or synthetic drawings when there is none.
Usage: python benchmarks/raster.py [--data-dir DIR] [--limit N] [--repeats R]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sketchlab.data.dataset import scan_data_dir  # noqa: E402
from sketchlab.data.drawing import normalize_strokes, strokes_from_lists, strokes_to_lists  # noqa: E402
from sketchlab.data.formats import drawing_from_record  # noqa: E402
from sketchlab.data.raster import rasterize_strokes  # noqa: E402


def seed_draw_it(strokes: str, size: int = 28) -> np.ndarray:
    """Seed 004's renderer: black lines of width 5 on a white 256x256 image, resized, scaled to [0, 1]."""
    image = Image.new("L", (256, 256), color=255)
    image_draw = ImageDraw.Draw(image)
    for stroke in ast.literal_eval(strokes):
        for i in range(len(stroke[0]) - 1):
            image_draw.line([stroke[0][i], stroke[1][i], stroke[0][i + 1], stroke[1][i + 1]], fill=0, width=5)
    image = image.resize((size, size))
    return np.array(image) / 255.0


def default_data_dir(flag: str | None) -> Path:
    return Path(flag or os.environ.get("SKETCHLAB_DATA") or REPO.parent / "shared" / "quickdraw")


def ndjson_lines(data_dir: Path) -> tuple[list[str], int]:
    """Every line of every simplified .ndjson file under `data_dir`, and the number of files."""
    lines, n_files = [], 0
    for files in scan_data_dir(data_dir).values():
        for path in files.simplified:
            if path.suffix.lower() == ".ndjson":
                n_files += 1
                lines.extend(line for line in path.read_text().splitlines() if line.strip())
    return lines, n_files


def synthetic_lines(n: int, seed: int = 0) -> list[str]:
    """Random-walk doodles (3-8 strokes) normalized like the simplified data, as ndjson lines."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        n_strokes = rng.integers(3, 9)
        strokes = [np.cumsum(rng.normal(0, 12, (rng.integers(5, 40), 2)), axis=0) for _ in range(n_strokes)]
        drawing = strokes_to_lists(normalize_strokes(strokes))
        lines.append(json.dumps({"word": "synthetic", "key_id": str(i), "recognized": True, "drawing": drawing}))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder of Quick Draw files (default: $SKETCHLAB_DATA)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N drawings")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per method (best counts)")
    args = parser.parse_args(argv)

    data_dir = default_data_dir(args.data_dir)
    lines, n_files = ndjson_lines(data_dir)
    if lines:
        where = f"{n_files} simplified ndjson files in {data_dir}"
    else:
        lines = synthetic_lines(2000)
        where = f"synthetic drawings (no simplified ndjson in {data_dir})"
    lines = lines[: args.limit]
    load = os.getloadavg()[0]
    records = [json.loads(line) for line in lines]
    drawing_strings = [json.dumps(r["drawing"], separators=(",", ":")) for r in records]  # the CSV column
    strokes = [strokes_from_lists(r["drawing"]) for r in records]
    n = len(lines)
    threads = min(os.cpu_count() or 1, 8)

    methods = {
        "seed 004 draw_it (literal_eval + PIL + resize)": lambda: [seed_draw_it(s) for s in drawing_strings],
        "ours: parsed strokes, 1 thread": lambda: rasterize_strokes(strokes, workers=1),
        f"ours: parsed strokes, {threads} threads": lambda: rasterize_strokes(strokes),
        # Generators: batches are drawn on worker threads while the main thread parses on.
        "ours: drawing string -> json -> raster": lambda: rasterize_strokes(
            strokes_from_lists(json.loads(s)) for s in drawing_strings
        ),
        "ours: ndjson line -> Drawing -> raster": lambda: rasterize_strokes(
            drawing_from_record(json.loads(line)).strokes for line in lines
        ),
    }
    assert np.array_equal(rasterize_strokes(strokes, workers=1), rasterize_strokes(strokes))  # same pixels

    best = {name: float("inf") for name in methods}
    cpu = {name: float("inf") for name in methods}
    for _ in range(args.repeats):
        for name, run in methods.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)

    points = np.mean([sum(len(s) for s in d) for d in strokes])
    n_strokes = np.mean([len(d) for d in strokes])
    print(f"input: {n} drawings from {where}")
    print(f"       {n_strokes:.1f} strokes and {points:.1f} points per drawing; 28x28 output;"
          f" {os.cpu_count()} CPU cores")
    print(f"timing: best of {args.repeats} interleaved rounds per method; load average before: {load:.1f}")
    print("(wall clock is what a user waits; CPU time, summed over threads, is less sensitive to other load)\n")
    seed = next(iter(methods))
    print(f"{'method':<48} {'drawings/s':>10} {'us/drawing':>10} {'vs seed':>8} {'CPU us':>8} {'vs seed':>8}")
    for name in methods:
        rate, cpu_us = n / best[name], 1e6 * cpu[name] / n
        print(
            f"{name:<48} {rate:>10,.0f} {1e6 / rate:>10.1f} {best[seed] / best[name]:>7.1f}x "
            f"{cpu_us:>8.1f} {cpu[seed] / cpu[name]:>7.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
