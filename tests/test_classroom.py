"""Classroom mode in the library: the teacher's powers refused to a student, sweeps' owners
and their caps, the shared limits, the fair queue (a real worker, two owners) and file names
that never leave SKETCHLAB_HOME. The pages' side is in test_train_page.py and the browser test.
"""

# ruff: noqa: F811  (app_env and tiny_models come from test_app: test arguments reuse the fixtures' names)
from __future__ import annotations

import datetime as dt
import json
import os

import optuna
import pytest

from sketchlab import registry
from sketchlab.access import LOCAL, Access, NotAllowedError, clean_display_name, owner_label, password_matches
from sketchlab.errors import SketchLabError
from sketchlab.fileio import path_inside, safe_name
from sketchlab.sweeps import (
    SweepLimits,
    SweepSpec,
    SweepStore,
    SweepValidationError,
    fair_order,
    load_limits,
    runs_ahead,
    save_limits,
    validate_sweep,
)
from sketchlab.sweeps.queue import QueuedSweep
from sketchlab.sweeps.worker import run_worker
from test_app import app_env, tiny_models  # noqa: F401  (fixtures)

TINY_CLASSES = ("apple", "anvil", "airplane", "banana")
ANNA = Access(owner="a" * 22, name="Anna", teacher=False, classroom=True)
BEN = Access(owner="b" * 22, name="", teacher=False, classroom=True)
TEACHER = Access(owner="t" * 22, name="Ms T", teacher=True, classroom=True)


@pytest.fixture
def settings(sketchlab_env, monkeypatch):
    monkeypatch.delenv("SKETCHLAB_STORAGE", raising=False)
    return sketchlab_env


def tiny_spec(n_runs: int = 1, **kw) -> SweepSpec:
    kw.setdefault("classes", TINY_CLASSES)
    kw.setdefault("base", {"optimizer": "Adam", "learning_rate": 0.01, "batch_size": 8, "epochs": 1})
    kw.setdefault("augment", False)
    if n_runs > 1:
        kw.setdefault("mode", "grid")
        kw.setdefault("values", {"learning_rate": [0.01 * (i + 1) for i in range(n_runs)]})
    return SweepSpec(model="mlp", **kw)


# ---------------------------------------------------------------- roles


def test_the_password_is_compared_and_no_password_means_everyone_is_the_teacher():
    assert password_matches("s3cret", "s3cret")
    assert not password_matches("s3cret", "s3cre") and not password_matches("s3cret", "")
    assert not password_matches("", "") and not password_matches(None, "anything")
    assert password_matches("päss wörd", "päss wörd")  # any text, compared as UTF-8
    assert Access.for_session(None, unlocked=False).teacher  # no classroom: every control
    student = Access.for_session("s3cret", unlocked=False, owner="x" * 22)
    assert (student.teacher, student.classroom, student.role) == (False, True, "student")
    assert Access.for_session("s3cret", unlocked=True).role == "teacher"
    assert LOCAL.teacher  # the command line


def test_a_student_is_refused_every_teacher_power_in_the_library(settings, tmp_path):
    from sketchlab.data import download

    calls = [
        lambda: registry.promote(tmp_path / "any-run", settings, access=ANNA),
        lambda: registry.unpromote("mlp", settings, access=ANNA),
        lambda: download.download_class("apple", tmp_path / "data", max_drawings=5,
                                        base_url="http://127.0.0.1:9/never", access=ANNA),
        lambda: download.download_classes(["apple"], tmp_path / "data", access=ANNA),
        lambda: save_limits(settings.home_dir, {"max_open_runs": 1000}, ANNA),
        lambda: SweepStore.of(settings).clear([], ANNA),
    ]
    for call in calls:
        with pytest.raises(NotAllowedError, match="only the teacher can .*teacher password"):
            call()
    assert issubclass(NotAllowedError, SketchLabError)  # shown in words by the pages and the CLI
    assert not (tmp_path / "data").exists() and not (settings.home_dir / "limits.json").exists()


