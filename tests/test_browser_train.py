"""The Train page in a real browser: a finished sweep shows its winner in words, parallel
coordinates and hyperparameter importance (Optuna's plotly figures, drawn by plotly.js).

Skipped where /usr/bin/chromium is missing, except in CI (`CI` set), where it must run.
"""

# ruff: noqa: F811  (chromium and tiny_models come from other test modules)
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SYNTHETIC_CLASSES
from test_app import tiny_models  # noqa: F401  (fixture)
from test_browser import ARTIFACTS, chromium, shots  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_finished_sweep_shows_parallel_coordinates_and_importance(chromium, tiny_data_dir, tiny_models,
                                                                     tmp_path):
    from sketchlab.settings import Settings
    from sketchlab.sweeps import SweepSpec, SweepStore
    from sketchlab.sweeps.worker import run_worker

    home = tmp_path / "home"
    settings = Settings(data_dir=tiny_data_dir, home_dir=home, models_dir=Path(tiny_models))
    store = SweepStore.of(settings)
    name = store.create(SweepSpec(model="mlp", mode="grid", base={"optimizer": "Adam", "epochs": 2},
                                  values={"learning_rate": [1e-5, 0.003, 0.03], "batch_size": [8, 16]},
                                  classes=SYNTHETIC_CLASSES, augment=False, name="browser-sweep"))
    assert run_worker(settings, store.url, study=name) == 6
    env = {"SKETCHLAB_DATA": str(tiny_data_dir), "SKETCHLAB_HOME": str(home),
           "SKETCHLAB_MODELS": str(tiny_models), "TF_CPP_MIN_LOG_LEVEL": "2"}
    ARTIFACTS.mkdir(exist_ok=True)
    with shots.serve_app(env, ARTIFACTS / "streamlit-browser-train.log") as url:
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(f"{url}/train?sweep={name}")
            shots.wait_idle(page)
            page.get_by_text("What the sweep found").wait_for(timeout=60_000)
            text = page.locator("[data-testid=stMain]").inner_text()
            assert "won with" in text and "Hyperparameter importance" in text
            assert "Importance needs at least" not in text
            charts = page.locator("[data-testid=stPlotlyChart]")
            # plotly.js drew them: the parallel axes end in the target, the bars are named.
            charts.filter(has_text="best val accuracy").first.wait_for(timeout=60_000)
            charts.filter(has_text="Hyperparameter Importance").first.wait_for(timeout=60_000)
            page.screenshot(path=str(ARTIFACTS / "browser-train-analysis.png"), full_page=True)
            assert charts.count() >= 4
        finally:
            page.close()
