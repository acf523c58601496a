"""The app in a real browser: `streamlit run app.py`, Debian's Chromium through Playwright,
strokes drawn with the mouse on the canvas, both models' guesses on the page.

Skipped where /usr/bin/chromium is missing, except in CI (`CI` set), where it must run.
A screenshot goes to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import importlib.util
import os
import re
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


def test_drawing_on_the_canvas_shows_both_models_guesses(chromium, tiny_data_dir, tmp_path):
    models = tmp_path / "models"
    make_model_dir(models / "mlp", "mlp", name="browser mlp", val_accuracy=0.61)
    make_model_dir(models / "cnn", "cnn", name="browser cnn", val_accuracy=0.72)
    env = {"SKETCHLAB_DATA": str(tiny_data_dir), "SKETCHLAB_HOME": str(tmp_path / "home"),
           "SKETCHLAB_MODELS": str(models), "TF_CPP_MIN_LOG_LEVEL": "2"}
    ARTIFACTS.mkdir(exist_ok=True)
    with shots.serve_app(env, ARTIFACTS / "streamlit-browser-test.log") as url:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        try:
            # The first visit of a fresh server goes straight to a page: it must still run
            # app.py (navigation, layout), not the page file alone.
            page.goto(f"{url}/explore")
            shots.wait_idle(page)
            # each link reads "<material icon name>\n<title>"
            nav = [t.split()[-1] for t in page.locator("[data-testid=stSidebarNav] a").all_inner_texts()]
            assert nav == ["Draw", "Explore", "Train"], nav
            assert "4 classes, 120 drawings" in page.locator("[data-testid=stSidebar]").inner_text()

            page.goto(url)
            shots.wait_idle(page)
            main = page.locator("[data-testid=stMain]")
            assert "Draw something" in main.inner_text()

            shots.draw_strokes(page, shots.apple_strokes())
            # the first prediction loads TensorFlow in the server: allow for a busy machine
            main.get_by_text("(3 strokes)").wait_for(timeout=WAIT_MS)  # every stroke reached the models
            shots.wait_idle(page)
            text = main.inner_text()
            page.screenshot(path=str(ARTIFACTS / "browser-draw.png"))

            assert "browser mlp" in text and "browser cnn" in text
            assert "val accuracy 0.61" in text and "val accuracy 0.72" in text
            assert re.search(r"The models (agree|disagree)", text)
            # two bar charts with percentages, and the 28x28 image: three plotly charts
            assert page.locator("[data-testid=stPlotlyChart]").count() == 3
            assert len(re.findall(r"\d+%", text)) >= 6
            assert "Traceback" not in page.content()

            # the app's buttons, not the canvas toolbar's own undo
            page.locator("[data-testid^=stBaseButton]").filter(has_text="Undo").click()
            main.get_by_text("(2 strokes)").wait_for(timeout=WAIT_MS)
            page.locator("[data-testid^=stBaseButton]").filter(has_text="Clear").click()
            main.get_by_text("Draw something").wait_for(timeout=WAIT_MS)
            shots.wait_idle(page)
            assert page.locator("[data-testid=stPlotlyChart]").count() == 0
        finally:
            page.close()