def test_a_student_cancels_only_their_own_sweeps_and_the_teacher_any(settings):
    store = SweepStore.of(settings)
    annas = SweepStore.of(settings).create(tiny_spec(3), data_dir=settings.data_dir, access=ANNA)
    bens = SweepStore.of(settings).create(tiny_spec(2), data_dir=settings.data_dir, access=BEN)
    with pytest.raises(NotAllowedError, match="someone else started"):
        store.cancel(annas, BEN)
    with pytest.raises(NotAllowedError):
        store.cancel_run(annas, 1, BEN)
    with pytest.raises(NotAllowedError):
        store.retry(annas, access=BEN)
    assert {r.state for r in store.runs(annas)} == {"queued"}  # nothing changed
    store.cancel_run(annas, 1, ANNA)
    assert [r.state for r in store.runs(annas)] == ["queued", "cancelled", "queued"]
    assert store.cancel(bens, TEACHER) == 2
    summary = store.get(annas)
    assert (summary.owner, summary.owner_name, summary.owner_label) == (ANNA.owner, "Anna", "Anna")
    assert store.get(bens).owner_label.startswith("anonymous ") and BEN.owner not in store.get(bens).owner_label


def test_names_typed_by_a_student_are_cleaned_for_showing():
    assert clean_display_name("  Anna\x00\n  <b>K</b>\u202e  ") == "Anna <b>K</b>"
    assert len(clean_display_name("x" * 500)) == 40
    assert owner_label("", "") == "command line"
    assert owner_label("q" * 22, "") == owner_label("q" * 22, "")  # stable, and not the id
    assert "q" * 4 not in owner_label("q" * 22, "")


# ---------------------------------------------------------------- limits


def test_one_owner_may_have_only_so_many_runs_queued_or_running(settings):
    store = SweepStore.of(settings)
    limits = SweepLimits(max_open_runs=5)
    store.create(tiny_spec(3), limits, access=ANNA)
    with pytest.raises(SweepValidationError) as info:
        store.create(tiny_spec(3), limits, access=ANNA)
    assert "you have 3 runs queued or running, and this sweep adds 3: at most 5 per person" in info.value.errors["runs"]
    store.create(tiny_spec(2), limits, access=ANNA)  # up to the cap
    store.create(tiny_spec(3), limits, access=BEN)  # another owner has their own
    assert store.open_runs(ANNA.owner) == 5
    store.cancel(store.list()[-1].name, ANNA)  # cancelled runs no longer count
    assert store.open_runs(ANNA.owner) == 2
    store.create(tiny_spec(3), limits, access=ANNA)
    store.create(tiny_spec(4), limits)  # the command line has no owner and no cap
    store.create(tiny_spec(4), limits)


def test_one_run_may_cost_only_so_many_epochs_times_drawings():
    limits = SweepLimits(max_run_cost=4 * 100 * 5)  # 4 classes x 100 per class x 5 epochs
    ok = tiny_spec(base={"epochs": 5, "per_class": 100})
    assert validate_sweep(ok, limits) == {}
    too_much = tiny_spec(mode="one_at_a_time", base={"epochs": 5, "per_class": 100}, values={"epochs": [5, 6]})
    msg = validate_sweep(too_much, limits)["runs"]
    assert "6 epochs × 100 drawings per class × 4 classes costs 2,400" in msg and "limit of 2,000" in msg
    all_drawings = validate_sweep(tiny_spec(base={"epochs": 1, "per_class": None}), limits)["runs"]
    assert "all (up to 10,000)" in all_drawings  # "all" counts as the per-class cap
    tpe = tiny_spec(mode="tpe", n_trials=3, base={"epochs": 1, "per_class": 100}, values={"epochs": [1, 9]})
    assert "9 epochs" in validate_sweep(tpe, limits)["runs"]  # the costliest values TPE may pick


