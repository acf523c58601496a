"""Kept drawings (sketchlab.userdata) and the add-a-class recipe (sketchlab.newclass) on small fixtures."""

import json
import threading

import numpy as np
import pytest

from sketchlab import newclass as nc
from sketchlab import userdata as u
from sketchlab.access import Access, NotAllowedError
from sketchlab.data.dataset import load_class_drawings, scan_data_dir
from sketchlab.data.formats import read_drawings

ALICE = Access(owner="A" * 22, teacher=False, classroom=True)
BOB = Access(owner="B" * 22, teacher=False, classroom=True)
TEACHER = Access(owner="T" * 22, teacher=True, classroom=True)


def square(offset=0.0):
    return [np.array([[0, 0], [100, 0], [100, 100], [0, 100], [0, 0]], dtype=float) + offset]


def test_save_is_quick_draw_simplified_ndjson(tmp_path):
    saved = u.save_drawing(tmp_path, square(), "Cat", ALICE)
    assert saved.label == "cat"  # official spelling
    path = u.owner_dir(tmp_path, ALICE) / "cat.ndjson"
    record = json.loads(path.read_text().splitlines()[0])
    assert record["word"] == "cat" and record["owner"] == ALICE.owner and record["timestamp"]
    assert max(max(s[0]) for s in record["drawing"]) == 255
    drawings, report = read_drawings(path)
    assert report.n_bad == 0 and len(drawings) == 1
    found = scan_data_dir(u.owner_dir(tmp_path, ALICE))
    assert [d.key_id for d in load_class_drawings(found["cat"])] == [saved.key_id]


@pytest.mark.parametrize("name", ["", "   ", "../etc", ".hidden", "a/b", "x" * 41, "nul\x00", "-dash"])
def test_odd_class_names_are_refused_in_words(tmp_path, name):
    with pytest.raises(u.UserDataError):
        u.save_drawing(tmp_path, square(), name, ALICE)
    assert not any(p.is_file() and p.suffix == ".ndjson" for p in tmp_path.rglob("*"))


def test_a_damaged_drawings_file_loses_only_its_bad_lines(tmp_path):
    # A hand-edited or half-copied file: a deeply nested line, broken JSON, a non-record.
    saved = u.save_drawing(tmp_path, square(), "cat", ALICE)
    path = u.owner_dir(tmp_path, ALICE) / "cat.ndjson"
    with open(path, "a") as fh:
        fh.write("[" * 100_000 + "\n" + "{not json\n" + "[1, 2]\n")
    assert [d.key_id for d in u.list_drawings(tmp_path, ALICE)] == [saved.key_id]
    u.save_drawing(tmp_path, square(5), "cat", ALICE)
    assert len(u.list_drawings(tmp_path, ALICE)) == 2


def test_empty_canvas_is_refused(tmp_path):
    with pytest.raises(u.UserDataError, match="empty"):
        u.save_drawing(tmp_path, [], "cat", ALICE)


def test_relabel_delete_and_who_may(tmp_path):
    a = u.save_drawing(tmp_path, square(), "my dog", ALICE)
    u.save_drawing(tmp_path, square(5), "my dog", BOB)
    assert u.class_counts(tmp_path, ALICE) == {"my dog": 1}
    assert u.class_counts(tmp_path, TEACHER) == {"my dog": 2}  # the teacher sees students' data
    with pytest.raises(NotAllowedError):
        u.delete_drawing(tmp_path, a.key_id, BOB)
    moved = u.relabel_drawing(tmp_path, a.key_id, "My Cat", ALICE)
    assert moved.label == "My Cat" and u.class_counts(tmp_path, ALICE) == {"My Cat": 1}
    u.delete_drawing(tmp_path, a.key_id, ALICE)
    assert u.class_counts(tmp_path, ALICE) == {}
    with pytest.raises(u.UserDataError):
        u.delete_drawing(tmp_path, a.key_id, ALICE)
    u.delete_drawing(tmp_path, u.list_drawings(tmp_path, TEACHER)[0].key_id, TEACHER)
    assert u.class_counts(tmp_path, TEACHER) == {}


def test_concurrent_saves_lose_nothing(tmp_path):
    errors = []

    def work(i):
        try:
            for j in range(20):
                u.save_drawing(tmp_path, square(i + j), "cat", ALICE)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    kept = u.list_drawings(tmp_path, ALICE)
    assert len(kept) == 80 and len({d.key_id for d in kept}) == 80


def shapes(kind, n, rng):
    out = []
    for _ in range(n):
        j = rng.normal(0, 3, 2)
        if kind == "line":
            out.append([np.array([[0, 0], [200, 200]], float) + j])
        elif kind == "cross":
            out.append([np.array([[0, 0], [200, 200]], float) + j, np.array([[200, 0], [0, 200]], float) + j])
        else:
            t = np.linspace(0, 2 * np.pi, 30)
            out.append([np.column_stack([100 + 90 * np.cos(t), 100 + 90 * np.sin(t)]) + j])
    return out


def test_recipe_learns_a_new_class_from_ten_drawings(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    for kind in ("line", "cross"):
        for strokes in shapes(kind, 30, rng):
            u.save_drawing(tmp_path / "fixture", strokes, kind)
    (data / "simplified_ndjson").mkdir(parents=True)
    for f in u.owner_dir(tmp_path / "fixture", u.LOCAL).glob("*.ndjson"):
        (data / "simplified_ndjson" / f.name).write_text(f.read_text())
    for strokes in shapes("circle", 10, rng):
        u.save_drawing(tmp_path, strokes, "ring", ALICE)
    kept = [u.owner_dir(tmp_path, ALICE)]
    with pytest.raises(nc.TeachError, match="too few"):
        nc.check_request([nc.read_class("ring", [], kept, 3) for _ in range(1)] + [nc.ClassDrawings("x")])
    out = tmp_path / "model"
    card = nc.teach(["line", "cross", "ring"], [data], kept, _models(), out)
    from sketchlab.inference import load_network
    from sketchlab.predict import Predictor

    net, loaded = load_network(out)
    assert loaded["classes"] == ["line", "cross", "ring"] == card["classes"]
    guess = Predictor({"taught": (net, loaded)}).predict_strokes(shapes("circle", 1, rng)[0], k=1)
    assert guess.top_k["taught"][0][0] == "ring"


def _models():
    from sketchlab.settings import shipped_models_dir

    return shipped_models_dir()
