"""The Draw page measured in a real Chromium: mouse-up → guesses on screen, server CPU and
memory per stroke, strokes lost, Undo/Clear, the first stroke after a start, and the
Explore/Train pages as a new user meets them; the working tree against a baseline commit,
both measured in the same run (issue 8).

    python benchmarks/draw_latency.py                          # 1, 10, 30 pages; baseline d6067cd
    python benchmarks/draw_latency.py --pages 1,5 --no-baseline
    python benchmarks/draw_latency.py --pages 1 --no-baseline --quick      # smoke run, ~2 min
    python benchmarks/draw_latency.py --pages 1 --profile --parts draw     # + where a stroke's time goes
    python benchmarks/draw_latency.py --json draw.json

How it measures (one Chromium, one browser context = one session per simulated user):
- Drawings: real Quick, Draw! drawings (`<data>/simplified_ndjson`, 0–255), scaled into the
  400×400 canvas with a margin, long strokes subsampled to ≤ --max-moves mouse moves, drawn
  stroke by stroke with page.mouse down/move/up. Dots (one point) are drawn as a click,
  as a person would. The same drawings, in the same order, for the tree and the baseline.
- mouse-up → guesses: after the mouse-up of the k-th stroke, the time until the page's main
  area shows "(k stroke" — the caption "What the models saw: … (k strokes)." under the
  guesses. Not there after --stroke-timeout: an error (the page's own count is read again,
  so one lost stroke costs one error, not one per later stroke). Then a --pause, the next stroke.
- N pages draw at once, in rounds: every page draws one drawing, then every page
  clicks the app's Undo and Clear. Server CPU (utime+stime from /proc of the streamlit
  process and its children) is read around the drawing part of each round only, so
  "CPU per stroke" holds strokes only; Undo+Clear have their own figure. Chromium and
  Playwright share the 2 cores with the server: their CPU per stroke is printed too.
- strokes lost: per drawing, strokes drawn minus the count the page shows at the end, after
  up to --final-timeout more for a busy server to catch up (and "extra": the page counted
  more than was drawn).
- first stroke: every Draw server is a fresh `streamlit run`; one page opens as soon as
  /_stcore/health answers, draws one stroke the moment the canvas is visible, and waits
  for its guesses (seconds since the canvas was visible and since the process started).
- Explore / Train (a server with the data folder): Explore's first load in a fresh session
  (goto /explore until the script is idle; the first try hits a cold server), Explore
  reached from Draw through the sidebar, toggling replay, adding a class,
  "Drawings shown per class" to 12, the Train page's first load. Each action is timed
  in the page (performance.now()) from just before the action until the script has run
  and is idle again.
- --profile: `py-spy record --format raw` on the server while one page draws; prints the
  top functions (self and cumulative) and the samples grouped by what they are doing,
  in seconds per stroke.

The Draw measurements run with an empty data folder (as the issue measured it) and a
temporary SKETCHLAB_HOME; the baseline is `git worktree add --detach` of --baseline, served
from its own tree with its own shipped `models/` (SKETCHLAB_MODELS points at each tree's).
The machine is shared: the load average is printed at the start and the end, and every
ratio (baseline / current: > 1 means the tree is faster or smaller) compares figures
taken minutes apart on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("screenshots", REPO / "scripts" / "screenshots.py")
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)

CANVAS_SIDE = 400
VIEWPORT = {"width": 1400, "height": 1100}
MAIN = "[data-testid=stMain]"
BUTTON = "[data-testid^=stBaseButton]"
PROMPT = "Draw something"  # the empty-canvas prompt, on the old page and the new
COUNT_RE = re.compile(r"\((\d+) strokes?\)")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- drawings


@dataclass
class Drawing:
    word: str
    strokes: list[list[tuple[float, float]]]  # canvas pixels, one list of points per stroke


def subsample(points: list, max_points: int) -> list:
    """At most `max_points` of `points`, evenly spread, first and last kept."""
    if len(points) <= max_points:
        return list(points)
    idx = np.unique(np.round(np.linspace(0, len(points) - 1, max_points)).astype(int))
    return [points[i] for i in idx]


def to_canvas(strokes_xy, side: int = CANVAS_SIDE, margin: int = 40, max_moves: int = 25):
    """Simplified Quick, Draw! strokes ([[xs], [ys]] in 0–255) → canvas pixel points.

    One uniform scale maps 0–255 onto the canvas less its margins (the data is already
    uniformly scaled, so the aspect ratio stays); the drawing is centred. Each stroke keeps
    at most `max_moves` moves after its first point, so a stroke is quick to draw."""
    xs = np.concatenate([np.asarray(s[0], float) for s in strokes_xy])
    ys = np.concatenate([np.asarray(s[1], float) for s in strokes_xy])
    scale = (side - 2 * margin) / 255.0
    off_x = margin + ((255.0 - xs.max()) * scale) / 2 - xs.min() * scale
    off_y = margin + ((255.0 - ys.max()) * scale) / 2 - ys.min() * scale
    out = []
    for sx, sy in strokes_xy:
        points = [(round(float(off_x + x * scale), 1), round(float(off_y + y * scale), 1))
                  for x, y in zip(sx, sy)]
        out.append(subsample(points, max_moves + 1))
    return out


def is_dot(stroke, span_px: float = 3.0) -> bool:
    """A stroke that hardly moves (an eye, a seed): the kind the canvas may drop."""
    return max(abs(x - stroke[0][0]) + abs(y - stroke[0][1]) for x, y in stroke) <= span_px


def has_dot(drawing: Drawing) -> bool:
    return any(is_dot(s) for s in drawing.strokes)


def dots_as_clicks(drawing: Drawing) -> Drawing:
    """Each dot drawn as a person clicks one: mouse down and up on a single point."""
    return Drawing(drawing.word, [s[:1] if is_dot(s) else s for s in drawing.strokes])


def load_drawings(folder: Path, n: int, max_strokes: int, max_moves: int, seed: int = 0,
                  dots_first: bool = False) -> list[Drawing]:
    """`n` drawings with at most `max_strokes` strokes, taking turns over the class files
    (sorted by name), each file's drawings in a seeded random order; with `dots_first`,
    the drawings that have a dot come first (about 1 in 12 of QuickDraw-10's have one)."""
    rng = np.random.default_rng(seed)
    per_class = []
    for path in sorted(folder.glob("*.ndjson")):
        rows = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    row = json.loads(line)
                    if 0 < len(row["drawing"]) <= max_strokes:
                        rows.append(row)
        rng.shuffle(rows)
        if rows:
            per_class.append(rows)
    if not per_class:
        raise SystemExit(f"no drawings with 1–{max_strokes} strokes in {folder}/*.ndjson")
    taken: list[Drawing] = []
    i = 0
    while any(per_class) and (dots_first or len(taken) < n):
        rows = per_class[i % len(per_class)]
        if rows:
            row = rows.pop()
            taken.append(Drawing(row["word"], to_canvas(row["drawing"], max_moves=max_moves)))
        i += 1
    if dots_first:  # stable: the turns over the classes stay as they were within each group
        taken.sort(key=lambda d: not has_dot(d))
    return taken[:n]


# ---------------------------------------------------------------- processes (/proc)


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 (state) is [0]


def descendants(root: int) -> list[int]:
    """`root` and every live process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of each process, plus cutime + cstime (its children already reaped)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields:
            total += sum(int(x) for x in fields[11:15])  # fields 14–17
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


class Meter:
    """CPU of the server (and its children) and of everything else this script started
    (Playwright's driver and Chromium)."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid

    def server(self) -> float:
        return cpu_seconds(descendants(self.server_pid))

    def browser(self) -> float:
        server = set(descendants(self.server_pid))
        return cpu_seconds([p for p in descendants(os.getpid()) if p not in server and p != os.getpid()])

    def rss_mb(self) -> float:
        return rss_mb(descendants(self.server_pid))


# ---------------------------------------------------------------- statistics


def pctl(values, q: float) -> float | None:
    return float(np.percentile(values, q)) if len(values) else None


def p50(values) -> float | None:
    return pctl(values, 50)


# ---------------------------------------------------------------- profile (py-spy raw)

# Where a sample's time goes, decided in three steps:
# 1. by the leaf frame alone: waits that py-spy still counted as busy, and the gc.collect
#    that Streamlit runs after every script run (C code: the leaf is the Python caller);
# 2. by any frame of the stack, in this order (a plotly figure built inside the page
#    script is "plotly", a model called from the page is "prediction");
# 3. by the frame nearest the leaf that matches a general kind.
WAITS = "waiting (epoll, sleep, queues; py-spy counted them)"
LEAF = [
    (WAITS, [r"^EpollSelector\.select ", r"^select \(.*selectors\.py", r"PollingPathWatcher\._schedule",
             r"^(Condition|Event)\.wait ", r"^wait \(.*threading\.py",
             r"^_worker \(.*concurrent/futures/thread\.py"]),
    ("after every run: gc.collect(2) (Streamlit's runner.postScriptGC)",
     [r"^ScriptRunner\._on_script_finished "]),
]
SPECIFIC = [
    ("after every run: keras clear_session() (Streamlit's _clean_problem_modules)",
     [r"^_clean_problem_modules "]),
    ("imports (first use of a module)", [r"<frozen importlib\._bootstrap"]),
    ("prediction (sketchlab.predict, Keras, TensorFlow)",
     [r"sketchlab/predict\.py", r"/keras/", r"/tensorflow/"]),
    ("plotly figures (build, validate, to JSON)",
     [r"sketchlab/plots\.py", r"/plotly/", r"/_plotly_utils/", r"streamlit/elements/plotly_chart\.py"]),
    ("canvas component (streamlit_drawable_canvas, components)",
     [r"/streamlit_drawable_canvas/", r"streamlit/components/", r"streamlit/elements/lib/bidi_component"]),
    ("sidebar, registry, data-folder scans",
     [r"^sidebar \(.*app_pages/common\.py", r"sketchlab/(registry|explore|dataset|settings|fileio)\.py"]),
    ("st.cache_* lookups and hashing", [r"streamlit/runtime/caching/"]),
]
GENERAL = [
    ("Streamlit messages (protobuf, websocket)",
     [r"google/protobuf", r"streamlit/proto/", r"forward_msg", r"tornado/websocket", r"/starlette/",
      r"/uvicorn/", r"/websockets/",
      r"streamlit/web/server/browser_websocket", r"streamlit/runtime/app_session\.py"]),
    ("Streamlit elements and script runner", [r"/streamlit/"]),
    ("page script (app.py, app_pages, sketchlab)", [r"app_pages/", r"/app\.py", r"/sketchlab/"]),
    ("event loop (tornado, asyncio)", [r"/asyncio/", r"/tornado/", r"selectors\.py"]),
]
OTHER = "other (threads, stdlib)"
# frames every stack has (thread start, the server's main loop): left out of "cumulative"
BOILERPLATE = re.compile(r"^(process |thread \()|\((threading\.py|<frozen runpy>|click/|asyncio/runners\.py|"
                         r"streamlit/web/(bootstrap|cli)\.py)|^Thread\.")


def _compiled(rules):
    return [(name, [re.compile(p) for p in pats]) for name, pats in rules]


_LEAF, _SPECIFIC, _GENERAL = _compiled(LEAF), _compiled(SPECIFIC), _compiled(GENERAL)


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """py-spy's raw (collapsed) format: "frame;frame;...;leaf count" per line, root first;
    with --threads the first frame is "thread (tid): name"."""
    out = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            out.append((stack.split(";"), int(count)))
    return out


def category(frames: list[str]) -> str:
    """The kind of work of one stack (root first, no thread frame)."""
    if frames:
        for name, pats in _LEAF:
            if any(p.search(frames[-1]) for p in pats):
                return name
    for name, pats in _SPECIFIC:
        if any(p.search(f) for f in frames for p in pats):
            return name
    for f in reversed(frames):
        for name, pats in _GENERAL:
            if any(p.search(f) for p in pats):
                return name
    return OTHER


def _function(frame: str) -> str:
    """'func (/long/path/site-packages/pkg/mod.py:12)' → 'func (pkg/mod.py)'."""
    m = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not m:
        return frame
    func, path = m.groups()
    short = re.search(r"site-packages/(.*)", path) or re.search(r"/lib/python3\.\d+/(.*)", path)
    if short:
        path = short.group(1)
    else:
        for top in ("app_pages/", "sketchlab/", "app.py"):
            if top in path:
                path = path[path.index(top):]
                break
    return f"{func} ({path})"


def breakdown(samples: list[tuple[list[str], int]], rate: int, strokes: int,
              cpu_s: float | None = None, top: int = 15) -> dict:
    """Samples grouped by kind of work, and the top functions by self and cumulative samples.

    py-spy samples every thread that is not idle, runnable or running, so on a loaded
    machine a sample is wall time, not CPU. Each row therefore gives its share of the
    busy samples (waits left out) and that share of `cpu_s`, the server's measured CPU
    seconds over the profiled window, per stroke."""
    groups: Counter = Counter()
    self_: Counter = Counter()
    cumulative: Counter = Counter()
    for frames, count in samples:
        code = [f for f in frames if not f.startswith(("thread (", "process "))]
        kind = category(code)
        groups[kind] += count
        if kind == WAITS:
            continue
        if code:
            self_[_function(code[-1])] += count
        for fn in {_function(f) for f in code}:
            if not BOILERPLATE.search(fn):
                cumulative[fn] += count
    total = sum(groups.values())
    busy = total - groups[WAITS]
    cpu_per_stroke = cpu_s / strokes if cpu_s is not None and strokes else None

    def row(name, n):
        share = n / busy if busy else 0.0
        return (name, share, cpu_per_stroke * share if cpu_per_stroke is not None else None)

    return {
        "samples": total, "waits": groups[WAITS], "rate": rate, "strokes": strokes,
        "cpu_per_stroke_s": cpu_per_stroke,
        "groups": [row(name, n) for name, n in groups.most_common() if name != WAITS],
        "self": [row(fn, n) for fn, n in self_.most_common(top)],
        "cumulative": [row(fn, n) for fn, n in cumulative.most_common(top)],
    }


def print_breakdown(label: str, b: dict) -> None:
    cpu = "—" if b["cpu_per_stroke_s"] is None else f"{b['cpu_per_stroke_s']:.3f}"
    print(f"\n== where the server's time goes, {label}: {b['samples']} py-spy samples at "
          f"{b['rate']}/s over {b['strokes']} strokes ({b['waits']} of them waits, left out); "
          f"server CPU {cpu} s per stroke in that window")
    print("  share of busy samples, that share of the CPU per stroke, kind of work "
          "(a sample counts once, for the first kind that matches):")
    for title, rows in (("grouped", b["groups"]), ("top functions, self", b["self"]),
                        ("top functions, cumulative", b["cumulative"])):
        print(f"  {title}:")
        for name, share, sec in rows:
            print(f"    {share:6.1%}  {fmt(sec):>7} s  {name}")


# ---------------------------------------------------------------- one simulated user


class User:
    """One browser context (one Streamlit session) on the Draw page."""

    def __init__(self, context, page, url: str, timeout_s: float):
        self.context, self.page, self.url, self.timeout_ms = context, page, url, timeout_s * 1000
        self.main = page.locator(MAIN)
        self.box: dict | None = None

    @classmethod
    async def open(cls, browser, url: str, timeout_s: float) -> "User":
        context = await browser.new_context(viewport=VIEWPORT)
        user = cls(context, await context.new_page(), url, timeout_s)
        await user.load()
        return user

    async def load(self) -> None:
        await self.page.goto(self.url)
        self.box = await shots.canvas_box_async(self.page, timeout_ms=120_000)
        await shots.wait_idle_async(self.page, settle=0.3)

    async def close(self) -> None:
        await self.context.close()

    async def stroke(self, points) -> float:
        """Drag the mouse along `points`; returns the time of the mouse-up."""
        mouse, x0, y0 = self.page.mouse, self.box["x"], self.box["y"]
        await mouse.move(x0 + points[0][0], y0 + points[0][1])
        await mouse.down()
        for x, y in points[1:]:
            await mouse.move(x0 + x, y0 + y)
        await mouse.up()
        return time.monotonic()

    def count_locator(self, n: int):
        return self.main.get_by_text(PROMPT if n == 0 else f"({n} stroke").first

    async def wait_count(self, n: int, since: float, timeout_ms: float | None = None) -> float | None:
        """Seconds from `since` until the page shows `n` strokes; None on a timeout."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        try:
            await self.count_locator(n).wait_for(state="visible", timeout=timeout_ms or self.timeout_ms)
        except PlaywrightTimeout:
            return None
        return time.monotonic() - since

    async def shown_count(self) -> int | None:
        text = await self.main.inner_text()
        found = COUNT_RE.findall(text)
        if found:
            return int(found[-1])
        return 0 if PROMPT.lower() in text.lower() else None

    async def settle(self) -> None:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        try:
            await shots.wait_idle_async(self.page, timeout_ms=self.timeout_ms, settle=0.3)
        except PlaywrightTimeout:
            pass

    async def draw(self, drawing: Drawing, pause: float, final_timeout_s: float) -> dict:
        latencies, errors = [], 0
        confirmed = 0
        for points in drawing.strokes:
            up = await self.stroke(points)
            seconds = await self.wait_count(confirmed + 1, up)
            if seconds is None:
                errors += 1
                confirmed = await self.shown_count() or confirmed
            else:
                latencies.append(seconds)
                confirmed += 1
            await asyncio.sleep(pause)
        if confirmed != len(drawing.strokes):
            # late is not lost: give a busy server time to catch up before counting
            await self.wait_count(len(drawing.strokes), time.monotonic(), timeout_ms=final_timeout_s * 1000)
        await self.settle()
        shown = await self.shown_count()
        return {"word": drawing.word, "drawn": len(drawing.strokes), "shown": shown,
                "latencies": latencies, "errors": errors}

    async def click(self, label: str) -> float:
        await self.page.locator(BUTTON).filter(has_text=label).first.click(timeout=self.timeout_ms)
        return time.monotonic()

    async def undo_and_clear(self) -> dict:
        """Undo the last stroke, then Clear; seconds until the page shows each."""
        out = {"undo": None, "clear": None, "errors": 0}
        shown = await self.shown_count()
        if shown:
            out["undo"] = await self.wait_count(shown - 1, await self.click("Undo"))
            out["errors"] += out["undo"] is None
            await self.settle()
        if (await self.shown_count()) != 0:
            out["clear"] = await self.wait_count(0, await self.click("Clear"))
            out["errors"] += out["clear"] is None
        await self.settle()
        self.box = await shots.canvas_box_async(self.page)  # a new canvas (new key): maybe moved
        return out


# ---------------------------------------------------------------- Draw: servers and phases


@dataclass
class Tree:
    label: str  # "current" or "baseline"
    path: Path

    def env(self, data_dir: Path, home: Path) -> dict:
        return {"SKETCHLAB_DATA": str(data_dir), "SKETCHLAB_HOME": str(home),
                "SKETCHLAB_MODELS": str(self.path / "models"), "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass
class DrawRun:
    pages: int
    first_stroke: dict = field(default_factory=dict)
    drawings: list = field(default_factory=list)
    undo_clear: list = field(default_factory=list)
    setup_errors: list = field(default_factory=list)
    strokes_cpu_s: float = 0.0
    undo_clear_cpu_s: float = 0.0
    browser_cpu_s: float = 0.0
    rss_idle_mb: float = 0.0
    rss_after_mb: float = 0.0
    wall_s: float = 0.0


async def first_stroke(browser, url: str, started: float, healthy: float, points, timeout_s: float) -> dict:
    """A fresh server: open the page at once, draw one stroke as soon as the canvas shows."""
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        user = User(context, page, url, timeout_s)
        await page.goto(url)
        user.box = await shots.canvas_box_async(page, timeout_ms=120_000)
        visible = time.monotonic()
        up = await user.stroke(points)
        done = await user.wait_count(1, up, timeout_ms=120_000)
        end = time.monotonic()
        return {"health_s": healthy - started, "canvas_visible_s": visible - started,
                "since_canvas_s": end - visible if done is not None else None,
                "since_start_s": end - started if done is not None else None,
                "mouse_up_s": done}
    finally:
        await context.close()


async def open_users(browser, url: str, n: int, timeout_s: float) -> list[User]:
    gate = asyncio.Semaphore(5)  # 30 pages loading at once would time each other out

    async def one():
        async with gate:
            return await User.open(browser, url, timeout_s)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def draw_phase(run: DrawRun, browser, url: str, meter: Meter, drawings: list[Drawing],
                     rounds: int, args) -> None:
    users = await open_users(browser, url, run.pages, args.stroke_timeout)
    try:
        run.rss_idle_mb = meter.rss_mb()
        wall0 = time.monotonic()
        for r in range(rounds):
            todo = [drawings[(i * rounds + r) % len(drawings)] for i in range(run.pages)]
            cpu0, browser0 = meter.server(), meter.browser()
            results = await asyncio.gather(*(u.draw(d, args.pause, args.final_timeout)
                                             for u, d in zip(users, todo)),
                                           return_exceptions=True)
            run.strokes_cpu_s += meter.server() - cpu0
            run.browser_cpu_s += meter.browser() - browser0
            cpu0 = meter.server()
            cleared = await asyncio.gather(*(u.undo_and_clear() for u in users), return_exceptions=True)
            run.undo_clear_cpu_s += meter.server() - cpu0
            for user, res, cl, d in zip(users, results, cleared, todo):
                for item, bucket in ((res, run.drawings), (cl, run.undo_clear)):
                    if isinstance(item, BaseException):
                        run.setup_errors.append(f"{type(item).__name__}: {str(item)[:200]}")
                        if bucket is run.drawings:
                            bucket.append({"word": d.word, "drawn": len(d.strokes), "shown": None,
                                           "latencies": [], "errors": 1})
                    else:
                        bucket.append(item)
                if isinstance(res, BaseException) or isinstance(cl, BaseException):
                    await user.load()  # start the next round from a fresh page
            print(f"    round {r + 1}/{rounds}: {sum(len(d['latencies']) for d in run.drawings)} strokes "
                  f"answered so far, {sum(d['errors'] for d in run.drawings)} errors", flush=True)
        run.wall_s = time.monotonic() - wall0
        run.rss_after_mb = meter.rss_mb()
    finally:
        for u in users:
            await u.close()


def first_stroke_points(drawings: list[Drawing]):
    """A stroke that moves (not a dot), so the canvas surely sends it."""
    for d in drawings:
        for s in d.strokes:
            if len(s) >= 4:
                return s
    return [(100, 100), (200, 150), (300, 200), (300, 300)]


async def measure_draw(tree: Tree, pages: int, drawings: list[Drawing], rounds: int, tmp: Path,
                       args) -> DrawRun:
    from playwright.async_api import async_playwright

    run = DrawRun(pages)
    empty = Path(tempfile.mkdtemp(prefix="data-", dir=tmp))
    home = Path(tempfile.mkdtemp(prefix="home-", dir=tmp))
    log = tmp / f"streamlit-{tree.label}-{pages}p.log"
    async with async_playwright() as p:
        browser = await shots.launch_chromium(p)
        try:
            started = time.monotonic()
            with shots.app_server(tree.env(empty, home), log, cwd=tree.path) as (url, proc):
                run.first_stroke = await first_stroke(browser, url, started, time.monotonic(),
                                                      first_stroke_points(drawings), args.stroke_timeout)
                await draw_phase(run, browser, url, Meter(proc.pid), drawings, rounds, args)
        finally:
            await browser.close()
    return run


def draw_figures(run: DrawRun) -> dict[str, float | None]:
    lat = [x for d in run.drawings for x in d["latencies"]]
    drawn = sum(d["drawn"] for d in run.drawings)
    counted = [d for d in run.drawings if d["shown"] is not None]
    n = run.pages
    undo = [u["undo"] for u in run.undo_clear if u["undo"] is not None]
    clear = [u["clear"] for u in run.undo_clear if u["clear"] is not None]
    actions = len(undo) + len(clear)
    return {
        f"{n}p mouse-up → guesses p50 (s)": p50(lat),
        f"{n}p mouse-up → guesses p95 (s)": pctl(lat, 95),
        f"{n}p mouse-up → guesses max (s)": max(lat) if lat else None,
        f"{n}p errors (no guesses in time, failures)":
            sum(d["errors"] for d in run.drawings) + sum(u["errors"] for u in run.undo_clear),
        f"{n}p strokes drawn": drawn,
        f"{n}p strokes lost (drawn − shown)": sum(max(0, d["drawn"] - d["shown"]) for d in counted),
        f"{n}p extra strokes (shown − drawn)": sum(max(0, d["shown"] - d["drawn"]) for d in counted),
        f"{n}p drawings with a wrong count": sum(d["shown"] != d["drawn"] for d in run.drawings),
        f"{n}p server CPU per stroke (s)": run.strokes_cpu_s / drawn if drawn else None,
        f"{n}p browser+driver CPU per stroke (s)": run.browser_cpu_s / drawn if drawn else None,
        f"{n}p server RSS idle, pages open (MB)": run.rss_idle_mb,
        f"{n}p server RSS after (MB)": run.rss_after_mb,
        f"{n}p Undo p50 (s)": p50(undo),
        f"{n}p Clear p50 (s)": p50(clear),
        f"{n}p server CPU per Undo or Clear (s)": run.undo_clear_cpu_s / actions if actions else None,
    }


def first_stroke_figures(runs: list[DrawRun]) -> dict[str, float | None]:
    firsts = [r.first_stroke for r in runs]
    vals = lambda k: [f[k] for f in firsts if f.get(k) is not None]  # noqa: E731
    n = len(firsts)
    return {
        f"first stroke: start → health (s, p50 of {n})": p50(vals("health_s")),
        f"first stroke: start → canvas visible (s, p50 of {n})": p50(vals("canvas_visible_s")),
        f"first stroke: canvas visible → guesses (s, p50 of {n})": p50(vals("since_canvas_s")),
        f"first stroke: server start → guesses (s, p50 of {n})": p50(vals("since_start_s")),
        f"first stroke: mouse-up → guesses (s, p50 of {n})": p50(vals("mouse_up_s")),
        f"first stroke: no guesses in 120 s (of {n})": sum(f.get("mouse_up_s") is None for f in firsts),
    }


async def measure_profile(tree: Tree, drawings: list[Drawing], tmp: Path, args) -> dict:
    """One page draws while py-spy samples the server."""
    from playwright.async_api import async_playwright

    empty = Path(tempfile.mkdtemp(prefix="data-", dir=tmp))
    home = Path(tempfile.mkdtemp(prefix="home-", dir=tmp))
    out = tmp / f"pyspy-{tree.label}.txt"
    async with async_playwright() as p:
        browser = await shots.launch_chromium(p)
        try:
            with shots.app_server(tree.env(empty, home), tmp / f"streamlit-{tree.label}-profile.log",
                                  cwd=tree.path) as (url, proc):
                user = await User.open(browser, url, args.stroke_timeout)
                try:
                    # warm: models loaded and traced, the first run's imports done, before sampling
                    await user.draw(Drawing("warm-up", [first_stroke_points(drawings)]), args.pause,
                                    args.final_timeout)
                    await user.undo_and_clear()
                    spy = subprocess.Popen(
                        [shutil.which("py-spy") or "py-spy", "record", "--pid", str(proc.pid),
                         "--rate", str(args.profile_rate), "--format", "raw", "--full-filenames",
                         "--threads", "--nonblocking", "--subprocesses", "--output", str(out)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    meter = Meter(proc.pid)
                    try:
                        await asyncio.sleep(1.0)  # py-spy attaches
                        cpu0 = meter.server()
                        strokes = 0
                        for d in drawings[:args.profile_drawings]:
                            res = await user.draw(d, args.pause, args.final_timeout)
                            strokes += len(res["latencies"])
                            await user.undo_and_clear()  # sampled too: a small share, said below
                        cpu_s = meter.server() - cpu0
                    finally:
                        spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
                        _, err = spy.communicate(timeout=60)
                finally:
                    await user.close()
        finally:
            await browser.close()
    if not out.exists():
        raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
    return breakdown(parse_collapsed(out.read_text()), args.profile_rate, strokes, cpu_s)


# ---------------------------------------------------------------- Explore and Train

# Records every change of the app's script state with the page's clock, so an action's time
# is measured in the page: from just before it until a run has started and ended.
OBSERVER_JS = """() => {
  if (window.__skRuns) return;
  window.__skRuns = [];
  const app = document.querySelector('[data-testid=stApp]');
  const log = () => window.__skRuns.push([performance.now(), app.getAttribute('data-test-script-state')]);
  new MutationObserver(log)
    .observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""
RUN_DONE_JS = """t0 => {
  let started = false;
  for (const [t, state] of window.__skRuns) {
    if (t < t0) continue;
    if (state !== 'notRunning') started = true;
    else if (started) return (t - t0) / 1000;
  }
  return false;
}"""


async def timed_load(page, url: str, timeout_ms: float) -> float:
    """goto until the page's first script run is over (an element in the main area, then idle)."""
    t0 = time.monotonic()
    await page.goto(url)
    await page.locator(f"{MAIN} [data-testid=stElementContainer]").first.wait_for(timeout=timeout_ms)
    await page.wait_for_selector(shots.IDLE, timeout=timeout_ms)
    return time.monotonic() - t0


async def timed_action(page, action, timeout_ms: float) -> float:
    await page.evaluate(OBSERVER_JS)
    t0 = await page.evaluate("performance.now()")
    await action()
    handle = await page.wait_for_function(RUN_DONE_JS, arg=t0, timeout=timeout_ms)
    return float(await handle.json_value())


async def explore_try(browser, url: str, timeout_ms: float, add_class: str, out: dict) -> None:
    """A new session on Explore: load, toggle replay, add a class, 12 drawings per class;
    each figure lands in `out` as soon as it is measured."""
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        out["explore_load"] = await timed_load(page, f"{url}/explore", timeout_ms)
        await shots.wait_idle_async(page, timeout_ms=timeout_ms, settle=0.5)

        async def toggle():
            await page.get_by_text(re.compile(r"Replay (buttons|the drawing order)")).first.click()
        out["toggle"] = await timed_action(page, toggle, timeout_ms)
        await shots.wait_idle_async(page, timeout_ms=timeout_ms, settle=0.3)

        box = page.locator("[data-testid=stMultiSelect]").filter(has_text="Classes").first
        await box.locator("input").first.click()
        await page.keyboard.type(add_class)

        async def add():
            await page.keyboard.press("Enter")
        out["add_class"] = await timed_action(page, add, timeout_ms)
        await page.keyboard.press("Escape")
        await shots.wait_idle_async(page, timeout_ms=timeout_ms, settle=0.3)

        thumb = page.locator("[data-testid=stSlider]").filter(has_text="Drawings shown per class") \
            .locator("input[type=range]").first
        await thumb.focus()

        async def more():
            await page.keyboard.press("End")
        out["n_show_12"] = await timed_action(page, more, timeout_ms)
    finally:
        await context.close()


async def from_draw_try(browser, url: str, timeout_ms: float) -> float:
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        page = await context.new_page()
        await timed_load(page, url, timeout_ms)
        await shots.wait_idle_async(page, timeout_ms=timeout_ms, settle=0.3)
        link = page.locator("[data-testid=stSidebarNav] a").filter(has_text="Explore").first
        return await timed_action(page, link.click, timeout_ms)
    finally:
        await context.close()


async def train_try(browser, url: str, timeout_ms: float) -> float:
    context = await browser.new_context(viewport=VIEWPORT)
    try:
        return await timed_load(await context.new_page(), f"{url}/train", timeout_ms)
    finally:
        await context.close()


async def measure_other_pages(tree: Tree, data: Path, tmp: Path, args) -> dict[str, float | None]:
    from playwright.async_api import async_playwright

    home = Path(tempfile.mkdtemp(prefix="home-", dir=tmp))
    timeout_ms = 180_000
    explore, from_draw, train, errors = [], [], [], []

    async def attempt(what, coro, into):
        try:
            into.append(await coro)
        except Exception as exc:  # one failed try is reported, the others still count
            errors.append(f"{what}: {type(exc).__name__}: {str(exc)[:200]}")

    async with async_playwright() as p:
        browser = await shots.launch_chromium(p)
        try:
            with shots.app_server(tree.env(data, home), tmp / f"streamlit-{tree.label}-pages.log",
                                  cwd=tree.path) as (url, _proc):
                for _ in range(args.tries):
                    explore.append({})
                    await attempt("explore", explore_try(browser, url, timeout_ms, "banana", explore[-1]), [])
                for _ in range(args.tries):
                    await attempt("explore from draw", from_draw_try(browser, url, timeout_ms), from_draw)
                for _ in range(args.tries):
                    await attempt("train", train_try(browser, url, timeout_ms), train)
        finally:
            await browser.close()
    for e in errors:
        print(f"    {tree.label}: {e}")
    loads = [t["explore_load"] for t in explore if "explore_load" in t]
    n = args.tries
    return {
        "Explore first load, cold server (s)": loads[0] if loads else None,
        f"Explore first load, new session (s, p50 of {n})": p50(loads[1:] or loads),
        f"Explore from Draw via sidebar (s, p50 of {n})": p50(from_draw),
        f"Explore toggle replay (s, p50 of {n})": p50([t["toggle"] for t in explore if "toggle" in t]),
        f"Explore add a class (s, p50 of {n})": p50([t["add_class"] for t in explore if "add_class" in t]),
        f"Explore 12 drawings per class (s, p50 of {n})":
            p50([t["n_show_12"] for t in explore if "n_show_12" in t]),
        f"Train first load, new session (s, p50 of {n})": p50(train),
        "Explore/Train errors": len(errors),
    }


# ---------------------------------------------------------------- baseline tree, output


@contextmanager
def baseline_tree(ref: str):
    tmp = Path(tempfile.mkdtemp(prefix="sketchlab-baseline-"))
    path = tmp / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, int) or float(v).is_integer() and abs(v) >= 10:
        return f"{int(v)}"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def ratio(cur, base) -> str:
    if cur is None or base is None:
        return "—"
    if cur == 0:
        return "—" if base == 0 else "∞"
    return f"{base / cur:.2f}×"


def print_table(figures: dict[str, dict], labels: list[str]) -> None:
    width = max(len(k) for k in figures) + 2
    head = f"{'figure':<{width}}" + "".join(f"{lab:>12}" for lab in labels)
    if len(labels) == 2:
        head += f"{'base/cur':>10}"
    print(head)
    print("-" * len(head))
    for name, row in figures.items():
        line = f"{name:<{width}}" + "".join(f"{fmt(row.get(lab)):>12}" for lab in labels)
        if len(labels) == 2:
            line += f"{ratio(row.get(labels[0]), row.get(labels[1])):>10}"
        print(line)


def rounds_for(pages: int, drawings: int | None) -> int:
    if drawings:
        return drawings
    return 3 if pages <= 1 else 2 if pages <= 10 else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", default="1,10,30", help="simultaneous pages, comma separated")
    ap.add_argument("--drawings", type=int, default=None,
                    help="drawings per page (default 3 for 1 page, 2 up to 10 pages, 1 above)")
    ap.add_argument("--max-strokes", type=int, default=12,
                    help="only drawings with at most this many strokes")
    ap.add_argument("--max-moves", type=int, default=25, help="mouse moves per stroke at most")
    ap.add_argument("--dots-first", action="store_true",
                    help="draw the drawings with a dot (a stroke spanning ≤ 3 px) first: strokes lost")
    ap.add_argument("--click-dots", action="store_true",
                    help="draw each dot as a click (no mouse move), as a person dots an eye")
    ap.add_argument("--pause", type=float, default=0.3, help="seconds a user pauses between strokes")
    ap.add_argument("--stroke-timeout", type=float, default=20.0, help="seconds to wait for guesses")
    ap.add_argument("--final-timeout", type=float, default=60.0,
                    help="seconds a drawing's last count may take before missing strokes count as lost")
    ap.add_argument("--tries", type=int, default=3, help="tries of each Explore/Train figure")
    ap.add_argument("--parts", default="draw,pages", help="draw (Draw page) and/or pages (Explore, Train)")
    ap.add_argument("--baseline", default="d6067cd",
                    help="git ref of the baseline (default: the Draw page before the live rewrite)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--profile", action="store_true", help="py-spy the server while one page draws")
    ap.add_argument("--profile-drawings", type=int, default=3)
    ap.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "quickdraw")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 drawing per page of at most 4 strokes, 1 try each, 1 profiled drawing")
    ap.add_argument("--json", type=Path, help="write every figure and raw sample here")
    args = ap.parse_args(argv)
    if args.quick:
        args.drawings, args.max_strokes, args.tries, args.profile_drawings = 1, 4, 1, 1
    pages = [int(x) for x in args.pages.split(",") if x.strip()]
    parts = set(args.parts.split(","))
    data = args.data.resolve()
    if not Path(shots.CHROMIUM).exists():
        raise SystemExit(f"{shots.CHROMIUM} is missing (apt-get install chromium)")
    if args.profile and not shutil.which("py-spy"):
        raise SystemExit("py-spy is missing: pip install py-spy (see requirements.txt)")

    need = max(p * rounds_for(p, args.drawings) for p in pages) + args.profile_drawings * args.profile
    drawings = load_drawings(data / "simplified_ndjson", need, args.max_strokes, args.max_moves,
                             dots_first=args.dots_first)
    if args.click_dots:
        drawings = [dots_as_clicks(d) for d in drawings]
    load_start = os.getloadavg()
    print(f"draw_latency: {os.cpu_count()} CPUs, load average at start "
          "{:.2f} {:.2f} {:.2f} (a shared machine: other processes slow both trees alike, "
          "not equally at every moment)".format(*load_start))
    print(f"{len(drawings)} real drawings ({sum(len(d.strokes) for d in drawings)} strokes, "
          f"{sum(has_dot(d) for d in drawings)} drawings with a dot, "
          f"≤ {args.max_strokes} strokes each, ≤ {args.max_moves} moves per stroke) from {data}")

    figures: dict[str, dict] = {}
    raw: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "load_start": load_start, "trees": {}}
    profiles: dict[str, dict] = {}

    def put(label: str, values: dict) -> None:
        for name, value in values.items():
            figures.setdefault(name, {})[label] = value

    with tempfile.TemporaryDirectory(prefix="sketchlab-draw-bench-") as tmp_name, \
            (baseline_tree(args.baseline) if not args.no_baseline else _none()) as base_path:
        tmp = Path(tmp_name)
        trees = [Tree("current", REPO)] + ([Tree("baseline", base_path)] if base_path else [])
        if base_path:
            rev = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=REPO,
                                 capture_output=True, text=True).stdout.strip()
            print(f"baseline: {args.baseline} ({rev}) in a temporary worktree; "
                  f"current: {REPO} (its working tree)")
        labels = [t.label for t in trees]
        runs: dict[str, list[DrawRun]] = {t.label: [] for t in trees}
        if "draw" in parts:
            for n in pages:
                for tree in trees:  # the trees take turns, so the machine's load hits both
                    rounds = rounds_for(n, args.drawings)
                    print(f"[{tree.label}] {n} page(s), {rounds} drawing(s) each …", flush=True)
                    run = asyncio.run(measure_draw(tree, n, drawings, rounds, tmp, args))
                    for e in run.setup_errors:
                        print(f"    error: {e}")
                    runs[tree.label].append(run)
                    put(tree.label, draw_figures(run))
            for tree in trees:
                put(tree.label, first_stroke_figures(runs[tree.label]))
                raw["trees"].setdefault(tree.label, {})["draw"] = [asdict(r) for r in runs[tree.label]]
        if "pages" in parts:
            for tree in trees:
                print(f"[{tree.label}] Explore and Train with {data} …", flush=True)
                put(tree.label, asyncio.run(measure_other_pages(tree, data, tmp, args)))
        if args.profile:
            for tree in trees:
                print(f"[{tree.label}] profiling the server while one page draws …", flush=True)
                profiles[tree.label] = asyncio.run(measure_profile(tree, drawings, tmp, args))
                raw["trees"].setdefault(tree.label, {})["profile"] = profiles[tree.label]

    load_end = os.getloadavg()
    print()
    if figures:
        print_table(figures, labels)
    for label, b in profiles.items():
        print_breakdown(label, b)
    if len(profiles) == 2:
        grouped = {}
        for label, b in profiles.items():
            for name, _share, sec in b["groups"]:
                grouped.setdefault(name, {})[label] = sec
        print("\nserver CPU per stroke by kind of work (s):")
        print_table(grouped, labels)
    if profiles:
        print("(the profiled drawings include one Undo and one Clear each; py-spy --nonblocking)")
    print("\nload average at end {:.2f} {:.2f} {:.2f}; at start {:.2f} {:.2f} {:.2f} "
          "(the machine is shared with other work)".format(*load_end, *load_start))
    if args.json:
        raw.update(load_end=load_end, figures=figures)
        args.json.write_text(json.dumps(raw, indent=1, default=str))
        print(f"wrote {args.json}")
    return 0


@contextmanager
def _none():
    yield None


if __name__ == "__main__":
    sys.exit(main())