def test_the_shared_limits_are_saved_by_the_teacher_and_read_back(settings):
    home = settings.home_dir
    assert load_limits(home) == SweepLimits()  # nothing saved: the defaults
    limits = save_limits(home, {"max_open_runs": "12", "max_run_cost": 50_000}, TEACHER)
    assert (limits.max_open_runs, limits.max_run_cost) == (12, 50_000) and load_limits(home) == limits
    for bad, why in [({"max_open_runs": 0}, "between 1"), ({"max_open_runs": "lots"}, "whole number"),
                     ({"max_open_runs": 2.5}, "whole number"), ({"max_epochs": 5}, "not a limit")]:
        with pytest.raises(SweepValidationError, match=why):
            save_limits(home, bad, TEACHER)
    assert load_limits(home) == limits  # a refused change loses nothing
    (home / "limits.json").write_text("{not json")
    assert load_limits(home) == SweepLimits()  # an unreadable file: the defaults, not a crash
    (home / "limits.json").write_text('{"max_open_runs": -3, "max_run_cost": 7}')
    assert (load_limits(home).max_open_runs, load_limits(home).max_run_cost) == (64, 7)


# ---------------------------------------------------------------- the fair queue


def _sweep(name, owner, created, queued, last_start=None):
    return QueuedSweep(name, owner, created, queued, 0, last_start)


def test_fair_order_takes_owners_in_turn_not_first_come():
    order = fair_order([_sweep("a-grid", "A", "2026-01-01T10:00", 6), _sweep("b-1", "B", "2026-01-01T10:01", 2),
                        _sweep("c-1", "C", "2026-01-01T10:02", 1)])
    assert [owner for _, owner in order] == ["A", "B", "C", "A", "B", "A", "A", "A", "A"]
    assert runs_ahead(order, owner="C") == 2 and runs_ahead(order, sweep="b-1") == 1
    assert runs_ahead(order, owner="nobody") is None
    # whoever started a run most recently waits for the others; one owner's sweeps go oldest first
    now = dt.datetime(2026, 1, 1, 11)
    order = fair_order([_sweep("a-old", "A", "1", 1, now), _sweep("a-new", "A", "3", 1),
                        _sweep("b", "B", "2", 2, now - dt.timedelta(minutes=5))])
    assert order == [("b", "B"), ("a-old", "A"), ("b", "B"), ("a-new", "A")]


@pytest.mark.slow
def test_a_worker_interleaves_two_owners_runs(settings):
    """The first owner queues 5 runs, then the second 2: the second's first run starts
    before the first's third, and the page's queue position says so beforehand."""
    store = SweepStore.of(settings)
    many = SweepStore.of(settings).create(tiny_spec(5), data_dir=settings.data_dir, access=ANNA)
    few = SweepStore.of(settings).create(tiny_spec(2), data_dir=settings.data_dir, access=BEN)
    order = store.queue()
    assert [sweep for sweep, _ in order] == [many, few, many, few, many, many, many]
    assert runs_ahead(order, owner=BEN.owner) == 1
    started: list[tuple[str, int]] = []
    assert run_worker(settings, on_run_end=lambda sweep, record: started.append((sweep, record.number))) == 7
    starts = sorted((r.started, sweep, r.number) for sweep in (many, few) for r in store.runs(sweep))
    assert [(sweep, n) for _, sweep, n in starts] == [(many, 0), (few, 0), (many, 1), (few, 1),
                                                       (many, 2), (many, 3), (many, 4)]
    assert {r.state for sweep in (many, few) for r in store.runs(sweep)} == {"done"}
    assert store.queue() == []


