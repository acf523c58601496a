"""Fidelity figures: how close SketchLab's preprocessing comes to Google's own files.

(a) Rasterizer vs the official numpy_bitmap, on the drawings that exist as simplified strokes
    AND as official bitmaps (line i of simplified_ndjson/<class>.ndjson = row i of
    numpy_bitmap/<class>.npy): mean absolute pixel difference (0-255), ours and, for
    contrast, seed 004's PIL render (white on black, like the official files).
(b) Where the strokes and bitmaps are different drawings of a class: per-class mean image
    and pixel histogram of our renders vs the official bitmaps (same for the seed's render).
(c) normalize_strokes(raw strokes) vs Google's simplified strokes of the same drawing
    (same key_id): raster MAE and point-count difference.
Uses the data folder (`--data-dir`, else $SKETCHLAB_DATA, else ../shared/quickdraw) and says
what it could not measure when a format is missing.
Usage: python benchmarks/fidelity.py [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from raster import REPO, default_data_dir, seed_draw_it  # benchmarks/raster.py

sys.path.insert(0, str(REPO))

from sketchlab.data.dataset import scan_data_dir  # noqa: E402
from sketchlab.data.drawing import normalize_strokes, strokes_to_lists  # noqa: E402
from sketchlab.data.formats import load_bitmaps, read_drawings  # noqa: E402
from sketchlab.data.raster import rasterize_strokes  # noqa: E402

HIST_BINS = np.array([0, 1, 32, 64, 96, 128, 160, 192, 224, 255, 256])  # 0 and 255 get bins of their own


def seed_render(drawings) -> np.ndarray:
    """Seed 004's render of each drawing as 0..255 white-on-black uint8 rows (it draws black on white)."""
    rows = [255 - np.round(seed_draw_it(json.dumps(strokes_to_lists(d))) * 255) for d in drawings]
    return np.asarray(rows, dtype=np.uint8).reshape(len(drawings), 784)


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def histogram(images: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(images, bins=HIST_BINS)
    return counts / counts.sum()


def strokes_and_bitmaps(found):
    """(class, strokes of its simplified drawings, all its official bitmaps) where both exist."""
    for name, files in sorted(found.items()):
        simplified = [p for p in files.simplified if p.suffix == ".ndjson"]
        if simplified and files.bitmap:
            yield name, [d.strokes for d in read_drawings(simplified[0])[0]], load_bitmaps(files.bitmap[0])


def paired_bitmaps(found) -> None:
    print("(a) rasterizer vs official numpy_bitmap, same drawings (line i = row i)")
    measured = False
    for name, drawings, official in strokes_and_bitmaps(found):
        n = min(len(drawings), len(official))
        ours = rasterize_strokes(drawings[:n]).reshape(n, 784)
        seed = seed_render(drawings[:n])
        same = float((ours == official[:n]).all(axis=1).mean())
        print(f"    {name}: {n} drawings")
        worst = np.abs(ours.astype(int) - official[:n]).max()
        print(f"      ours     MAE {mae(ours, official[:n]):6.3f}  max |diff| {worst:3d}  identical images {same:.0%}")
        print(f"      seed 004 MAE {mae(seed, official[:n]):6.3f}"
              "  (PIL width 5 on 256x256, resized; no centring or padding)")
        measured = True
    if not measured:
        print("    not measured: no class has both simplified strokes and an official numpy_bitmap file")


def distributions(found) -> None:
    print("(b) per-class mean image and pixel histogram, our renders vs official bitmaps (different drawings)")
    measured = False
    for name, drawings, official in strokes_and_bitmaps(found):
        official = official[len(drawings):]  # the rows past the paired ones: other drawings
        if not len(official):
            continue
        ours = rasterize_strokes(drawings).reshape(len(drawings), 784)
        seed = seed_render(drawings)
        ref_mean, ref_hist = official.mean(axis=0), histogram(official)
        print(f"    {name}: {len(drawings)} drawings rendered vs {len(official)} other official bitmaps")
        for label, images in (("ours    ", ours), ("seed 004", seed)):
            mean_img = images.mean(axis=0)
            corr = float(np.corrcoef(mean_img, ref_mean)[0, 1])
            tvd = 0.5 * float(np.abs(histogram(images) - ref_hist).sum())
            print(f"      {label} mean-image MAE {np.abs(mean_img - ref_mean).mean():6.2f}  correlation {corr:.3f}"
                  f"  histogram distance (TVD) {tvd:.3f}  ink pixels {(images > 0).mean():.3f}"
                  f" (official {(official > 0).mean():.3f})")
        measured = True
    if not measured:
        print("    not measured: no official bitmaps beyond the paired rows")
    missing = sorted(n for n, f in found.items() if f.has_strokes and not f.bitmap)
    if missing:
        print(f"    not measurable for {len(missing)} classes with strokes but no official bitmaps "
              f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})")


def normalization(found) -> None:
    print("(c) normalize_strokes(raw) vs Google's simplified strokes of the same drawing (same key_id)")
    maes, point_diff, points, stroke_same = [], [], [], []
    for name, files in sorted(found.items()):
        if not (files.raw and files.simplified):
            continue
        simplified = {}
        for path in files.simplified:
            simplified.update({d.key_id: d for d in read_drawings(path)[0]})
        raw = [d for path in files.raw for d in read_drawings(path)[0]]
        pairs = [(d, simplified[d.key_id]) for d in raw if d.key_id in simplified]
        if not pairs:
            continue
        ours = [normalize_strokes(raw.strokes) for raw, _ in pairs]
        google = [simp.strokes for _, simp in pairs]
        a = rasterize_strokes(ours).reshape(len(pairs), 784)
        b = rasterize_strokes(google).reshape(len(pairs), 784)
        maes.extend(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=1))
        for o, g in zip(ours, google):
            n_o, n_g = sum(len(s) for s in o), sum(len(s) for s in g)
            point_diff.append(n_o - n_g)
            points.append(n_g)
            stroke_same.append(len(o) == len(g))
    if not maes:
        print("    not measured: no drawing exists both as raw and as simplified strokes")
        return
    maes, point_diff = np.asarray(maes), np.asarray(point_diff)
    print(f"    {len(maes)} drawings in {sum(1 for f in found.values() if f.raw and f.simplified)} classes")
    print(f"      raster MAE (0-255): mean {maes.mean():.2f}  median {np.median(maes):.2f}"
          f"  95th percentile {np.percentile(maes, 95):.2f}  max {maes.max():.2f}")
    print(f"      points per drawing: Google {np.mean(points):.1f}, ours {np.mean(points) + point_diff.mean():.1f}"
          f"  (mean |difference| {np.abs(point_diff).mean():.1f}"
          f" = {np.abs(point_diff).sum() / np.sum(points):.1%})")
    print(f"      same number of strokes: {np.mean(stroke_same):.1%}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder of Quick Draw files (default: $SKETCHLAB_DATA)")
    args = parser.parse_args(argv)
    data_dir = default_data_dir(args.data_dir)
    found = scan_data_dir(data_dir)
    print(f"data: {data_dir} ({len(found)} classes)\n")
    if not found:
        print("no Quick Draw files: nothing could be measured (see README, 'Data')")
        return 1
    paired_bitmaps(found)
    print()
    distributions(found)
    print()
    normalization(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
