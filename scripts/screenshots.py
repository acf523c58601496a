"""Screenshots of the app for the README, taken in a real Chromium: Draw, Explore and Train.

    python scripts/screenshots.py                       # real data in ../shared/quickdraw
    python scripts/screenshots.py --data DIR --out docs/screenshots --sweep-epochs 10

It runs seed 000's sweep (scaled down with --sweep-epochs) in a temporary home folder so
the Train page has curves to show, starts `streamlit run app.py` on a free local port,
draws an apple on the canvas with the mouse, and saves draw.png, explore.png,
explore-model.png (a model's confusion matrix and mistakes) and train.png.
The helpers (`serve_app`, `launch_chromium`, `draw_strokes`, ...) are shared with
tests/test_browser.py and benchmarks/draw_latency.py.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
IDLE = "[data-test-script-state='notRunning']"
# The drawing surface of the canvas component (fabric.js' upper canvas).
CANVAS = "[data-testid=stBidiComponentIsolated] canvas.upper-canvas"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def app_server(env: dict, log_path: Path, timeout: float = 120, cwd: Path = REPO):
    """`streamlit run app.py` from `cwd` (a checkout) on 127.0.0.1 and a free port; yields
    (URL, the server's Popen) once /_stcore/health answers; always stops it."""
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "127.0.0.1"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode}; see {log_path}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not answer /_stcore/health in {timeout:.0f} s; "
                                   f"see {log_path}")
            time.sleep(0.5)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serve_app(env: dict, log_path: Path, timeout: float = 120, cwd: Path = REPO):
    """`app_server` for callers that need only the URL."""
    with app_server(env, log_path, timeout, cwd) as (url, _proc):
        yield url


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def wait_idle(page, timeout_ms: int = 120_000, settle: float = 1.0) -> None:
    """Wait until the script has finished its run (and give the charts a moment to draw)."""
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    time.sleep(settle)
    page.wait_for_selector(IDLE, timeout=timeout_ms)


def canvas_box(page, timeout_ms: int = 60_000) -> dict:
    """The drawing surface of the canvas component (fabric.js' upper canvas)."""
    canvas = page.locator(CANVAS).first
    canvas.wait_for(state="visible", timeout=timeout_ms)
    return canvas.bounding_box()


# The same two for Playwright's async API (many pages at once: benchmarks/draw_latency.py).

async def wait_idle_async(page, timeout_ms: int = 120_000, settle: float = 1.0) -> None:
    await page.wait_for_selector(IDLE, timeout=timeout_ms)
    await asyncio.sleep(settle)
    await page.wait_for_selector(IDLE, timeout=timeout_ms)


async def canvas_box_async(page, timeout_ms: int = 60_000) -> dict:
    canvas = page.locator(CANVAS).first
    await canvas.wait_for(state="visible", timeout=timeout_ms)
    return await canvas.bounding_box()


def draw_strokes(page, strokes, steps: int = 6) -> None:
    """Drag the mouse along each stroke (points in canvas pixels), one mouse-down per stroke."""
    box = canvas_box(page)
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=steps)
        page.mouse.up()
        time.sleep(0.4)  # the component sends each stroke after a short debounce


def apple_strokes(size: int = 400) -> list[list[tuple[float, float]]]:
    """An apple: a round body, a stem and a leaf, in a size x size canvas."""
    c, r = size / 2, size * 0.3
    body = [(c + r * math.sin(t) * (1 + 0.08 * math.cos(2 * t)), c + 20 + r * -math.cos(t) * 0.95)
            for t in [2 * math.pi * i / 36 + 0.25 for i in range(37)]]
    stem = [(c, c - r + 10), (c + 4, c - r - 25), (c + 10, c - r - 50)]
    top = c - r
    leaf = [(c + 8, top - 30), (c + 45, top - 55), (c + 70, top - 40), (c + 40, top - 25), (c + 8, top - 30)]
    return [body, stem, leaf]


def run_sweep(home: Path, data: Path, epochs: int) -> str:
    """Seed 000's preset, scaled to `epochs`, run to the end by a background worker; its name."""
    os.environ.update(SKETCHLAB_HOME=str(home), SKETCHLAB_DATA=str(data))
    sys.path.insert(0, str(REPO))
    from sketchlab import sweeps
    from sketchlab.settings import Settings

    settings = Settings.from_env()
    store = sweeps.SweepStore.of(settings)
    name = store.create(sweeps.seed_preset(epochs=epochs), data_dir=settings.data_dir)
    sweeps.ensure_workers(settings, storage=store.url)
    while True:
        summary = sweeps.SweepStore.of(settings).get(name)
        done = sum(summary.counts.get(k, 0) for k in sweeps.FINAL_STATES)
        print(f"\rsweep {name}: {done}/{summary.n_runs} runs ended", end="", flush=True)
        if summary.is_final:
            print()
            return name
        time.sleep(3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "quickdraw")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    ap.add_argument("--sweep-epochs", type=int, default=10)
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--tall", type=int, default=1900, help="window height for Explore and Train")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sketchlab-shots-") as tmp:
        home = Path(tmp) / "home"
        name = run_sweep(home, args.data.resolve(), args.sweep_epochs)
        env = {"SKETCHLAB_HOME": str(home), "SKETCHLAB_DATA": str(args.data.resolve()),
               "TF_CPP_MIN_LOG_LEVEL": "2"}
        with serve_app(env, Path(tmp) / "streamlit.log") as url, sync_playwright() as p:
            browser = launch_chromium(p)
            page = browser.new_page(viewport={"width": args.width, "height": 980})
            page.goto(url)
            wait_idle(page)
            draw_strokes(page, apple_strokes())
            wait_idle(page, settle=2.0)
            page.screenshot(path=str(args.out / "draw.png"))

            # Streamlit scrolls inside its own container, so a taller window shows more of a page.
            page.set_viewport_size({"width": args.width, "height": args.tall})
            page.goto(f"{url}/explore")
            wait_idle(page, settle=3.0)
            page.screenshot(path=str(args.out / "explore.png"))
            buttons = page.locator("[data-testid^=stBaseButton]")
            buttons.filter(has_text="Evaluate on the held-out split").click()
            page.get_by_text("Most confident mistakes").wait_for(timeout=180_000)
            wait_idle(page, settle=2.0)
            page.get_by_text("Where a model goes wrong").evaluate("e => e.scrollIntoView({block: 'start'})")
            time.sleep(1.0)
            page.screenshot(path=str(args.out / "explore-model.png"))

            page.goto(f"{url}/train?sweep={name}")
            wait_idle(page, settle=3.0)
            page.screenshot(path=str(args.out / "train.png"))
            browser.close()
    for shot in ("draw", "explore", "explore-model", "train"):
        print(args.out / f"{shot}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