def test_stale_sweeps_are_found_and_cleared_by_the_teacher(settings):
    store = SweepStore.of(settings)
    old = SweepStore.of(settings).create(tiny_spec(2), data_dir=settings.data_dir, access=ANNA)
    later = dt.datetime.now() + dt.timedelta(hours=3)
    assert [s.name for s in store.stale(2 * 3600, now=later)] == [old]
    assert store.stale(2 * 3600) == []  # just queued: not stale
    assert store.clear([old], TEACHER) == 2
    assert store.get(old).state == "cancelled" and store.stale(2 * 3600, now=later) == []


# ---------------------------------------------------------------- file names

NASTY = ["../escape", "../../../../etc/passwd", "/etc/passwd", "/tmp/x", "a/../../b", "..", ".", ".hidden",
         "it's \"quoted\"", "nul\x00byte", "x" * 5000, "", "C:\\Windows\\system32", "name with spaces",
         "ünïcode", "~root", "a\nb"]


@pytest.mark.parametrize("text", NASTY)
def test_any_text_becomes_one_safe_file_name_inside_its_folder(text, tmp_path):
    name = safe_name(text)
    assert name and len(name) <= 80 and "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and name not in (".", "..")
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    path = path_inside(tmp_path, text, "7")
    assert path.parent.parent == tmp_path and os.path.abspath(path).startswith(str(tmp_path) + os.sep)
    assert safe_name(text + "!") != name  # different names, different files


def test_safe_names_are_kept_as_they_are():
    assert safe_name("mlp-grid-20260101-101010") == "mlp-grid-20260101-101010"
    assert safe_name("run.7_b") == "run.7_b"


@pytest.mark.parametrize("text", NASTY)
def test_a_typed_sweep_name_that_is_not_a_safe_name_is_refused_in_words(text, settings):
    if safe_name(text) == text:
        pytest.skip("a safe name")
    errors = validate_sweep(tiny_spec(name=text))
    assert "letters, digits" in errors["name"]
    with pytest.raises(SweepValidationError):
        SweepStore.of(settings).create(tiny_spec(name=text))
    assert SweepStore.of(settings).names() == []


@pytest.mark.slow
def test_a_sweep_stored_under_a_hostile_name_trains_into_the_home_folder(settings):
    """A study put straight into a shared storage by another tool, named '../../x': its run's
    model still lands inside runs_dir."""
    store = SweepStore.of(settings)
    good = store.create(tiny_spec())
    source = store.study(good)
    hostile = "../../outside\x00'\"" + "y" * 300
    study = optuna.create_study(storage=store.storage, study_name=hostile, direction="maximize")
    for key, value in source.user_attrs.items():
        study.set_user_attr(key, value)
    trial = source.trials[0]
    study.enqueue_trial(trial.params or trial.user_attrs["params"], user_attrs=dict(trial.user_attrs))
    store.cancel(good)
    run_worker(settings, study=hostile)
    (run,) = store.runs(hostile)
    assert run.state == "done", run.error
    model_dir = os.path.abspath(run.model_dir)
    assert model_dir.startswith(os.path.abspath(settings.runs_dir) + os.sep)
    assert not (settings.home_dir.parent / "outside").exists()


def test_a_promoted_model_kind_must_be_a_safe_folder_name(settings, tmp_path):
    from test_registry import make_model_dir

    run = make_model_dir(tmp_path / "run", "mlp", name="run")
    card = json.loads((run / "card.json").read_text())
    for kind in ("../mlp", "/tmp/evil", "a\x00b", "..", "x" * 200, "it's"):
        (run / "card.json").write_text(json.dumps({**card, "kind": kind}))
        with pytest.raises(registry.PromoteError, match="kind"):
            registry.promote(run, settings, check_loads=False)
    assert not settings.promoted_dir.exists() or list(settings.promoted_dir.iterdir()) == []
    assert registry.unpromote("../../etc", settings) is False


# ---------------------------------------------------------------- the pages (AppTest)

PASSWORD = "correct horse"


