"""Classroom mode in a real browser: with SKETCHLAB_TEACHER_PASSWORD set, a fresh session on
/train has no enabled button to promote, download or cancel another owner's sweep; after the
password is typed into the field labelled "Teacher password", they are there and work.

Skipped where /usr/bin/chromium is missing, except in CI (`CI` set), where it must run.
"""

# ruff: noqa: F811  (chromium and tiny_models come from other test modules)
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SYNTHETIC_CLASSES
from test_app import tiny_models  # noqa: F401  (fixture)
from test_browser import ARTIFACTS, WAIT_MS, chromium, shots  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "browser teacher"


def _buttons(page, name: str, where: str = "stMain"):
    return page.locator(f"[data-testid={where}] [data-testid^=stBaseButton]").filter(has_text=name)


def _data_download(page):
    """The sidebar's button that fetches QuickDraw-10 (not the runs' CSV export)."""
    return _buttons(page, "Download", where="stSidebar")


def _none_enabled(page, name: str) -> bool:
    buttons = _buttons(page, name)
    return all(buttons.nth(i).is_disabled() for i in range(buttons.count()))


def test_a_student_has_no_teacher_buttons_until_the_password_is_typed(chromium, tiny_data_dir, tiny_models,
                                                                       tmp_path):
    from sketchlab import registry
    from sketchlab.access import Access
    from sketchlab.settings import Settings
    from sketchlab.sweeps import SweepSpec, SweepStore
    from sketchlab.sweeps.worker import run_worker

    home = tmp_path / "home"
    settings = Settings(data_dir=tiny_data_dir, home_dir=home, models_dir=Path(tiny_models))
    store = SweepStore.of(settings)
    other = Access(owner="o" * 22, name="Ben", teacher=False, classroom=True)
    base = {"optimizer": "Adam", "learning_rate": 0.01, "batch_size": 8, "epochs": 1}
    done = store.create(SweepSpec(model="mlp", base=base, classes=SYNTHETIC_CLASSES, augment=False,
                                  name="bens-done"), access=other)
    assert run_worker(settings, store.url, study=done) == 1
    queued = store.create(SweepSpec(model="mlp", mode="grid", base=base, values={"learning_rate": [0.01, 0.1]},
                                    classes=SYNTHETIC_CLASSES, augment=False, name="bens-queued"), access=other)
    env = {"SKETCHLAB_DATA": str(tiny_data_dir), "SKETCHLAB_HOME": str(home), "SKETCHLAB_MODELS": str(tiny_models),
           "TF_CPP_MIN_LOG_LEVEL": "2", "SKETCHLAB_TEACHER_PASSWORD": PASSWORD}
    ARTIFACTS.mkdir(exist_ok=True)
    with shots.serve_app(env, ARTIFACTS / "streamlit-browser-classroom.log") as url:
        page = chromium.new_page(viewport={"width": 1400, "height": 1100})
        try:
            page.goto(f"{url}/train?sweep={queued}")
            shots.wait_idle(page)
            main = page.locator("[data-testid=stMain]")
            main.get_by_text("only they or the teacher can cancel it").wait_for(timeout=WAIT_MS)
            assert "owner=" in page.url  # the anonymous owner id, kept for a reload
            assert _none_enabled(page, "Cancel the whole sweep") and _buttons(page, "Cancel this run").count() == 0
            assert _data_download(page).count() == 1 and _data_download(page).is_disabled()
            assert "Traceback" not in page.content()

            # the finished sweep: both models compared, then promotion stays the teacher's
            page.goto(f"{url}/train?sweep={done}")
            shots.wait_idle(page)
            _buttons(page, "Compare with the model in use").click()
            main.get_by_text("Only the teacher can promote a model").wait_for(timeout=WAIT_MS)
            shots.wait_idle(page)
            assert _buttons(page, "Promote").count() == 1 and _none_enabled(page, "Promote")
            page.screenshot(path=str(ARTIFACTS / "browser-classroom-student.png"), full_page=True)

            field = page.get_by_label("Teacher password", exact=True)
            field.fill(PASSWORD)
            field.press("Enter")
            page.get_by_text("Teacher controls unlocked").wait_for(timeout=WAIT_MS)
            shots.wait_idle(page)
            assert PASSWORD not in page.content()
            assert _data_download(page).is_enabled()
            promote = _buttons(page, "Promote")
            if promote.count() == 0:  # the comparison lives in the session: it is still there
                _buttons(page, "Compare with the model in use").click()
                shots.wait_idle(page)
            _buttons(page, "Promote").first.click()
            main.get_by_text("The Draw page uses it now").wait_for(timeout=WAIT_MS)
            assert registry.active_models(settings)["mlp"].source == "promoted"

            page.goto(page.url.replace(f"sweep={done}", f"sweep={queued}"))
            shots.wait_idle(page)
            # a reload is a new session: the password is asked again
            page.get_by_label("Teacher password", exact=True).fill(PASSWORD)
            page.get_by_label("Teacher password", exact=True).press("Enter")
            page.get_by_text("Teacher controls unlocked").wait_for(timeout=WAIT_MS)
            shots.wait_idle(page)
            cancel = _buttons(page, "Cancel the whole sweep")
            assert cancel.is_enabled()
            cancel.click()
            main.get_by_text("Cancelled: 2 queued or running runs").wait_for(timeout=WAIT_MS)
            assert store.get(queued).state == "cancelled"
            page.screenshot(path=str(ARTIFACTS / "browser-classroom-teacher.png"), full_page=True)
        finally:
            page.close()
