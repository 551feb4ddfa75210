"""experiments/mimic_sweep.py's TIMIT path: rows scored by mimic_keras.eval, PER columns in the table."""

import importlib.util
import json
import os

import keras
import pytest

from mimic_keras import config as config_lib

_SPEC = importlib.util.spec_from_file_location(
    "mimic_sweep", os.path.join(os.path.dirname(__file__), "..", "experiments", "mimic_sweep.py"))
sweep = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sweep)


def test_timit_variant_is_scored_against_its_teacher(timit_perturbed_labelled, tmp_path):
    data, transfer, teacher = timit_perturbed_labelled
    workdir = tmp_path / "run"
    (workdir / "mimic").mkdir(parents=True)
    with open(workdir / "config.json", "w") as f:
        json.dump(config_lib.to_dict(config_lib.get_preset("timit-quick")), f)
    os.symlink(data, workdir / "data")
    os.symlink(transfer, workdir / "transfer")
    keras.saving.load_model(teacher, compile=False).save(workdir / "mimic" / "model.keras")
    row = sweep._evaluate(str(workdir), "mimic")
    assert row["test_agreement"] == 1.0 and row["teacher_test_accuracy"] == row["test_accuracy"]
    assert {"test_per", "dev_per", "test_accuracy_ci95", "val_l2_to_teacher"} <= set(row)
    assert (workdir / "transcripts" / "mimic" / "test.hyp.txt").exists()
    # The transfer set the variant's config selects: training frames + every speed-perturbed copy.
    from mimic_keras.data import timit

    cfg = config_lib.get_preset(str(workdir / "config.json"))
    assert sweep._transfer_examples(cfg, str(workdir)) == timit.num_frames(data, ("train", "unlabelled")) > \
        timit.num_frames(data, "train")


