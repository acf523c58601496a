"""Teach it, in a real browser: keep 10 drawings of a new class on the Draw page, teach a model
on the Train page, and the new model recognises a new drawing of that class on the Draw page.

The new class is a spiral (drawn with the mouse, a little differently each time); the other
classes are the fixture's four shapes. The recipe's base is the shipped strong model, so the
test skips where models/ has none. Nothing here is timed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_browser import ARTIFACTS, WAIT_MS, chromium, shots, strokes_shown  # noqa: F401  (fixture)
from test_teach import spiral

pytestmark = [pytest.mark.browser, pytest.mark.slow]
REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
TEACH_WAIT_MS = 300_000


@pytest.fixture(scope="module")
def teach_app(tmp_path_factory):
    from conftest import make_data_dir

    if not (REPO_MODELS / "strong" / "model.keras").is_file():
        pytest.skip("no shipped strong model in models/")
    root = tmp_path_factory.mktemp("browser-teach")
    env = {"SKETCHLAB_DATA": str(make_data_dir(root / "quickdraw")), "SKETCHLAB_HOME": str(root / "home"),
           "SKETCHLAB_MODELS": str(REPO_MODELS), "TF_CPP_MIN_LOG_LEVEL": "2"}
    ARTIFACTS.mkdir(exist_ok=True)
    with shots.serve_app(env, ARTIFACTS / "streamlit-browser-teach.log") as url:
        yield url, root / "home"


def draw_spiral(page, seed: int) -> None:
    (points,) = spiral(seed)
    shots.draw_strokes(page, [[(float(x), float(y)) for x, y in points]], steps=2)
    strokes_shown(page, 1)
    shots.wait_idle(page, settle=0.3)


def button(page, text: str):
    return page.locator("[data-testid^=stBaseButton]").filter(has_text=text)


def test_keep_ten_drawings_teach_and_the_new_model_knows_the_class(chromium, teach_app):
    url, home = teach_app
    page = chromium.new_page(viewport={"width": 1400, "height": 1100})
    main = page.locator("[data-testid=stMain]")
    try:
        page.goto(url)
        shots.wait_idle(page)

        draw_spiral(page, 0)  # the first one: a new class, typed
        page.get_by_label("or a new class").fill("spiral")
        page.get_by_label("or a new class").press("Enter")
        shots.wait_idle(page, settle=0.3)
        button(page, "Keep").filter(has_not_text="It's").click()
        main.get_by_text("kept 1 drawing of it").wait_for(timeout=WAIT_MS)
        main.get_by_text("Draw something").wait_for(timeout=WAIT_MS)  # a fresh canvas
        for i in range(1, 10):  # the others: one click, whatever the models guessed
            draw_spiral(page, i)
            button(page, "It's spiral").click()
            main.get_by_text(f"kept {i + 1} drawings of it").wait_for(timeout=WAIT_MS)
        kept = (home / "drawings").rglob("spiral.ndjson")
        assert sum(len(p.read_text().splitlines()) for p in kept) == 10  # on disk, in the Quick Draw format

        page.locator("[data-testid=stSidebarNav] a").filter(has_text="Train").click()
        shots.wait_idle(page)
        teach = page.locator("[data-testid=stExpander]").filter(has_text="Teach a model new classes")
        assert re.search(r"spiral \(10 kept\)", teach.inner_text())  # picked for you, with its count
        button(teach, "Train").first.click()
        try_it = button(page, "Try it on the Draw page")
        try_it.wait_for(timeout=TEACH_WAIT_MS)
        assert "Training failed" not in teach.inner_text()
        page.screenshot(path=str(ARTIFACTS / "browser-teach-trained.png"))
        try_it.click()

        page.wait_for_url(re.compile(r"/(\?|$)"), timeout=WAIT_MS)
        shots.wait_idle(page)
        draw_spiral(page, 4242)  # a drawing it never saw
        models = page.locator(".sl-model")
        assert models.count() == 3  # the shared MLP and CNN stay, the new model next to them
        first = models.nth(2).locator(".sl-label").first.get_attribute("title")
        page.screenshot(path=str(ARTIFACTS / "browser-teach-draw.png"))
        assert first == "spiral", models.nth(2).inner_text()
        assert "Traceback" not in page.content()
    finally:
        page.close()
