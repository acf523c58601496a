"""The app in a real browser: `streamlit run app.py`, Debian's Chromium through Playwright,
strokes drawn with the mouse and with touch on the canvas, both models' guesses on the page.

Skipped where /usr/bin/chromium is missing, except in CI (`CI` set), where it must run.
Screenshots go to test-artifacts/ (git-ignored). No test here times anything: how fast the
page answers is `benchmarks/draw_latency.py`'s job.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from pathlib import Path

import pytest

from test_registry import make_model_dir

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
WAIT_MS = 120_000

_spec = importlib.util.spec_from_file_location("screenshots", REPO / "scripts" / "screenshots.py")
shots = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shots)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The canvas component renders in an open shadow root; read it the way a person sees it.
TOOLBAR_SHOWN = """() => [...document.querySelectorAll('*')].filter(e => e.shadowRoot)
    .map(e => e.shadowRoot.querySelector('.dc-toolbar')).filter(Boolean)
    .some(t => getComputedStyle(t).display !== 'none')"""


@pytest.fixture(scope="module")
def chromium():
    if not Path(shots.CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{shots.CHROMIUM} is missing in CI: .ci/run installs Debian's chromium")
        pytest.skip(f"{shots.CHROMIUM} not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = shots.launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def draw_app(tmp_path_factory):
    """One app server for the Draw tests: small untrained models, a tiny data folder."""
    from conftest import make_data_dir

    root = tmp_path_factory.mktemp("browser")
    models = root / "models"
    make_model_dir(models / "mlp", "mlp", name="browser mlp", val_accuracy=0.61)
    make_model_dir(models / "cnn", "cnn", name="browser cnn", val_accuracy=0.72)
    data = make_data_dir(root / "quickdraw")
    env = {"SKETCHLAB_DATA": str(data), "SKETCHLAB_HOME": str(root / "home"),
           "SKETCHLAB_MODELS": str(models), "TF_CPP_MIN_LOG_LEVEL": "2"}
    ARTIFACTS.mkdir(exist_ok=True)
    with shots.serve_app(env, ARTIFACTS / "streamlit-browser-test.log") as url:
        yield url


def strokes_shown(page, n: int) -> None:
    """Wait until the guesses say they saw `n` strokes."""
    word = "stroke" if n == 1 else "strokes"
    page.locator("[data-testid=stMain]").get_by_text(f"({n} {word})").wait_for(timeout=WAIT_MS)


def test_drawing_on_the_canvas_shows_both_models_guesses(chromium, draw_app):
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        # The first visit of a fresh server goes straight to a page: it must still run
        # app.py (navigation, layout), not the page file alone.
        page.goto(f"{draw_app}/explore")
        shots.wait_idle(page)
        # each link reads "<material icon name>\n<title>"
        nav = [t.split()[-1] for t in page.locator("[data-testid=stSidebarNav] a").all_inner_texts()]
        assert nav == ["Draw", "Explore", "Train"], nav
        assert "4 classes, 120 drawings" in page.locator("[data-testid=stSidebar]").inner_text()

        page.goto(draw_app)
        shots.wait_idle(page)
        main = page.locator("[data-testid=stMain]")
        assert "Draw something" in main.inner_text()
        shots.canvas_box(page)
        assert not page.evaluate(TOOLBAR_SHOWN), "the canvas component's own toolbar is showing"

        shots.draw_strokes(page, shots.apple_strokes())
        strokes_shown(page, 3)  # every stroke reached the models
        shots.wait_idle(page)
        text = main.inner_text()
        page.screenshot(path=str(ARTIFACTS / "browser-draw.png"))

        assert "browser mlp" in text and "browser cnn" in text
        assert "val accuracy 0.61" in text and "val accuracy 0.72" in text
        assert re.search(r"The models (agree|disagree)", text)
        assert page.locator(".sl-model").count() == 2 and page.locator(".sl-model .sl-row").count() == 6
        assert len(re.findall(r"\d+%", text)) >= 6
        assert page.locator(".sl-seen img").evaluate("img => img.naturalWidth") == 28  # the 28x28 they saw
        assert "Traceback" not in page.content()

        # the app's buttons, not the canvas toolbar's own undo
        page.locator("[data-testid^=stBaseButton]").filter(has_text="Undo").click()
        strokes_shown(page, 2)
        page.locator("[data-testid^=stBaseButton]").filter(has_text="Clear").click()
        main.get_by_text("Draw something").wait_for(timeout=WAIT_MS)
        shots.wait_idle(page)
        assert page.locator(".sl-model").count() == 0
    finally:
        page.close()


def test_no_stroke_is_lost_dots_and_quick_strokes_included(chromium, draw_app):
    """Quick, Draw! drawings use dots (eyes, buttons); people draw the next stroke at once."""
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(draw_app)
        shots.wait_idle(page)
        box = shots.canvas_box(page)
        face = [[(100, 100), (300, 100), (300, 300), (100, 300), (100, 100)],  # head
                [(160, 170)], [(240, 170)],  # two eyes: dots, the mouse never moves
                [(150, 240), (200, 260), (250, 240)],  # mouth
                [(200, 190)]]  # a nose dot
        for stroke in face:  # no pause for the answer between strokes
            page.mouse.move(box["x"] + stroke[0][0], box["y"] + stroke[0][1])
            page.mouse.down()
            for x, y in stroke[1:]:
                page.mouse.move(box["x"] + x, box["y"] + y, steps=3)
            page.mouse.up()
            time.sleep(0.05)
        strokes_shown(page, len(face))
        shots.wait_idle(page)
        time.sleep(1.0)  # anything late would arrive now
        shots.wait_idle(page)
        text = page.locator("[data-testid=stMain]").inner_text()
        assert f"({len(face)} strokes)" in text and f"({len(face) + 1} strokes)" not in text
        page.screenshot(path=str(ARTIFACTS / "browser-dots.png"))
    finally:
        page.close()


def test_touch_drawing_on_a_phone_sized_screen(chromium, draw_app):
    context = chromium.new_context(has_touch=True, is_mobile=True, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(draw_app)
        shots.wait_idle(page)
        box = shots.canvas_box(page)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # the canvas fits the screen
        assert page.evaluate("document.documentElement.scrollWidth") <= 390

        # A finger stroke as the browser reports it (trusted touch events, through CDP), then a tap.
        cdp = context.new_cdp_session(page)
        points = [(box["x"] + box["width"] * f, box["y"] + box["height"] * (0.3 + 0.4 * f)) for f in
                  (0.2, 0.35, 0.5, 0.65, 0.8)]
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
        for x, y in points[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
            time.sleep(0.02)
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        strokes_shown(page, 1)
        time.sleep(0.3)
        page.touchscreen.tap(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15)  # a dot
        strokes_shown(page, 2)
        page.screenshot(path=str(ARTIFACTS / "browser-touch.png"))
    finally:
        context.close()