@pytest.fixture
def classroom(app_env, monkeypatch):
    """The app with a teacher password; another owner's finished sweep (one done run, promotable),
    their queued sweep, and a model promoted earlier. Returns (settings, finished, queued)."""
    monkeypatch.setenv("SKETCHLAB_TEACHER_PASSWORD", PASSWORD)
    monkeypatch.delenv("SKETCHLAB_STORAGE", raising=False)
    from conftest import SYNTHETIC_CLASSES

    store = SweepStore.of(app_env)
    finished = store.create(tiny_spec(classes=SYNTHETIC_CLASSES, name="bens-finished"), access=BEN)
    assert run_worker(app_env, study=finished) == 1
    (run,) = store.runs(finished)
    registry.promote(run.model_dir, app_env, check_loads=False)  # something to go back from
    queued = store.create(tiny_spec(2, classes=SYNTHETIC_CLASSES, name="bens-queued"), access=BEN)
    return app_env, finished, queued


def _train_page(sweep: str, owner: str | None = None):
    from test_app import APP, TIMEOUT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("app_pages/train.py")
    at.query_params["sweep"] = sweep
    if owner:
        at.query_params["owner"] = owner
    return at.run()


def _enabled(at, key: str) -> bool:
    return any(b.key == key and not b.disabled for b in at.button)


def test_a_student_session_has_no_enabled_teacher_control_and_its_direct_call_is_refused(classroom):
    from test_app import assert_clean, texts

    settings, finished, queued = classroom
    at = _train_page(queued)
    assert_clean(at)
    assert at.text_input(key="teacher_password_field").label == "Teacher password"
    assert at.query_params["owner"]  # an anonymous owner id, in the URL
    assert not _enabled(at, "train_cancel_sweep")
    assert not any(b.key == "train_cancel_run" for b in at.button)
    assert not _enabled(at, "download_button") and not _enabled(at, "train_unpromote_mlp")
    assert not any(b.key and b.key.startswith("teacher_save") for b in at.button)  # no limits panel
    assert "only they or the teacher can cancel it" in texts(at.caption)
    assert "· by anonymous " in texts(at.markdown)  # the owner, never their id
    assert BEN.owner not in texts(at.markdown)
    assert "Queue: this sweep's next run starts as soon as a worker is free (2 queued in all)." in texts(at.caption)

    at.selectbox(key="train_sweep").set_value(finished).run()
    at.button(key="train_compare").click().run()
    assert_clean(at)
    assert not _enabled(at, "train_promote")
    assert "Only the teacher can promote" in texts(at.caption)

    # the same session asking the library directly, as if a button had been shown by mistake
    student = Access.for_session(PASSWORD, unlocked=False, owner=at.session_state["classroom_owner"])
    (run,) = SweepStore.of(settings).runs(finished)
    with pytest.raises(NotAllowedError):
        registry.promote(run.model_dir, settings, access=student)
    with pytest.raises(NotAllowedError):
        SweepStore.of(settings).cancel(queued, student)
    assert {r.state for r in SweepStore.of(settings).runs(queued)} == {"queued"}


def test_the_teacher_types_the_password_and_uses_the_controls(classroom):
    from test_app import assert_clean, texts

    settings, finished, queued = classroom
    at = _train_page(queued)
    at.text_input(key="teacher_password_field").input("wrong").run()
    assert "That is not the teacher password." in texts(at.error)
    assert not _enabled(at, "train_cancel_sweep")
    at.text_input(key="teacher_password_field").input(PASSWORD).run()
    assert_clean(at)
    assert not any(w.key == "teacher_password_field" for w in at.text_input)
    assert all(PASSWORD not in str(at.session_state[k]) for k in at.session_state)  # the password is not kept
    assert "Teacher controls unlocked" in texts(at.success)
    assert _enabled(at, "download_button") and _enabled(at, "train_unpromote_mlp")

    at.number_input(key="teacher_max_open_runs").set_value(7)
    at.button(key="teacher_save_limits").click().run()
    assert load_limits(settings.home_dir).max_open_runs == 7
    assert at.multiselect(key="teacher_clear_which").value == []  # nothing idle for an hour

    assert _enabled(at, "train_cancel_sweep")
    at.button(key="train_cancel_sweep").click().run()
    assert_clean(at)
    assert SweepStore.of(settings).get(queued).state == "cancelled"

    at.selectbox(key="train_sweep").set_value(finished).run()
    at.button(key="train_compare").click().run()
    at.button(key="train_promote").click().run()
    assert_clean(at)
    assert "Promoted" in texts(at.success)
    active = registry.active_models(settings)["mlp"]
    assert active.source == "promoted" and active.card["promoted"]["from"].endswith(f"{finished}/0")

    at.button(key="teacher_lock").click().run()
    assert not _enabled(at, "download_button")


