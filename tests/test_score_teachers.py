"""experiments/score_teachers.py: a run's own teachers as a stored row that stored_intervals can pair."""

import importlib.util
import json
import os
import sys

_DIR = os.path.join(os.path.dirname(__file__), "..", "experiments")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(_DIR, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


score_teachers = _load("score_teachers")
stored = _load("stored_intervals")


def test_the_table_names_each_teacher_so_stored_intervals_finds_it(tmp_path, monkeypatch, capsys):
    teachers = [{"teacher": "teacher_0", "test_accuracy": 0.70, "test_per": 0.17},
                {"teacher": "teacher_1", "test_accuracy": 0.75, "test_per": 0.13},
                {"teacher": "ensemble", "test_accuracy": 0.76, "test_per": 0.14}]
    seen = []

    def fake_rows(workdir):
        seen.append(workdir)
        return teachers

    sys.path.insert(0, _DIR)
    import mimic_sweep

    monkeypatch.setattr(mimic_sweep, "_teacher_rows", fake_rows)
    out = tmp_path / "t.json"
    score_teachers.main([str(tmp_path / "run"), "--name", "five", "--json", str(out)])
    data = json.loads(out.read_text())
    assert seen == [str(tmp_path / "run")]
    assert data["rows"] == [{"variant": "five", "stage": "teacher", "teachers": teachers}]
    assert stored.pick(f"{out}:five/teacher_1")["per"] == 0.13
    assert stored.pick(f"{out}:five/ensemble")["per"] == 0.14
    assert "teacher_0: test accuracy 70.00%, PER 17.00%" in capsys.readouterr().out
