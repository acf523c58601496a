"""Teach it: kept drawings and taught models, in the library and on the pages (AppTest).

A new class here is a spiral, which none of the fixture's classes (circle, square, cross,
zigzag) looks like; it is taught on the shipped strong model's features (models/strong),
so these tests skip where the repo has no shipped models. Teach jobs run as real
background processes; the "killed mid-run" test holds both training slots so its job is
waiting when it is killed, whatever the machine's speed.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sketchlab import taught, userdata
from sketchlab.access import Access, NotAllowedError
from test_app import APP, TIMEOUT, assert_clean, canvas_state, circle_path, guess_labels, line_path, texts

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
ALICE = Access(owner="A" * 22, name="Alice", teacher=False, classroom=True)
BOB = Access(owner="B" * 22, name="Bob", teacher=False, classroom=True)
TEACHER = Access(owner="T" * 22, teacher=True, classroom=True)
JOB_WAIT_S = 240


def spiral(seed: int, n: int = 60) -> list[np.ndarray]:
    """A spiral in canvas pixels, a little different each time (a person drawing it again)."""
    rng = np.random.default_rng(seed)
    turns = rng.uniform(2.2, 3.0)
    t = np.linspace(0, turns * 2 * np.pi, n)
    r = np.linspace(8, rng.uniform(120, 170), n)
    cx, cy = rng.uniform(170, 230, 2)
    pts = np.column_stack([cx + r * np.cos(t + rng.uniform(0, 6)), cy + r * np.sin(t)]) + rng.normal(0, 2, (n, 2))
    return [pts]


def spiral_object(seed: int) -> dict:
    (pts,) = spiral(seed)
    return {"type": "path", "path": [["M", *pts[0]]] + [["L", *p] for p in pts[1:]]}


@pytest.fixture
def teach_env(sketchlab_env, monkeypatch):
    """Fixture data, the shipped models (the recipe's base), an empty home."""
    if not (REPO_MODELS / "strong" / "model.keras").is_file():
        pytest.skip("no shipped strong model in models/")
    monkeypatch.setenv("SKETCHLAB_MODELS", str(REPO_MODELS))
    from sketchlab.settings import Settings

    return Settings.from_env()


def keep_spirals(home, who: Access, n: int = 10, label: str = "spiral", first_seed: int = 0) -> None:
    for i in range(n):
        userdata.save_drawing(home, spiral(first_seed + i), label, who)


def wait_for(home, who: Access, model_id: str, states=("done", "failed")) -> taught.TaughtModel:
    deadline = time.time() + JOB_WAIT_S
    while time.time() < deadline:
        t = taught.find_taught(home, model_id, who)
        if t.state in states:
            return t
        time.sleep(0.3)
    raise AssertionError(f"{model_id} still {t.state} after {JOB_WAIT_S} s: {t.message}")


class HeldSlots:
    """Hold every training slot, as MAX_PARALLEL jobs already training would."""

    def __init__(self, home):
        self.folder = taught.taught_dir(home) / ".slots"
        self.handles = []

    def __enter__(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        for i in range(taught.MAX_PARALLEL):
            fh = open(self.folder / f"{i}.lock", "a+")
            fcntl.flock(fh, fcntl.LOCK_EX)
            self.handles.append(fh)
        return self

    def release(self, n: int = None):
        for fh in self.handles[: n or len(self.handles)]:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        self.handles = self.handles[n or len(self.handles):]

    def __exit__(self, *exc):
        self.release()


# ---------------------------------------------------------------- the library


def test_a_new_class_from_ten_drawings_is_learned_in_the_background(teach_env):
    s = teach_env
    keep_spirals(s.home_dir, ALICE)
    with HeldSlots(s.home_dir) as slots:
        t = taught.start_teaching(s, ["spiral", "apple", "anvil", "airplane"], ALICE, name="spirals")
        assert t.active and t.owner == ALICE.owner
        with pytest.raises(taught.TaughtError, match="still training"):  # one job per person at a time
            taught.start_teaching(s, ["spiral", "apple"], ALICE)
        waiting = wait_for(s.home_dir, ALICE, t.id, states=("queued",))
        deadline = time.time() + JOB_WAIT_S
        while "free slot" not in waiting.message and time.time() < deadline:
            time.sleep(0.2)
            waiting = taught.find_taught(s.home_dir, t.id, ALICE)
        assert waiting.state == "queued" and "free slot" in waiting.message  # both slots are busy
        slots.release(1)
        done = wait_for(s.home_dir, ALICE, t.id)
    assert done.state == "done", done.message
    assert done.done and done.classes == ["spiral", "apple", "anvil", "airplane"]

    from sketchlab.inference import load_network
    from sketchlab.predict import Predictor

    network, card = load_network(done.path)
    assert card["classes"] == done.classes and card["data"]["kept_drawings"] == {"spiral": 10}
    predictor = Predictor({"mine": (network, card)})
    new = [predictor.predict_strokes(spiral(1000 + i), k=1).top_k["mine"][0][0] for i in range(6)]
    assert new.count("spiral") >= 5, new  # drawings it never saw
    circle = predictor.predict_strokes([np.array([[200 + 100 * np.cos(a), 200 + 100 * np.sin(a)]
                                                   for a in np.linspace(0, 2 * np.pi, 40)])], k=1)
    assert circle.top_k["mine"][0][0] != "spiral"  # the old classes still mean something

    # Only Alice (and the teacher) see it; only the teacher promotes it, as its own kind.
    assert [m.id for m in taught.list_taught(s.home_dir, BOB)] == []
    assert [m.id for m in taught.list_taught(s.home_dir, TEACHER)] == [done.id]
    with pytest.raises(NotAllowedError):
        taught.find_taught(s.home_dir, done.id, BOB)
    with pytest.raises(NotAllowedError):
        taught.promote_taught(s, done.id, ALICE)
    taught.promote_taught(s, done.id, TEACHER)
    from sketchlab import registry

    active = registry.active_models(s)
    assert active["taught"].classes == done.classes and active["taught"].source == "promoted"
    assert active["mlp"].source == "shipped" and active["cnn"].source == "shipped"  # defaults untouched


def test_a_class_with_too_few_drawings_fails_the_job_in_words(teach_env):
    s = teach_env
    keep_spirals(s.home_dir, ALICE, n=2)
    t = taught.start_teaching(s, ["spiral", "apple"], ALICE)
    done = wait_for(s.home_dir, ALICE, t.id)
    assert done.state == "failed" and "too few drawings" in done.message and "spiral (2)" in done.message
    with pytest.raises(taught.TaughtError, match="at least 2 classes"):
        taught.start_teaching(s, ["spiral"], ALICE)


def test_a_job_killed_mid_run_says_so_and_loses_no_drawing(teach_env):
    s = teach_env
    keep_spirals(s.home_dir, ALICE)
    with HeldSlots(s.home_dir):
        t = taught.start_teaching(s, ["spiral", "apple"], ALICE)
        job = wait_for(s.home_dir, ALICE, t.id, states=("queued",))
        deadline = time.time() + JOB_WAIT_S
        while "free slot" not in job.message and time.time() < deadline:  # its process is up and waiting
            time.sleep(0.2)
            job = taught.find_taught(s.home_dir, t.id, ALICE)
        pid = taught._read_job_file(t.path)["pid"]
        os.killpg(pid, signal.SIGKILL)
        deadline = time.time() + 30
        while taught.find_taught(s.home_dir, t.id, ALICE).active and time.time() < deadline:
            time.sleep(0.2)
    stopped = taught.find_taught(s.home_dir, t.id, ALICE)
    assert stopped.state == "failed" and "stopped before it finished" in stopped.message
    assert len(userdata.list_drawings(s.home_dir, ALICE, "spiral")) == 10
    again = taught.start_teaching(s, ["spiral", "apple"], ALICE)  # not refused as "still training"
    taught.delete_taught(s.home_dir, again.id, ALICE)  # deleting stops it
    assert not again.path.exists()


SAVE_MANY = """
import sys
import numpy as np
from sketchlab import userdata
from sketchlab.access import Access
home, owner, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
who = Access(owner=owner, teacher=False, classroom=True)
for i in range(n):
    userdata.save_drawing(home, [np.array([[0, 0], [100, i], [50, 100]], dtype=float)], "spiral", who)
"""


def test_two_processes_saving_at_once_lose_nothing(tmp_path):
    # Separate processes (not threads): the lock and the single-write append must hold across them.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [subprocess.Popen([sys.executable, "-c", SAVE_MANY, str(tmp_path), ALICE.owner, "40"], env=env)
             for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    kept = userdata.list_drawings(tmp_path, ALICE, "spiral")
    assert len(kept) == 80 and len({d.key_id for d in kept}) == 80
    lines = (userdata.owner_dir(tmp_path, ALICE) / "spiral.ndjson").read_text().splitlines()
    assert len(lines) == 80  # every line whole


# ---------------------------------------------------------------- the pages


def new_app(page: str | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if page:
        at.switch_page(page)
    return at.run()


def draw(at, *objects):
    at.session_state[f"draw_canvas_{at.session_state['draw_generation']}"] = canvas_state(*objects)
    return at.run()


def test_keep_a_drawing_on_the_draw_page_and_correct_a_guess_in_one_click(teach_env):
    s = teach_env
    at = new_app()
    assert_clean(at)
    assert "draw_keep_new" not in [w.key for w in at.text_input]  # nothing to keep yet

    draw(at, circle_path())
    assert_clean(at)
    guessed = guess_labels(at)[0]
    one_click = [b.label for b in at.button if b.key and b.key.startswith("draw_keep_as_")]
    assert one_click and all(label.startswith("It's ") for label in one_click)
    assert one_click[0] == f"It's {guessed[0]}"

    at.button(key="draw_keep_button").click().run()  # no class picked or typed
    assert "type a name for the class" in texts(at.error)
    assert not userdata.list_drawings(s.home_dir)

    draw(at, circle_path())
    at.text_input(key="draw_keep_new").input("  spiral ").run()
    at.button(key="draw_keep_button").click().run()
    assert_clean(at)
    assert "Kept as **spiral**" in texts(at.success) and "kept 1 drawing" in texts(at.success)
    assert "Draw something" in texts(at.info)  # a fresh canvas for the next one

    draw(at, line_path(10, 10, 300, 300))  # the models guess something else: one click corrects it
    at.button(key="draw_keep_as_spiral").click().run()
    assert "kept 2 drawings" in texts(at.success)
    draw(at, line_path(10, 300, 300, 10))
    second = guess_labels(at)[0][1]  # a model's second guess, one click away
    at.button(key=f"draw_keep_as_{second}").click().run()
    kept = userdata.list_drawings(s.home_dir)
    assert [d.label for d in kept] == ["spiral", "spiral", second]
    assert [d.n_strokes for d in kept] == [1, 1, 1]


def test_explore_shows_relabels_and_deletes_kept_drawings(teach_env):
    s = teach_env
    keep_spirals(s.home_dir, userdata.LOCAL, n=3)
    at = new_app("app_pages/explore.py")
    assert_clean(at)
    expander = [e for e in at.expander if "Kept drawings" in e.label]
    assert expander and "3 in 1 class" in expander[0].label
    assert any("sl-drawings" in e.proto.body and e.proto.body.count("<figure") == 3 for e in at.get("html"))

    first = at.selectbox(key="explore_kept_pick").value
    at.text_input(key="explore_kept_label").input("snail").run()
    at.button(key="explore_kept_relabel").click().run()
    assert_clean(at)
    assert "Moved to **snail**" in texts(at.success)
    assert {d.key_id: d.label for d in userdata.list_drawings(s.home_dir)}[first] == "snail"

    at.text_input(key="explore_kept_label").input("../../etc").run()
    at.button(key="explore_kept_relabel").click().run()
    assert "Could not relabel it" in texts(at.error)  # a bad name, in words; nothing moved

    at.selectbox(key="explore_kept_pick").set_value(first).run()
    at.button(key="explore_kept_delete").click().run()
    assert "Deleted." in texts(at.success)
    assert first not in {d.key_id for d in userdata.list_drawings(s.home_dir)}
    assert len(userdata.list_drawings(s.home_dir)) == 2


def test_teach_from_the_train_page_then_try_it_on_the_draw_page(teach_env):
    s = teach_env
    keep_spirals(s.home_dir, userdata.LOCAL)
    at = new_app("app_pages/train.py")
    assert_clean(at)
    picked = at.multiselect(key="teach_classes")
    assert picked.value[0] == "spiral" and {"apple", "anvil", "airplane", "banana"} <= set(picked.value)
    assert "enough" in str(at.table[0].value)

    picked.set_value(["spiral", "apple"]).run()
    at.text_input(key="teach_name").input("spirals").run()
    at.button(key="teach_train").click().run()
    assert_clean(at)
    assert "in the background" in texts(at.success)
    deadline = time.time() + JOB_WAIT_S
    while at.get("progress") and time.time() < deadline:  # the progress bar while it trains
        time.sleep(1)
        at.run()
    assert_clean(at)
    assert not at.get("progress"), "still training"
    assert "done: 2 classes" in texts(at.caption)

    at.button(key="teach_try_0").click().run()
    at.switch_page("app_pages/draw.py").run()  # AppTest does not follow st.switch_page by itself
    assert_clean(at)
    shown = at.multiselect(key="draw_models").value
    assert shown[:2] == ["mlp", "cnn"] and shown[2].startswith("yours:")  # the shared defaults stay
    draw(at, spiral_object(2000))
    labels = guess_labels(at)
    assert len(labels) == 3 and labels[2][0] == "spiral", labels
    from test_app import html_text

    assert "spirals" in html_text(at) and "taught from 10 kept drawings" in html_text(at)


def test_a_student_cannot_promote_a_taught_model(teach_env, monkeypatch):
    monkeypatch.setenv("SKETCHLAB_TEACHER_PASSWORD", "owl")
    s = teach_env
    at = new_app("app_pages/train.py")
    owner = at.session_state["classroom_owner"]
    student = Access(owner=owner, teacher=False, classroom=True)
    keep_spirals(s.home_dir, student)
    t = taught.start_teaching(s, ["spiral", "apple"], student)
    assert wait_for(s.home_dir, student, t.id).state == "done"
    at.run()
    assert at.button(key="teach_promote_0").disabled
    assert not at.button(key="teach_try_0").disabled