def test_the_password_may_come_from_streamlit_secrets(classroom, monkeypatch):
    from test_app import texts

    monkeypatch.delenv("SKETCHLAB_TEACHER_PASSWORD")
    _settings, _finished, queued = classroom
    from test_app import APP, TIMEOUT
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.secrets["teacher_password"] = "from secrets"
    at.switch_page("app_pages/train.py")
    at.query_params["sweep"] = queued
    at.run()
    assert not _enabled(at, "train_cancel_sweep")
    at.text_input(key="teacher_password_field").input("from secrets").run()
    assert "Teacher controls unlocked" in texts(at.success) and _enabled(at, "train_cancel_sweep")


def test_a_student_owns_their_sweep_across_a_reload_and_sees_it_first(classroom, monkeypatch):
    from test_app import assert_clean, texts

    from sketchlab import sweeps

    # The queue stays as it is: the page calls sweeps.ensure_workers (no worker may take a run
    # before the queue is read, which on a slow machine one started here would).
    monkeypatch.setattr(sweeps, "ensure_workers", lambda *a, **k: [])
    settings, _finished, queued = classroom
    at = _train_page(queued)
    owner = at.session_state["classroom_owner"]
    at.text_input(key="train_owner_name").input("Anna K").run()
    at.multiselect(key="train_values_optimizer").set_value([])
    at.text_input(key="train_values_batch").input("")
    at.text_input(key="train_values_lr").input("0.05")
    at.text_input(key="train_base_epochs").input("1")
    at.text_input(key="train_name").input("annas-sweep")
    at.button(key="train_launch").click().run()
    assert_clean(at)
    summary = SweepStore.of(settings).get("annas-sweep")
    assert (summary.owner, summary.owner_name) == (owner, "Anna K")
    # Anna's 2 runs (the base, then 0.05) and Ben's 2: Ben has had a run, Anna not, so hers goes first
    assert "Queue: your next run starts as soon as a worker is free (4 queued in all)." in texts(at.caption)
    assert [sweep for sweep, _ in SweepStore.of(settings).queue()] == ["annas-sweep", queued] * 2

    reload = _train_page("bens-queued", owner=owner)  # a fresh session with the URL's owner id
    assert_clean(reload)
    options = reload.selectbox(key="train_sweep").options
    assert options[0].startswith("annas-sweep") and options[0].endswith("· you")
    assert any(o.startswith("bens-queued") and "anonymous" in o for o in options)
    assert _enabled(reload, "train_cancel_sweep") is False  # Ben's sweep is still not hers
    reload.selectbox(key="train_sweep").set_value("annas-sweep").run()
    assert "by you" in texts(reload.markdown) and _enabled(reload, "train_cancel_sweep")
    reload.button(key="train_cancel_sweep").click().run()
    assert SweepStore.of(settings).get("annas-sweep").state == "cancelled"


def test_without_a_password_there_is_no_classroom(app_env):
    from test_app import new_app

    at = new_app("app_pages/train.py")
    assert not any(w.key == "teacher_password_field" for w in at.text_input)
    assert _enabled(at, "download_button")