def test_timit_rows_get_per_columns(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    curve = {"seconds": [10.0, 20.0], "loss": [2.0, 1.0], "val_loss": [2.5, 1.5], "val_accuracy": [0.3, 0.4]}
    row = {"variant": "sp_all", "stage": "mimic", "overrides": "data.transfer_perturb=None", "epochs": 2,
           "wall_seconds": 20.0, "curve": curve, "parameters": 1000, "test_accuracy": 0.5, "test_accuracy_ci95": 0.02,
           "teacher_test_accuracy": 0.6, "val_l2_to_teacher": 3.0, "test_agreement": 0.7, "dev_per": 0.25,
           "test_per": 0.275}
    sweep.write_outputs("grow", [row], [], "runs/timit-grow")
    table = (tmp_path / "docs" / "experiments" / "grow.md").read_text()
    assert "PER core test" in table and "| 25.00% | 27.50% |" in table
    full = {**row, "test_per_ci95": [0.2, 0.31], "test_set": "full test"}
    sweep.write_outputs("full", [full], [], "runs/timit-full")
    table = (tmp_path / "docs" / "experiments" / "full.md").read_text()
    assert "PER full test (95% interval)" in table and "| 25.00% | 27.50% (20.0%–31.0%) |" in table
    assert "state frame accuracy on the full test" in table
    cifar = {k: v for k, v in row.items() if k not in ("dev_per", "test_per")}
    sweep.write_outputs("images", [cifar], [], "runs/cifar10-cpu")
    assert "PER" not in (tmp_path / "docs" / "experiments" / "images.md").read_text()


def test_merge_sweeps_copies_the_named_rows(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location(
        "merge_sweeps", os.path.join(os.path.dirname(__file__), "..", "experiments", "merge_sweeps.py"))
    merge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(merge)
    monkeypatch.chdir(tmp_path)
    curve = {"seconds": [10.0, 20.0], "loss": [2.0, 1.0], "val_loss": [2.5, 1.5], "val_accuracy": [0.3, 0.4]}

    def row(variant, stage):
        return {"variant": variant, "stage": stage, "overrides": "", "epochs": 2, "wall_seconds": 20.0,
                "curve": curve, "parameters": 1000, "test_accuracy": 0.5, "test_accuracy_ci95": 0.02,
                "teacher_test_accuracy": 0.6, "val_l2_to_teacher": 3.0, "test_agreement": 0.7}

    for name, rows in (("a", [row("m1", "mimic"), row("m2", "mimic")]), ("b", [row("c1", "control")])):
        with open(tmp_path / f"{name}.json", "w") as f:
            json.dump({"base": f"runs/{name}", "common": [], "rows": rows}, f)
    assert merge.main(["--name", "both", "--row", "a.json:m2", "--row", "b.json:c1=control"]) == 0
    with open(tmp_path / "docs" / "experiments" / "both.json") as f:
        merged = json.load(f)
    assert [(r["variant"], r["stage"]) for r in merged["rows"]] == [("m2", "mimic"), ("control", "control")]
    assert merged["base"] == "runs/a, runs/b"
    assert merge.main(["--name", "x", "--row", "a.json:nope"]) == 2
    assert "no variant 'nope'" in capsys.readouterr().err
    # A row at another checkpoint of its run (score_checkpoints.py's summary): its scores, the run's curve.
    with open(tmp_path / "k.json", "w") as f:
        json.dump({"kind": "checkpoints", "rows": [{"epoch": None, "file": "model.keras", "test_accuracy": 0.5},
                                                   {"epoch": 2, "file": "last.keras", "test_accuracy": 0.55}]}, f)
    assert merge.main(["--name", "last", "--row", "b.json:c1=control", "--scores", "control=k.json:last"]) == 0
    with open(tmp_path / "docs" / "experiments" / "last.json") as f:
        (last,) = json.load(f)["rows"]
    assert (last["test_accuracy"], last["scores_from"], last["curve"]) == (0.55, "k.json:last", curve)
    assert "epoch" not in last and "file" not in last
    assert merge.main(["--name", "x", "--row", "b.json:c1", "--scores", "c1=k.json:epoch_9"]) == 2
    assert "no checkpoint 'epoch_9'; it has ['kept', 'last']" in capsys.readouterr().err
    assert merge.main(["--name", "x", "--row", "b.json:c1", "--scores", "c2=k.json:last"]) == 2
    assert "no merged row 'c2'" in capsys.readouterr().err


def test_sweeps_are_data():
    path = os.path.join(os.path.dirname(__file__), "..", "experiments", "sweeps", "losses.json")
    losses = sweep.load_sweep(path)
    assert losses["variants"]["kd"] == ["distill.loss=kd", "distill.temperature=4"] and losses["stage"] == "mimic"
    with pytest.raises(ValueError, match="variants must be an object"):
        sweep.load_sweep({"name": "x", "base": "b", "variants": ["kd"]})
    with pytest.raises(ValueError, match="lacks base"):
        sweep.load_sweep({"name": "x", "variants": {}})


def test_a_variant_trains_on_the_base_runs_recorded_stages(tiny_run, tmp_path):
    """A variant's workdir links the base run's data, teachers and transfer set, with their stage records."""
    import shutil

    base = str(tmp_path / "base")
    shutil.copytree(tiny_run[0], base)
    row = sweep.run_variant(base, "w", "narrow", ["mimic.hidden=8"], [])
    assert row["variant"] == "narrow" and row["parameters"] > 0 and row["epochs"] == 3
    with open(os.path.join(f"{base}-w-narrow", "config.json")) as f:
        assert json.load(f)["mimic"]["hidden"] == 8


def _linked_variant(base, workdir):
    """A variant's workdir as `run_variant` sets it up before training: the base's data, teachers and labels."""
    sweep._stage_records(base, workdir, ["prepare", "teacher", "label"])
    for name in ("data", "teacher", "transfer"):
        sweep._link(os.path.join(base, name), os.path.join(workdir, name))
    return workdir


def test_a_variant_the_base_or_a_sibling_already_trained_is_copied_not_trained(tiny_run, tmp_path, monkeypatch):
    """The same student named by two sweeps is trained once; a variant with other settings trains its own."""
    import shutil

    base = str(tmp_path / "base")
    shutil.copytree(tiny_run[0], base)
    same = sweep.run_variant(base, "a", "same", [], [])  # the base's own settings: its mimic, copied
    assert same["copied_from"] == os.path.abspath(base)
    with open(os.path.join(base, "mimic", "model.keras"), "rb") as a, \
            open(os.path.join(f"{base}-a-same", "mimic", "model.keras"), "rb") as b:
        assert a.read() == b.read()
    narrow = sweep.run_variant(base, "a", "narrow", ["mimic.hidden=8"], [])
    assert "copied_from" not in narrow  # nobody had trained it
    again = sweep.run_variant(base, "b", "h8", ["mimic.hidden=8"], [])  # another sweep, the same student
    assert again["copied_from"] == os.path.abspath(f"{base}-a-narrow")
    assert again["test_accuracy"] == narrow["test_accuracy"]
    lines = sweep.progress_sweep({"name": "b", "base": base, "variants": {"h8": ["mimic.hidden=8"]}})
    assert lines[0].startswith("h8: done;") and f"(copied from {os.path.abspath(base)}-a-narrow)" in lines[0]
    fresh = sweep.progress_sweep({"name": "d", "base": base, "variants": {"same": [], "wide": ["mimic.hidden=9"]}})
    assert fresh == [f"same: not started ({base}-d-same), would be copied from {base} (trains nothing)",
                     f"wide: not started ({base}-d-wide)"]  # nobody made it: it will train
    assert not os.path.exists(f"{base}-d-same")  # progress copies nothing

    from mimic_keras.layout import Layout

    cfg = sweep._config(base, [])
    part = _linked_variant(base, f"{base}-c-part")
    os.makedirs(os.path.join(part, "mimic", "backup"))  # a variant that started training itself
    assert sweep._copy_finished(base, part, "mimic", cfg) is None  # left to resume
    shutil.rmtree(os.path.join(part, "mimic"))
    assert sweep._copy_finished(base, part, "mimic", cfg) == base
    os.remove(os.path.join(base, "mimic", "model.keras"))  # the base's mimic gone: no longer a source
    shutil.rmtree(os.path.join(part, "mimic"))
    os.remove(Layout(part).stamp("mimic"))
    assert sweep._copy_finished(base, part, "mimic", cfg) == f"{base}-a-same"


def test_table_tabulates_the_finished_variants_and_trains_nothing(tiny_run, tmp_path, monkeypatch, capsys):
    import shutil

    base = str(tmp_path / "base")
    shutil.copytree(tiny_run[0], base)
    monkeypatch.chdir(tmp_path)
    spec = {"name": "t", "base": base, "stage": "mimic", "variants": {"same": [], "narrow": ["mimic.hidden=8"]}}
    sweep.run_sweep(spec, only=["same"])  # the base's own mimic, copied: finished without training
    with open("t.json", "w") as f:
        json.dump(spec, f)
    assert sweep.main(["t.json", "--table"]) == 0
    with open(os.path.join("docs", "experiments", "t.json")) as f:
        table = json.load(f)
    assert [r["variant"] for r in table["rows"]] == ["same"] and table["left_out"] == ["narrow"]
    assert "left out, not finished: narrow" in capsys.readouterr().err
    assert not os.path.exists(f"{base}-t-narrow")  # nothing trained, no workdir made
    assert sweep.main(["t.json", "--table", "--out", "t_other"]) == 0  # same workdirs, another table name
    with open(os.path.join("docs", "experiments", "t_other.json")) as f:
        assert json.load(f)["rows"] == table["rows"]
    with pytest.raises(SystemExit):
        sweep.main(["t.json", "--out", "t_other"])  # --out names a table: only with --table
    capsys.readouterr()
    os.remove(os.path.join(f"{base}-t-same", "mimic", "model.keras"))  # its output gone: not up to date
    assert sweep.main(["t.json", "--table"]) == 1  # no finished variant, no table rewritten
    assert "left out, not finished: same, narrow" in capsys.readouterr().err


def test_a_sibling_trained_on_other_labels_is_not_copied(tiny_run, tmp_path):
    """Same settings, other labels (a relabelled transfer set): another model, so trained, not copied."""
    import shutil

    from mimic_keras import stages
    from mimic_keras.layout import Layout

    base, other = str(tmp_path / "base"), str(tmp_path / "base-x-relabelled")
    shutil.copytree(tiny_run[0], base)
    shutil.copytree(tiny_run[0], other)
    cfg = sweep._config(base, [])
    with open(os.path.join(other, "transfer", "manifest.json"), "a") as f:
        f.write("\n")  # its transfer set is no longer the base's: a new label fingerprint
    for stage in ("label", "mimic"):
        stages.record(stage, cfg, Layout(other))
    assert stages.check("mimic", cfg, Layout(other)).up_to_date
    os.remove(os.path.join(base, "mimic", "model.keras"))  # the base's own mimic is no source either
    variant = _linked_variant(base, f"{base}-y-v")
    assert sweep._copy_finished(base, variant, "mimic", cfg) is None
    assert not os.path.exists(os.path.join(variant, "mimic"))


def _counting_scorer(monkeypatch, workdir):
    """Replaces the run's task's `student_scores` by one whose score is how many times it was called."""
    calls = []

    def scores(self, model, layout, stage="mimic"):
        calls.append(stage)
        return {"scored": len(calls), "parameters": int(model.count_params())}  # not in sorted order

    monkeypatch.setattr(type(sweep._task(workdir)[0]), "student_scores", scores)
    return calls


def test_a_rerun_reuses_the_scores_of_a_finished_variant(tiny_copy, monkeypatch):
    workdir, _ = tiny_copy
    calls = _counting_scorer(monkeypatch, workdir)
    first = sweep._row(workdir, "v", "mimic", [])
    assert calls == ["mimic"] and first["scored"] == 1
    with open(os.path.join(workdir, "mimic", "sweep_scores.json")) as f:
        cached = json.load(f)
    assert cached["scores"]["scored"] == 1 and cached["key"]["scorer_version"] == sweep.SCORER_VERSION
    again = sweep._row(workdir, "v", "mimic", [])
    assert again == first and calls == ["mimic"]  # not scored again
    assert list(again) == list(first)  # nor reordered: a rerun rewrites the sweep's JSON unchanged


def test_scores_are_recomputed_while_a_file_scoring_wrote_is_missing(tiny_copy, monkeypatch):
    workdir, _ = tiny_copy
    calls = _counting_scorer(monkeypatch, workdir)
    written = os.path.join(workdir, "transcripts", "mimic", "test.hyp.txt")  # as a TIMIT run's scoring writes
    monkeypatch.setattr(type(sweep._task(workdir)[0]), "score_files", lambda self, layout, stage="mimic": [written])
    assert sweep._evaluate(workdir)["scored"] == 1
    assert sweep._evaluate(workdir)["scored"] == 2  # the transcript is missing: scored (and written) again
    os.makedirs(os.path.dirname(written))
    open(written, "w").close()
    assert sweep._evaluate(workdir)["scored"] == 2 and len(calls) == 2


def test_scores_are_recomputed_once_the_model_changes(tiny_copy, monkeypatch):
    from mimic_keras import stages

    workdir, _ = tiny_copy
    calls = _counting_scorer(monkeypatch, workdir)
    task, layout = sweep._task(workdir)
    assert stages.check("mimic", task.cfg, layout).up_to_date
    assert sweep._evaluate(workdir)["scored"] == 1
    model = keras.saving.load_model(layout.model("mimic"), compile=False)
    model.set_weights([w * 0 for w in model.get_weights()])
    model.save(layout.model("mimic"))
    assert stages.check("mimic", task.cfg, layout).fingerprint is None
    assert sweep._evaluate(workdir)["scored"] == 2  # the stage is stale: scored afresh,
    assert sweep._evaluate(workdir)["scored"] == 3  # and not cached
    stages.record("mimic", task.cfg, layout)  # the new model as the stage's output: a new fingerprint
    assert sweep._evaluate(workdir)["scored"] == 4
    assert sweep._evaluate(workdir)["scored"] == 4  # cached under the new key
    monkeypatch.setattr(sweep, "SCORER_VERSION", sweep.SCORER_VERSION + 1)
    assert sweep._evaluate(workdir)["scored"] == 5
    assert calls == ["mimic"] * 5


def test_a_teacher_variant_trains_its_teachers_then_relabels_and_trains_the_mimic(tiny_run, tmp_path, monkeypatch):
    import shutil

    from mimic_keras import stages
    from mimic_keras.layout import Layout

    base = str(tmp_path / "base")
    shutil.copytree(tiny_run[0], base)
    monkeypatch.chdir(tmp_path)
    common = ["teacher_train.epochs=4", "teacher_train.patience=1", "teacher_train.checkpoint=best_accuracy"]
    row = sweep.run_variant(base, "t1", "s1", ["teacher_train.seed=1"], common, stage="teacher")
    workdir = f"{base}-t1-s1"
    assert not os.path.islink(os.path.join(workdir, "teacher")) and not os.path.islink(os.path.join(workdir, "transfer"))
    cfg = config_lib.get_preset(os.path.join(workdir, "config.json"))
    assert (cfg.teacher_train.seed, cfg.teacher_train.patience) == (1, 1)
    for stage in ("teacher", "label", "mimic"):  # done, from the variant's own teachers
        assert stages.check(stage, cfg, Layout(workdir)).up_to_date
    assert row["stage"] == "teacher" and row["objective"] == "l2_logits" and row["epochs"] == 3  # the mimic's
    assert [t["teacher"] for t in row["teachers"]] == ["teacher_0", "teacher_1", "ensemble"]
    for t in row["teachers"][:2]:
        assert 1 <= t["epochs"] <= 4 and 0.0 <= t["test_accuracy"] <= 1.0 and "val_accuracy" in t
        assert "stopped_epoch" not in t or t["stopped_epoch"] == t["epochs"] < 4
    original_teachers = row["teachers"][:2]
    ensemble = row["teachers"][2]  # the mean logits the label stage wrote: it agrees with them on every image
    assert ensemble["kind"] == "+".join(t["kind"] for t in row["teachers"][:2]) and "epochs" not in ensemble
    assert ensemble["test_agreement"] == 1.0 and ensemble["test_accuracy"] == row["teacher_test_accuracy"]
    assert ensemble["parameters"] == sum(t["parameters"] for t in row["teachers"][:2])
    base_cfg = config_lib.get_preset(os.path.join(base, "config.json"))
    assert stages.check("label", base_cfg, Layout(base)).up_to_date  # the base run is untouched
    sweep.write_outputs("t1", [row], common, base)
    table = (tmp_path / "docs" / "experiments" / "t1.md").read_text()
    assert "| s1 | teacher_0 |" in table and f"| s1 | ensemble | {ensemble['kind']} | — |" in table

    # The same teachers given to a variant of a mimic sweep (`--teachers`): their epochs and kinds are
    # read in the run that trained them, and their ensemble is scored as one.
    given = [os.path.join(workdir, "teacher", f"teacher_{i}", "model.keras") for i in (1, 0)]
    row = sweep.run_variant(base, "g", "swapped", ["mimic_train.epochs=1"], [], teachers=given)
    assert [(t["kind"], t["epochs"]) for t in row["teachers"][:2]] == [
        (t["kind"], t["epochs"]) for t in reversed(original_teachers)]
    assert row["teachers"][2]["test_accuracy"] == ensemble["test_accuracy"]  # the same two, in another order

    # Given fewer teachers than the base run has, the variant runs with their number: `--table` and
    # `--progress` check it against that config too, so it is tabulated, not called stale.
    spec = {"name": "g", "base": base, "stage": "mimic", "variants": {"swapped": ["mimic_train.epochs=1"],
                                                                      "one": ["mimic_train.epochs=1"]},
            "teachers": {"swapped": given, "one": given[:1]}}
    sweep.run_sweep(spec, only=["one"])
    rows, left_out = sweep.table_sweep(spec)
    assert [r["variant"] for r in rows] == ["swapped", "one"] and left_out == []
    assert [t["teacher"] for t in rows[1]["teachers"]] == ["teacher_0"]  # one teacher: no ensemble row
    assert [line.split(";")[0] for line in sweep.progress_sweep(spec)] == ["swapped: done", "one: done"]


# The base runs the sweep files name, as their presets and the overrides they were made with
# (docs/results.md gives the commands).
BASES = {
    "runs/cifar10-cpu": ("cifar10-cpu", []),
    "runs/timit-full": ("timit-quick", ["name=timit-full", "data.full_test=true", "mimic_train.epochs=8",
                                        "control_train.epochs=8"]),
}
SWEEPS = os.path.join(os.path.dirname(__file__), "..", "experiments", "sweeps")


@pytest.mark.parametrize("path", sorted(os.listdir(SWEEPS)))
def test_every_sweep_file_loads_and_its_overrides_pass_the_config_checks(path):
    spec = sweep.load_sweep(os.path.join(SWEEPS, path))
    assert spec["name"] == path.removesuffix(".json")
    preset, made_with = BASES[spec["base"]]
    base = config_lib.apply_overrides(config_lib.get_preset(preset), made_with)
    runs = sweep.variants(spec, best=[] if spec.get("best_of") else None)
    assert len({variant for variant, _, _ in runs}) == len(runs) > 0
    for _, overrides, common in runs:
        cfg = config_lib.apply_overrides(base, [*common, *overrides])
        if spec["stage"] == "control" and "control_train.data=transfer" in common:
            # The fair control: the mimic's data, epochs and batch size, so its steps.
            assert (cfg.control_train.epochs, cfg.control_train.batch_size) == (cfg.mimic_train.epochs,
                                                                                cfg.mimic_train.batch_size)


def test_seeds_and_best_of_expand_a_sweep(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.makedirs("docs/experiments")
    rows = [{"variant": "a", "overrides": "control_train.dropout=0", "val_accuracy": 0.70, "test_accuracy": 0.9},
            {"variant": "b", "overrides": "control_train.dropout=0.5 control_train.label_smoothing=0.1",
             "val_accuracy": 0.72, "test_accuracy": 0.1}]
    def write_grid(**table):
        with open("docs/experiments/grid.json", "w") as f:
            json.dump({"base": "runs/x", "common": ["control_train.data=transfer"], "left_out": [], "rows": rows,
                       **table}, f)

    write_grid()
    spec = sweep.load_sweep({"name": "s", "base": "runs/x", "stage": "control", "best_of": "grid", "seeds": [0, 2],
                             "variants": {"fair": []}})
    assert sweep.variants(spec) == [
        (f"fair_s{seed}", [f"control_train.seed={seed}"],
         ["control_train.data=transfer", "control_train.dropout=0.5", "control_train.label_smoothing=0.1"])
        for seed in (0, 2)]  # the best by validation accuracy, not by test accuracy
    with pytest.raises(ValueError, match="run sweep nope first"):
        sweep.variants({**spec, "best_of": "nope"})
    assert sweep.variants({**spec, "base": os.path.abspath("runs/x")}) == sweep.variants(spec)  # the same folder
    with pytest.raises(ValueError, match="run grid on runs/y first"):  # the grid ran on another base
        sweep.variants({**spec, "base": "runs/y"})
    write_grid(left_out=["c"])  # a part-run grid: its best row may be the one not yet run
    with pytest.raises(ValueError, match=r"variant\(s\) c have not finished"):
        sweep.variants(spec)
    with open("docs/experiments/grid.json", "w") as f:  # a table from before tables said what they left out
        json.dump({"base": "runs/x", "rows": rows}, f)
    with pytest.raises(ValueError, match="--table"):
        sweep.variants(spec)
    for bad, words in (({"seed": [1]}, r"unknown sweep key\(s\) seed;"), ({"seeds": [-1]}, "seeds"),
                       ({"stage": "label"}, "stage"), ({"stage": "teacher", "teachers": {"fair": [__file__]}},
                                                       "trains its own teachers")):
        with pytest.raises(ValueError, match=words):
            sweep.load_sweep({**spec, **bad})


def test_teacher_paths_name_the_base_and_need_to_exist_only_for_the_variants_that_train(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = {"name": "given", "base": "runs/x/", "variants": {"a": [], "b": []},
            "teachers": {"a": ["{base}-t-s0/teacher/teacher_1/model.keras"], "b": ["{base}-t-s1/model.keras"]}}
    with open("given.json", "w") as f:
        json.dump(spec, f)
    # the file as written, then the command line's base: the paths follow the base given last
    loaded = sweep.load_sweep({**sweep.read_sweep("given.json"), "base": "/data/runs/y"})
    assert loaded["teachers"]["a"] == ["/data/runs/y-t-s0/teacher/teacher_1/model.keras"]
    os.makedirs("runs/x-t-s0/teacher/teacher_1")
    open("runs/x-t-s0/teacher/teacher_1/model.keras", "w").close()
    loaded = sweep.load_sweep(spec)  # b's teacher is not there yet: fine until b trains
    sweep.missing_teachers(loaded, ["a"])
    with pytest.raises(ValueError, match="teacher files of b not found: runs/x-t-s1/model.keras"):
        sweep.missing_teachers(loaded, ["a", "b"])
    with pytest.raises(ValueError, match="teacher files of b not found"):
        sweep.run_sweep(spec, only=["b"])  # refused before anything trains
    with pytest.raises(ValueError, match="name no variant: c"):
        sweep.load_sweep({**spec, "teachers": {"c": []}})
    with pytest.raises(SystemExit):  # the command line says so in one line
        sweep.main(["given.json", "--only", "b"])


def test_only_trains_the_named_variants_and_writes_no_table(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    trained, written = [], []
    monkeypatch.setattr(sweep, "run_variant", lambda base, name, variant, *rest: trained.append(variant) or {})
    monkeypatch.setattr(sweep, "write_outputs", lambda name, rows, common, base, left_out=(): written.append(
        (len(rows), len(left_out))))
    spec = {"name": "r", "base": "runs/base", "stage": "control", "seeds": [0, 1],
            "variants": {"plain": [], "dropout": ["control_train.dropout=0.5"]}}
    sweep.run_sweep(spec, only=["dropout_s1", "plain_s0"])
    assert trained == ["plain_s0", "dropout_s1"] and written == []  # the sweep's order; its table untouched
    sweep.run_sweep(spec)
    assert trained[2:] == ["plain_s0", "plain_s1", "dropout_s0", "dropout_s1"]
    assert written == [(1, 3), (2, 2), (3, 1), (4, 0)]  # each table says what it still leaves out
    with open("r.json", "w") as f:
        json.dump(spec, f)
    with pytest.raises(SystemExit):
        sweep.main(["r.json", "--only", "dropout"])  # a name without its seed is not a variant of the table
    assert "no variant dropout in sweep r; it has plain_s0, plain_s1, dropout_s0, dropout_s1" in capsys.readouterr().err
    assert len(trained) == 6
    os.makedirs("docs/experiments")
    with open("docs/experiments/r.json", "w") as f:  # r's table, complete: its best row decides sweep "fair"
        json.dump({"base": "runs/base", "common": [], "left_out": [], "rows": [
            {"variant": "dropout_s0", "overrides": "control_train.dropout=0.5", "val_accuracy": 0.7}]}, f)
    with open("fair.json", "w") as f:
        json.dump({"name": "fair", "base": "runs/base", "stage": "control", "best_of": "r", "seeds": [1, 2],
                   "variants": {"fair": []}}, f)
    sweep.main(["fair.json", "--only", "fair_s2"])
    assert trained[6:] == ["fair_s2"]
    assert capsys.readouterr().out.count("best of r by validation accuracy: dropout_s0") == 1  # read once


def test_list_prints_the_commands_and_checks_the_overrides(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    os.makedirs("runs/base")
    with open("runs/base/config.json", "w") as f:
        json.dump(config_lib.to_dict(config_lib.get_preset("cifar10-cpu")), f)
    spec = {"name": "g", "base": "runs/base", "stage": "mimic", "variants": {"g4": ["mimic.groups=4"]}, "seeds": [1]}
    with open("g.json", "w") as f:
        json.dump(spec, f)
    assert sweep.main(["g.json", "--list"]) == 0
    assert capsys.readouterr().out.strip() == ("python -m mimic_keras.fit mimic --preset runs/base/config.json "
                                               "--workdir runs/base-g-g4_s1 mimic.groups=4 mimic_train.seed=1")
    assert not os.path.exists("runs/base-g-g4_s1")  # nothing trained, no workdir made
    assert sweep.main(["g.json", "--list", "--seeds", "2", "3", "--name", "g_more"]) == 0  # the file's seeds replaced
    listed = capsys.readouterr().out.split()
    assert [listed[i + 1] for i, word in enumerate(listed) if word == "--workdir"] == [
        "runs/base-g_more-g4_s2", "runs/base-g_more-g4_s3"]
    spec["variants"]["g3"] = ["mimic.groups=3"]  # 3 does not divide k=256
    with open("g.json", "w") as f:
        json.dump(spec, f)
    with pytest.raises(SystemExit):
        sweep.main(["g.json", "--list"])
    assert "mimic.groups=3 must divide mimic.bottleneck=256" in capsys.readouterr().err
    teachers = {"name": "t", "base": "runs/base", "stage": "teacher", "seeds": [2], "variants": {"long": []},
                "common": ["teacher_train.patience=5", "teacher_train.checkpoint=best_accuracy"]}
    sweep.list_sweep(teachers)  # new teachers, then their labels and the mimic: the stage graph's order
    assert [line.split()[3] for line in capsys.readouterr().out.splitlines()] == ["teacher", "label", "mimic"]
    with pytest.raises(ValueError, match="teacher_train.patience=5 watches"):  # checked against the base config
        sweep.list_sweep({**teachers, "common": ["teacher_train.patience=5"]})
    given = {"name": "e", "base": "runs/base", "variants": {"e3": []}, "teachers": {"e3": ["{base}/a", "b", "c"]}}
    sweep.list_sweep(given)  # the links, then label and mimic with the teachers' number, as run_variant runs them
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# runs/base-e-e3/teacher/teacher_0/model.keras -> runs/base/a"
    assert [line.split()[3] for line in lines[3:]] == ["label", "mimic"]
    assert all(line.endswith("--workdir runs/base-e-e3 teacher.num_teachers=3") for line in lines[3:])


def test_progress_says_how_far_each_variant_got_from_its_logs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    os.makedirs("runs/base")
    with open("runs/base/config.json", "w") as f:
        json.dump(config_lib.to_dict(config_lib.get_preset("cifar10-cpu")), f)
    spec = {"name": "p", "base": "runs/base", "stage": "mimic", "common": ["mimic_train.epochs=30"],
            "variants": {"halfway": [], "finished": [], "stopped": ["mimic_train.epochs=40"], "never": []}}
    log = "epoch,loss,val_accuracy,val_loss\n" + "".join(
        f"{i},{9 - i},{acc},{5 - i / 10}\n" for i, acc in enumerate([0.5, 0.7, 0.6]))
    for variant in ("halfway", "finished", "stopped"):
        os.makedirs(f"runs/base-p-{variant}/mimic")
        with open(f"runs/base-p-{variant}/mimic/log.csv", "w") as f:
            f.write(log)
    for variant in ("finished", "stopped"):  # the stage's record: a finished run (stopped early or not)
        os.makedirs(f"runs/base-p-{variant}/stamps")
        open(f"runs/base-p-{variant}/stamps/mimic.json", "w").close()
    with open("p.json", "w") as f:
        json.dump(spec, f)
    assert sweep.main(["p.json", "--progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("halfway: unfinished; mimic: 3/30 epochs, best val_accuracy 70.00% (epoch 2), last 60.00%, "
                        "last val_loss 4.8")
    assert lines[1].startswith("finished: done; mimic: 3/30 epochs")
    assert lines[2].startswith("stopped: done; mimic: 3/40 epochs")  # the variant's own epochs override
    assert lines[3] == "never: not started (runs/base-p-never)"
    os.makedirs("docs/experiments")
    with open("docs/experiments/p.json", "w") as f:  # the grid's table, part-run
        json.dump({"base": "runs/base", "common": [], "left_out": ["never"], "rows": []}, f)
    seeds = {"name": "q", "base": "runs/base", "stage": "mimic", "best_of": "p", "seeds": [1], "variants": {"best": []}}
    assert sweep.progress_sweep(seeds) == [  # says why, instead of failing
        "best_of: p's variant(s) never have not finished, so its best row is not known yet: finish them (and "
        "rewrite its table) first", "best_s1: not started (runs/base-q-best_s1)"]
    sweep.list_sweep(seeds)
    out, err = capsys.readouterr()
    assert "<the overrides of the best row of p: not known yet>" in out and "never have not finished" in err


@pytest.mark.parametrize("checkpoint, kept", [("last", 0.5), ("best", 0.7), ("best_accuracy", 0.8)])
def test_a_rows_val_accuracy_is_that_of_the_kept_weights(checkpoint, kept):
    history = {"val_loss": [3.0, 1.0, 2.0, 2.5], "val_accuracy": [0.6, 0.7, 0.8, 0.5]}
    assert sweep._kept_val_accuracy(history, checkpoint) == {"val_accuracy": kept}
    assert sweep._kept_val_accuracy({}, checkpoint) == {}


def test_a_fair_control_variant_trains_on_the_base_runs_transfer_set(tiny_run, tmp_path, monkeypatch):
    workdir, _, _ = tiny_run
    base = str(tmp_path / "base")
    os.symlink(workdir, base)
    monkeypatch.chdir(tmp_path)
    row = sweep.run_variant(base, "fair", "d5", ["control_train.dropout=0.5"],
                            ["control_train.data=transfer", "control_train.augment=false"], stage="control")
    assert row["objective"] == "transfer labels" and row["transfer_examples"] == 2 * 160  # the mimic's (views=1)
    assert 0.0 <= row["val_accuracy"] <= 1.0 and row["epochs"] == 2
    cfg = config_lib.get_preset(os.path.join(f"{base}-fair-d5", "config.json"))
    assert cfg.control_train.dropout == 0.5 and cfg.mimic.dropout == 0.0
    model = keras.saving.load_model(os.path.join(f"{base}-fair-d5", "control", "model.keras"), compile=False)
    assert model.get_layer("dropout").rate == 0.5


def test_a_sweep_stopped_by_sigterm_stops_its_training_child(tmp_path):
    """A killed sweep must not leave its `fit` child training on (SIGTERM's default would)."""
    import signal
    import subprocess
    import sys
    import time

    pid_file = tmp_path / "child.pid"
    child = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    sweep_dir = os.path.join(os.path.dirname(__file__), "..", "experiments")
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import sys; sys.path.insert(0, {sweep_dir!r}); import mimic_sweep; "
                               f"mimic_sweep.run_child([sys.executable, '-c', {child!r}])"])
    deadline = time.time() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    child_pid = int(pid_file.read_text())
    try:
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 128 + signal.SIGTERM
        with pytest.raises(ProcessLookupError):  # killed and reaped by the sweep, not left running
            os.kill(child_pid, 0)
    finally:
        for pid in (child_pid, parent.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
