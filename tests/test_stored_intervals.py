"""experiments/stored_intervals.py: what stored accuracies, agreements and PER intervals decide."""

import importlib.util
import json
import os

import numpy as np
import pytest

from mimic_keras.eval import stats

_SPEC = importlib.util.spec_from_file_location(
    "stored_intervals", os.path.join(os.path.dirname(__file__), "..", "experiments", "stored_intervals.py"))
stored = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(stored)


def _models(seed, n=2000):
    """Per-example predictions of a teacher and two students that mostly copy it."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    teacher = np.where(rng.random(n) < 0.8, labels, rng.integers(0, 10, n))
    a = np.where(rng.random(n) < 0.85, teacher, rng.integers(0, 10, n))
    b = np.where(rng.random(n) < 0.75, teacher, rng.integers(0, 10, n))
    return labels, teacher, a, b


def _score(pred, labels, teacher):
    correct = pred == labels
    return {"accuracy": correct.mean(), "ci95": stats.accuracy_ci95(correct), "agreement": (pred == teacher).mean()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_paired_interval_lies_between_the_narrowest_and_the_widest(seed):
    labels, teacher, a, b = _models(seed)
    for same_teacher in (True, False):
        row = stored.accuracy_pair(_score(a, labels, teacher), _score(b, labels, teacher), same_teacher)
        diff, half = stats.paired_difference_ci95(b == labels, a == labels)
        assert row["test_examples"] == len(labels) and row["difference"] == pytest.approx(diff)
        assert row["paired_ci95_narrowest"][0] >= diff - half - 1e-12
        assert diff + half <= row["paired_ci95_widest"][1] + 1e-12
    with_teacher = stored.accuracy_pair(_score(a, labels, teacher), _score(b, labels, teacher), True)
    without = stored.accuracy_pair(_score(a, labels, teacher), _score(b, labels, teacher), False)
    assert with_teacher["discordance_bound_from"] == "agreements with the common teacher"
    assert with_teacher["paired_ci95_widest"][1] < without["paired_ci95_widest"][1]


def test_groups_from_data_write_one_json_each(tmp_path, capsys):
    sweep = {"rows": [
        {"variant": "x", "test_accuracy": 0.70, "test_accuracy_ci95": 1.96 * np.sqrt(0.21 / 10000), "test_agreement": 0.9},
        {"variant": "y", "test_accuracy": 0.75, "test_accuracy_ci95": 1.96 * np.sqrt(0.1875 / 10000), "test_agreement": 0.9},
        {"variant": "p", "test_per": 0.25, "test_per_ci95": [0.23, 0.27]},
        {"variant": "q", "test_per": 0.20, "test_per_ci95": [0.19, 0.21]},
        {"variant": "r", "test_per": 0.30}]}
    (tmp_path / "s.json").write_text(json.dumps(sweep))
    s = str(tmp_path / "s.json")
    groups = {"acc": {"same_teacher": True, "comparisons": [{"label": "y - x", "base": f"{s}:x", "other": f"{s}:y"}]},
              "per": {"comparisons": [{"label": "q - p", "base": f"{s}:p", "other": f"{s}:q"},
                                      {"label": "r - p", "base": f"{s}:p", "other": f"{s}:r"}]},
              "seeds": {"kind": "seeds", "comparisons": [{"label": "s", "base": [f"{s}:x", f"{s}:x"], "other": [f"{s}:y", f"{s}:y"]}]},
              "per_seeds": {"kind": "seeds", "comparisons": [{"label": "t", "base": [f"{s}:p", f"{s}:q"],
                                                              "other": [f"{s}:q", f"{s}:q"]}]}}
    (tmp_path / "c.json").write_text(json.dumps(groups))
    assert stored.main([str(tmp_path / "c.json"), "--out", str(tmp_path)]) == 0
    acc = json.loads((tmp_path / "acc_paired.json").read_text())["comparisons"][0]
    assert acc["test_examples"] == 10000 and acc["discordance_at_most"] == pytest.approx(0.2)
    assert acc["paired_ci95"] is None and "paired_ci.py" in acc["paired_why_not"]
    per = json.loads((tmp_path / "per_paired.json").read_text())["comparisons"]
    assert per[0]["paired_ci95_widest"] == pytest.approx([-0.08, -0.02])  # half-widths 0.02 + 0.01
    assert per[1]["independent_ci95"] is None and "not stored either" in per[1]["paired_why_not"]
    seeds = json.loads((tmp_path / "seeds_paired.json").read_text())["comparisons"][0]
    assert seeds["difference"] == pytest.approx(0.05) and seeds["every_other_beats_every_base"]
    per_seeds = json.loads((tmp_path / "per_seeds_paired.json").read_text())
    assert per_seeds["measure"] == "PER" and per_seeds["comparisons"][0]["other_values"] == [0.20, 0.20]
    assert per_seeds["comparisons"][0]["difference"] == pytest.approx(-0.025)  # PERs 0.20 − mean(0.25, 0.20)
    assert not per_seeds["comparisons"][0]["every_other_beats_every_base"]  # a base seed at 0.20 ties
    assert "acc_paired.json" in capsys.readouterr().out
    groups["acc"]["comparisons"][0]["other"] = f"{s}:missing"
    (tmp_path / "c.json").write_text(json.dumps(groups))
    assert stored.main([str(tmp_path / "c.json"), "--out", str(tmp_path)]) == 2


def test_rows_that_keep_their_outcomes_get_the_exact_paired_interval(tmp_path, capsys):
    from mimic_keras.eval import outcomes

    labels, teacher, a, b = _models(3)
    ids = [f"img{i}" for i in range(len(labels))]
    refs = [list("abcde")] * 8
    speakers = ["s1", "s1", "s2", "s2", "s3", "s3", "s4", "s4"]
    hyp_p = [list("abcde"), list("abxde"), list("abcde"), list("xbcde"), list("abcd"), list("abcde"),
             list("abcde"), list("abcdx")]
    hyp_q = [list("abcde")] * 6 + [list("xxcde"), list("abcdx")]

    def image_row(name, pred):
        return {"variant": name, "test_accuracy": (pred == labels).mean(),
                "test_accuracy_ci95": stats.accuracy_ci95(pred == labels),
                "test_agreement": (pred == teacher).mean(), "test_correct": outcomes.pack_correct(ids, pred == labels)}

    def speech_row(name, hyps):
        return {"variant": name, "test_per": 0.1, "test_per_ci95": [0.0, 0.2],
                "test_speaker_totals": outcomes.speaker_record(speakers, refs, hyps)}

    teachers = [dict(speech_row("", hyp_q), teacher="teacher_0"), dict(speech_row("", hyp_p), teacher="ensemble")]
    sweep = {"rows": [image_row("a", a), image_row("b", b), speech_row("p", hyp_p), speech_row("q", hyp_q),
                      dict(speech_row("t", hyp_p), teachers=teachers)]}  # a teacher sweep's row: its teachers
    (tmp_path / "s.json").write_text(json.dumps(sweep))
    s = str(tmp_path / "s.json")
    grow = {"finetune": {"epochs": 2, "control": image_row("control", a), "grown": image_row("grown", b)}}
    (tmp_path / "g.json").write_text(json.dumps(grow))  # a `mimic_keras.grow` summary's fine-tuned teachers
    g = str(tmp_path / "g.json")
    with pytest.raises(ValueError, match="no row or model 'epochs'"):
        stored.pick(f"{g}:epochs")
    factorized = {"kind": "factorize", "rows": [  # a `mimic_keras.factorize` summary
        dict(image_row("x", a), rank=None, finetune_epochs=0), dict(image_row("x", a), rank=64, finetune_epochs=0),
        dict(image_row("x", b), rank=64, finetune_epochs=1)]}
    (tmp_path / "f.json").write_text(json.dumps(factorized))
    f = str(tmp_path / "f.json")
    with pytest.raises(ValueError, match="no factorised mimic 'rank_128'"):
        stored.pick(f"{f}:rank_128")
    kept = {"kind": "checkpoints", "rows": [  # experiments/score_checkpoints.py's rows
        dict(image_row("x", a), epoch=None, file="model.keras"), dict(image_row("x", b), epoch=3, file="last.keras"),
        dict(image_row("x", b), epoch=2, file="epoch_2.keras")]}
    (tmp_path / "k.json").write_text(json.dumps(kept))
    k = str(tmp_path / "k.json")
    with pytest.raises(ValueError, match=r"no checkpoint 'epoch_3'; it has \['kept', 'last', 'epoch_2'\]"):
        stored.pick(f"{k}:epoch_3")
    groups = {"acc": {"comparisons": [{"label": "b - a", "base": f"{s}:a", "other": f"{s}:b"}]},
              "kept": {"comparisons": [{"label": "last - kept", "base": f"{k}:kept", "other": f"{k}:last"}]},
              "grow": {"comparisons": [{"label": "grown - control", "base": f"{g}:control", "other": f"{g}:grown"}]},
              "factorized": {"comparisons": [{"label": "tuned - cut", "base": f"{f}:rank_64",
                                              "other": f"{f}:rank_64_finetuned"}]},
              "per": {"comparisons": [{"label": "q - p", "base": f"{s}:p", "other": f"{s}:q"},
                                      {"label": "teacher_0 - ensemble", "base": f"{s}:t/ensemble",
                                       "other": f"{s}:t/teacher_0"}]}}
    with pytest.raises(ValueError, match="variant 't' has no teacher 'teacher_1'; it has"):
        stored.pick(f"{s}:t/teacher_1")
    (tmp_path / "c.json").write_text(json.dumps(groups))
    assert stored.main([str(tmp_path / "c.json"), "--out", str(tmp_path)]) == 0
    acc = json.loads((tmp_path / "acc_paired.json").read_text())["comparisons"][0]
    diff, half = stats.paired_difference_ci95(b == labels, a == labels)
    assert acc["paired_ci95"] == pytest.approx([diff - half, diff + half]) and acc["paired_why_not"] is None
    assert acc["paired_ci95_widest"][0] - 1e-12 <= acc["paired_ci95"][0] <= acc["paired_ci95_narrowest"][0] + 1e-12
    grown = json.loads((tmp_path / "grow_paired.json").read_text())["comparisons"][0]
    assert grown["paired_ci95"] == acc["paired_ci95"] and grown["difference"] == acc["difference"]
    last = json.loads((tmp_path / "kept_paired.json").read_text())["comparisons"][0]
    assert last["paired_ci95"] == acc["paired_ci95"] and last["difference"] == acc["difference"]
    tuned = json.loads((tmp_path / "factorized_paired.json").read_text())["comparisons"][0]
    assert tuned["paired_ci95"] == acc["paired_ci95"] and tuned["difference"] == acc["difference"]
    per, teacher = json.loads((tmp_path / "per_paired.json").read_text())["comparisons"]
    _, low, high = stats.per_difference_bootstrap_ci95(refs, hyp_q, hyp_p, speakers)
    assert per["paired_ci95"] == pytest.approx([low, high]) and low < high
    assert teacher["paired_ci95"] == per["paired_ci95"]  # the teachers' outcomes (the row's own, hyp_p on both sides, would give 0)
    assert "; paired " in capsys.readouterr().out
