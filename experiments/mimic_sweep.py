"""Train mimic variants on one run's transfer set and tabulate them (same data, same budget).

A sweep is data: a JSON file (or dict) naming its variants and their config overrides,

    {"name": "losses", "base": "runs/cifar10-cpu", "stage": "mimic",
     "common": ["mimic_train.epochs=5"],
     "variants": {"l2_logits": [], "kd": ["distill.loss=kd", "distill.temperature=4"],
                  "l2_probs": ["distill.loss=l2_probs"], "ce": ["distill.loss=ce"]},
     "teachers": {}}

    python experiments/mimic_sweep.py experiments/sweeps/losses.json [--base runs/other]

(`--base/--name/--common/--seeds/--variant NAME:k=v ...` on the command line build the same dict;
`--only VARIANT ...` trains just those and writes no table, for training variants side by side;
`--table` writes the table of the variants that are finished and trains nothing; `--table --out NAME`
writes it as `docs/experiments/NAME.*`, e.g. to keep the table the same sweep made on an earlier base.)
Two optional keys: `"seeds": [0, 1, 2]` runs every variant once per seed (`<variant>_s<seed>`,
with `<stage>_train.seed=<seed>`), and `"best_of": "OTHER"` adds to `common` the overrides of
the row of sweep OTHER (`docs/experiments/OTHER.json`, its common too) with the highest
validation accuracy: a grid tuned on the validation split, then its winner at several seeds.
`--list` prints each variant's workdir and commands (and checks the overrides against the base
run's config when it is there) without training anything; `--progress` says how far each
variant got (epochs in its logs, best and last validation accuracy, done or not; for one not
started, whether a sibling already made its student, so that running it copies and trains
nothing), for the list of unfinished runs in docs/results.md.
A rerun retrains nothing (each variant's stages are up to date), reuses a student's scores while
its stage's fingerprint (and its transfer set's) holds and the files its scoring wrote are there
(`<workdir>/<student>/sweep_scores.json`), and rewrites the outputs.
Each variant gets its own workdir `<base>-<name>-<variant>` whose data, teachers and transfer
set are links to the base run's (labelled once), and runs `python -m mimic_keras.fit mimic`
with the base run's config plus the overrides; a mimic or control that the base or another
variant of it (any sweep's) already trained from exactly the same settings is copied from
there instead (`_copy_finished`; the row's `copied_from` names it). `--stage control` trains the label-trained
control instead; `--stage teacher` trains the variant's own teachers, then, as the stage graph
says, labels its transfer set with them and trains the mimic on it (`fit teacher`, `fit label`,
`fit mimic`; the row is the mimic's, the teachers' scores, and their ensemble's, are in its
`teachers` and a second table); `--teachers NAME=T1.keras[,T2.keras]` gives variant NAME its own transfer
set, labelled by those teachers (`fit label`, then `fit mimic`), e.g. to compare ensembles or teacher
checkpoints. Results (parameters, epochs, wall time, test
accuracy, validation L2 to the teacher, agreement; for TIMIT, state frame accuracy and PER on
the core test; all scored by the task's `student_scores`) go to `docs/experiments/<name>.json|.md`,
and loss-vs-wall-clock curves to `docs/experiments/<name>.png` (with hidden-unit statistics and
teacher-vs-student accuracy figures when the rows have them; `python -m mimic_keras.plots
docs/experiments/<name>.json` redraws them).
"""

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep_spec import (  # noqa: E402  (load_sweep: part of the API)
    STAGES, best_overrides, load_sweep, missing_teachers, read_sweep, variants)


def _scalars(log_dir, tag):
    """(wall_time, step, value) of a scalar in a TensorBoard log folder."""
    import tensorflow as tf

    rows = []
    for name in sorted(os.listdir(log_dir)):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(log_dir, name)):
            for value in event.summary.value:
                if value.tag == tag:
                    rows.append((event.wall_time, event.step, float(tf.make_ndarray(value.tensor))))
    return rows


def _task(workdir):
    """(task, layout) of a variant's workdir, from the config saved there."""
    from mimic_keras import config as config_lib
    from mimic_keras.layout import Layout
    from mimic_keras.tasks import get_task

    layout = Layout(workdir)
    return get_task(config_lib.get_preset(layout.config)), layout


# Bump when what `student_scores` computes changes (a new column, a fixed metric, another
# decoder search): every finished variant's cached scores are then recomputed.
SCORER_VERSION = 2  # 2: rows keep per-example outcomes (`mimic_keras.eval.outcomes`)
SCORES_FILE = "sweep_scores.json"


def _scores_key(stage, cfg, layout):
    """What a model's scores are made from: its stage's and its transfer set's fingerprints, the scorer's version.

    None when either stage is not up to date: such scores are not cached. The label stage is in
    the key since the scores compare the model with the transfer set's teacher, which a control
    trained on the labels does not consume.
    """
    from mimic_keras import stages

    fingerprints = {name: stages.check(name, cfg, layout).fingerprint for name in (stage, "label")}
    if None in fingerprints.values():
        return None
    return {"scorer_version": SCORER_VERSION, **fingerprints}


def _cached_scores(task, layout, role, stage, load):
    """`task.student_scores` of model `role` (made by `stage`; `load()` gives it), kept in its run folder while their key holds.

    And while the files scoring wrote (`task.score_files`: TIMIT's transcripts) are there; the
    scoring that rewrites them rewrites the cache too.
    """
    from mimic_keras.atomic import write_json_atomic

    path = os.path.join(layout.run_dir(role), SCORES_FILE)
    key = _scores_key(stage, task.cfg, layout)
    if key is not None and all(os.path.exists(p) for p in task.score_files(layout, role)):
        cached = _read_json(path)
        if cached.get("key") == key and "scores" in cached:
            return cached["scores"]
    scores = task.student_scores(load(), layout, role)
    scores = dict(sorted(scores.items()))  # the cache's order (sorted keys), so a rerun's rows read the same
    if key is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)  # an ensemble's scores have no run folder before
        write_json_atomic(path, {"key": key, "scores": scores})
    return scores


def _read_json(path):
    """The object in a JSON file, {} when there is none (or it is unreadable: the scores are then recomputed)."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except (OSError, json.JSONDecodeError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _evaluate(workdir, stage="mimic"):
    """A variant's student scored by its task against the labels and its transfer set's teacher (cached)."""
    import keras

    task, layout = _task(workdir)
    return _cached_scores(task, layout, stage, stage,
                          lambda: keras.saving.load_model(layout.model(stage), compile=False))


def _transfer_examples(cfg, workdir):
    from mimic_keras.layout import Layout
    from mimic_keras.tasks import get_task

    return int(get_task(cfg).transfer_examples(Layout(workdir)))


def _link(target, link):
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.lexists(link):
        os.symlink(os.path.abspath(target), link)


def _record_teachers(base, workdir, overrides):
    """Records the linked teacher files as the variant's teacher stage (they were trained elsewhere)."""
    from mimic_keras import config as config_lib
    from mimic_keras import stages
    from mimic_keras.layout import Layout

    cfg = config_lib.apply_overrides(config_lib.get_preset(os.path.join(base, "config.json")), overrides)
    stages.record("teacher", cfg, Layout(workdir))


COPIED_FROM = "copied_from.json"


def _finished_sibling(base, workdir, stage, cfg, inputs):
    """A sibling workdir (`<base>` or a `<base>-*`) whose `stage` is up to date under `cfg` and consumed `inputs`.

    Such a sibling made the very model this variant's `stage` would train (see `_copy_finished`).
    Returns None when there is none.
    """
    import glob

    from mimic_keras import stages, stamps
    from mimic_keras.layout import Layout

    for other in [base, *sorted(glob.glob(f"{base.rstrip('/')}-*"))]:
        theirs = Layout(other)
        if os.path.realpath(other) == os.path.realpath(workdir):
            continue
        stamp = stamps.read(theirs.stamp(stage))
        if stamp is not None and stamp["inputs"] == inputs and stages.check(stage, cfg, theirs).up_to_date:
            return other
    return None


def _copy_finished(base, workdir, stage, cfg):
    """Copies a sibling's finished `stage` (mimic or control) when it is what this variant's config asks for.

    Sweeps over one base often name the same student more than once (the preset's own mimic is a
    width of one sweep, a loss of another and seed 0 of a third). A sibling run (`<base>` itself
    or any `<base>-*` workdir) whose stage is up to date under *this variant's* config (the
    stage-graph check: the same values of every field the stage reads, up-to-date inputs, the
    outputs its stamp recorded) and whose stamp records this variant's inputs (the base's
    labels, not a relabelled transfer set's) made that very model, so its run folder and stamp are copied
    instead of training it again; the copy is then checked like any other. A variant that has a
    run folder of its own (finished, or part-trained and resumable) is left alone. The run folder
    records the source in `copied_from.json`, which the row reports.

    Returns:
        The sibling's workdir, or None when nothing was copied.
    """
    import shutil

    from mimic_keras import stages
    from mimic_keras.atomic import write_json_atomic
    from mimic_keras.layout import Layout

    layout = Layout(workdir)
    if os.path.lexists(layout.run_dir(stage)):
        return None
    # What this variant's stage would consume (the base's labels): a sibling whose stage consumed
    # anything else (its own teachers' labels) made another model, however alike the settings.
    other = _finished_sibling(base, workdir, stage, cfg, stages.inputs_of(stage, cfg, layout))
    if other is None:
        return None
    theirs = Layout(other)
    shutil.copytree(theirs.run_dir(stage), layout.run_dir(stage), symlinks=True)
    shutil.copy2(theirs.stamp(stage), layout.stamp(stage))
    if stages.check(stage, cfg, layout).up_to_date:
        write_json_atomic(os.path.join(layout.run_dir(stage), COPIED_FROM), {"workdir": os.path.abspath(other)})
        print(f"{workdir}: {stage} copied from {other}, which made it from the same settings and labels",
              flush=True)
        return other
    shutil.rmtree(layout.run_dir(stage))
    os.remove(layout.stamp(stage))
    return None


def _copied_from(workdir, role):
    """The sibling workdir a variant's `role` run folder was copied from (`_copy_finished`), else None."""
    return _read_json(os.path.join(workdir, role, COPIED_FROM)).get("workdir")


def _config(base, overrides):
    """The base run's config with `overrides` (checked); the default config without a base run (`--list`)."""
    from mimic_keras import config as config_lib

    path = base and os.path.join(base, "config.json")
    if not path or not os.path.exists(path):
        return config_lib.ExperimentConfig()
    return config_lib.apply_overrides(config_lib.get_preset(path), overrides)


def _student(stage):
    """The student a variant's row scores: the mimic of a teacher sweep (trained on its teachers' labels)."""
    return "mimic" if stage == "teacher" else stage


def _variant_stages(stage, teachers, cfg):
    """The `fit` stages a variant runs, in order: its stage, or from new teachers (trained or given) to the mimic."""
    from mimic_keras import stages

    if stage == "teacher":
        return stages.between("teacher", "mimic", cfg)  # teacher, label, mimic
    return ["label", stage] if teachers else [stage]


def variant_workdir(base, name, variant):
    """The workdir of a sweep's variant: `<base>-<name>-<variant>`."""
    return f"{base.rstrip('/')}-{name}-{variant}"


def run_variant(base, name, variant, overrides, common, stage="mimic", teachers=None):
    """Trains one variant in `<base>-<name>-<variant>` and returns its table row.

    With `teachers` (model files), the variant's transfer set is labelled anew by them (an
    ensemble when several) instead of being the base run's. With `stage="teacher"` the variant
    trains its own teachers, labels its transfer set with them and trains the mimic on it (the
    stages between teacher and mimic); its row is the mimic's, with the teachers' own scores
    under `teachers`.
    """
    workdir = variant_workdir(base, name, variant)
    os.makedirs(workdir, exist_ok=True)
    _link(os.path.join(base, "data"), os.path.join(workdir, "data"))
    overrides = _with_teachers(overrides, teachers)
    cfg = _config(base, [*common, *overrides])
    stages = _variant_stages(stage, teachers, cfg)
    if stage == "teacher":
        _stage_records(base, workdir, ["prepare"])
    elif teachers:
        for i, path in enumerate(teachers):
            _link(path, os.path.join(workdir, "teacher", f"teacher_{i}", "model.keras"))
        _stage_records(base, workdir, ["prepare"])
        _record_teachers(base, workdir, [*common, *overrides])
    else:
        for part in ("teacher", "transfer"):
            _link(os.path.join(base, part), os.path.join(workdir, part))
        _stage_records(base, workdir, ["prepare", "teacher", "label"])
    if stage in ("mimic", "control") and not teachers:
        _copy_finished(base, workdir, stage, cfg)
    for one in stages:
        cmd = [sys.executable, "-m", "mimic_keras.fit", one, "--preset", os.path.join(base, "config.json"),
               "--workdir", workdir, *common, *overrides]
        print(" ".join(cmd), flush=True)
        run_child(cmd)
    return _finished_row(workdir, variant, stage, overrides, teachers)


def _with_teachers(overrides, teachers):
    """A variant's overrides with, for teachers given to it, their number (the label stage loads that many)."""
    return [f"teacher.num_teachers={len(teachers)}", *overrides] if teachers else list(overrides)


def _variant_config(base, common, overrides, teachers):
    """The config a variant ran with (`run_variant`): the base's with `common`, its overrides and,
    for teachers given to it, their number; what its stages' records are checked against."""
    return _config(base, [*common, *_with_teachers(overrides, teachers)])


def _exit_on_signal(signum, frame):
    raise SystemExit(128 + signum)


def run_child(cmd):
    """Runs one `fit` command and waits for it; a SIGTERM to this process stops the child too.

    SIGTERM's default action ends Python at once, so a sweep killed by `kill`, a job scheduler or
    a session's end would leave its `fit` training on, unseen, beside whatever runs next. Here it
    raises SystemExit instead, and `subprocess.run` kills and reaps the child on the way out; the
    child's training resumes from its last finished epoch when the sweep is run again. (Ctrl-C
    already reaches the child through the terminal.) Outside the main thread, where Python cannot
    install a signal handler, the default stays.
    """
    if threading.current_thread() is not threading.main_thread():
        return subprocess.run(cmd, check=True)
    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        return subprocess.run(cmd, check=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _finished_row(workdir, variant, stage, overrides, teachers=None):
    """The row of a trained variant (with its teachers' own scores when it has teachers of its own: trained or given)."""
    row = _row(workdir, variant, stage, overrides)
    if stage == "teacher" or teachers:
        row["teachers"] = _teacher_rows(workdir)
    return row


def _row(workdir, variant, stage, overrides):
    """The table row of a variant's student: epochs, wall time, the learning curve, its scores."""
    from mimic_keras import config as config_lib

    student = _student(stage)
    with open(os.path.join(workdir, student, "history.json")) as f:
        history = json.load(f)
    cfg = config_lib.get_preset(os.path.join(workdir, "config.json"))
    train_loss = _scalars(os.path.join(workdir, student, "logs", "train"), "epoch_loss")
    val_loss = _scalars(os.path.join(workdir, student, "logs", "validation"), "epoch_loss")
    start = train_loss[0][0] - (train_loss[1][0] - train_loss[0][0] if len(train_loss) > 1 else 0)
    row = {
        "variant": variant,
        "stage": stage,
        "overrides": " ".join(overrides),
        "epochs": len(history.get("epoch", [])),
        # What the student learned from, and from how many examples per epoch (the transfer set's).
        "objective": cfg.distill.loss if student == "mimic" else f"{cfg.control_train.data} labels",
        **({"transfer_examples": _transfer_examples(cfg, workdir)}
           if student == "mimic" or cfg.control_train.data == "transfer" else {}),
        **_stopped_epoch(history),
        **_kept_val_accuracy(history, getattr(cfg, f"{student}_train").checkpoint),
        "wall_seconds": round(train_loss[-1][0] - start, 1),
        "curve": {"seconds": [round(t - start, 1) for t, _, _ in train_loss],
                  "loss": [v for _, _, v in train_loss], "val_loss": [v for _, _, v in val_loss],
                  "val_accuracy": history.get("val_accuracy", []),
                  **{k: history[k] for k in sorted(history) if k.startswith("hidden_")}},
        **_evaluate(workdir, student),
    }
    copied = _copied_from(workdir, student)
    if copied:
        row["copied_from"] = copied  # trained once, in that sibling run (`_copy_finished`)
    return row


def _stopped_epoch(history):
    """{"stopped_epoch": N} of a run that `patience` stopped before its last epoch, else {}."""
    stop = (history.get("early_stop") or {}).get("stopped_epoch")
    return {"stopped_epoch": stop} if stop else {}


def _teacher_rows(workdir):
    """Each teacher of a variant (Table 1's teacher rows): epochs run, validation accuracy kept, scores.

    A teacher given to the variant (`--teachers`) is a link to a model trained in another run:
    its epochs, kind and checkpoint rule are read there. With several teachers, a last row
    scores their ensemble (`teachers_io.Ensemble`: the mean logits the label stage wrote).
    """
    from mimic_keras.teachers_io import TeacherSet, load_teacher

    task, layout = _task(workdir)
    paths = task.teacher_paths(layout)
    rows = []
    for i, path in enumerate(paths):
        history, checkpoint, kind = _teacher_origin(path, i, task.cfg)
        rows.append({"teacher": f"teacher_{i}", "kind": kind,
                     "epochs": len(history.get("epoch", [])), **_stopped_epoch(history),
                     **_kept_val_accuracy(history, checkpoint),
                     **_cached_scores(task, layout, f"teacher_{i}", "teacher", lambda p=path: load_teacher(p))})
    if len(paths) > 1:
        rows.append({"teacher": "ensemble", "kind": "+".join(r["kind"] for r in rows),
                     **_cached_scores(task, layout, "ensemble", "teacher", lambda: TeacherSet(paths).model())})
    return rows


def _teacher_origin(path, index, cfg):
    """(history, checkpoint rule, kind) of teacher `index` at `path`, read in the run that trained it.

    That is the variant's own run (`cfg`) unless `path` links to a teacher of another run
    (`<run>/teacher/teacher_<j>/model.keras` with `<run>/config.json`), whose config says how
    it was trained.
    """
    from mimic_keras import config as config_lib
    from mimic_keras.training import read_history

    run_dir = os.path.dirname(os.path.realpath(path))
    config = os.path.join(run_dir, os.pardir, os.pardir, "config.json")
    folder = os.path.basename(run_dir)
    if os.path.islink(path) and folder.startswith("teacher_") and os.path.exists(config):
        cfg, index = config_lib.get_preset(config), int(folder.removeprefix("teacher_"))
    return read_history(run_dir) or {}, cfg.teacher_train.checkpoint, cfg.teacher.kind_of(index)


def _kept_val_accuracy(history, checkpoint):
    """{"val_accuracy": at the epoch whose weights were kept}, or {} without validation accuracy."""
    from mimic_keras.checkpoints import BEST

    values = history.get("val_accuracy") or []
    if not values:
        return {}
    monitor, mode = BEST.get(checkpoint, (None, None))
    kept = len(values) - 1
    if monitor in history:
        pick = min if mode == "min" else max
        kept = pick(range(len(values)), key=lambda i: history[monitor][i])
    return {"val_accuracy": float(values[kept])}


def write_outputs(name, rows, common, base, left_out=()):
    """Writes sweep `name`'s table (JSON, markdown, figure); `left_out`: its variants not (yet) in `rows`."""
    os.makedirs("docs/experiments", exist_ok=True)
    with open(f"docs/experiments/{name}.json", "w") as f:
        json.dump({"base": base, "common": common, "left_out": list(left_out), "rows": rows}, f, indent=2)
    speech = any("test_per" in r for r in rows)  # TIMIT: frame accuracy of states, then PER
    test_set = next((r["test_set"] for r in rows if "test_set" in r), "core test")
    if speech:
        from mimic_keras.eval.speech_scoring import format_per
    lines = [f"Base run `{base}`, common overrides `{' '.join(common) or '(none)'}`.", "",
             "| variant | overrides | teacher test accuracy | parameters | epochs | wall time | val accuracy | test accuracy (± 95% CI) | val L2 to teacher | agreement |"
             + (f" PER dev | PER {test_set} (95% interval) |" if speech else ""),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if speech else "")]
    for r in rows:
        lines.append(f"| {r['variant']} | `{r['overrides'] or '—'}` | {r['teacher_test_accuracy']:.2%} | "
                     f"{r['parameters']:,} | {r['epochs']} | "
                     f"{r['wall_seconds'] / 60:.1f} min | {_percent(r.get('val_accuracy'))} | "
                     f"{r['test_accuracy']:.2%} ± {r['test_accuracy_ci95']:.2%} | "
                     f"{r['val_l2_to_teacher']:.3f} | "
                     f"{r['test_agreement']:.2%} |"
                     + (f" {r['dev_per']:.2%} | {format_per(r['test_per'], r.get('test_per_ci95'))} |" if speech else ""))
    if speech:
        lines += ["", f"TIMIT: test accuracy is the state frame accuracy on the {test_set} (95% CI with utterances as "
                  "clusters); PER with 39 folded phones, each student's decoder tuned on dev, 95% interval from "
                  "resampling test speakers."]
    lines += _teacher_table(rows, test_set, speech)
    with open(f"docs/experiments/{name}.md", "w") as f:
        f.write("\n".join(lines) + "\n")

    from mimic_keras.eval.sweep_figures import plot_sweep

    plot_sweep({"base": base, "common": common, "rows": rows}, f"docs/experiments/{name}.png")
    print("\n".join(lines))


def _teacher_table(rows, test_set, speech):
    """The teachers that the variants of a teacher sweep trained, one line each; [] for other sweeps."""
    teachers = [(r["variant"], t) for r in rows for t in r.get("teachers", [])]
    if not teachers:
        return []
    if speech:
        from mimic_keras.eval.speech_scoring import format_per
    lines = ["", "Teachers (the table above: the mimic trained on each variant's teachers' labels).", "",
             "| variant | teacher | kind | epochs | val accuracy | test accuracy (± 95% CI) |"
             + (f" PER dev | PER {test_set} (95% interval) |" if speech else ""),
             "|---|---|---|---:|---:|---:|" + ("---:|---:|" if speech else "")]
    for variant, t in teachers:
        epochs = "—" if "epochs" not in t else f"{t['epochs']}" + (
            f" (stopped at {t['stopped_epoch']})" if t.get("stopped_epoch") else "")
        lines.append(f"| {variant} | {t['teacher']} | {t['kind']} | {epochs} | {_percent(t.get('val_accuracy'))} | "
                     f"{t['test_accuracy']:.2%} ± {t['test_accuracy_ci95']:.2%} |"
                     + (f" {t['dev_per']:.2%} | {format_per(t['test_per'], t.get('test_per_ci95'))} |" if speech else ""))
    return lines


def _percent(value):
    return "—" if value is None else f"{value:.2%}"


def _stage_records(base, workdir, stages):
    """Copies the base run's records of `stages` into a variant's workdir (its outputs are links to the same files)."""
    import shutil

    from mimic_keras.layout import Layout

    for stage in stages:
        source, target = Layout(base).stamp(stage), Layout(workdir).stamp(stage)
        if os.path.exists(source):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)


def _best_or_why(sweep):
    """(the overrides `best_of` adds, None), or (None, why its best row cannot be read yet) for `variants`."""
    if not sweep.get("best_of"):
        return [], None
    try:
        return best_overrides(sweep["best_of"], sweep["base"]), None
    except ValueError as e:
        return None, str(e)


def list_sweep(sweep):
    """Prints each variant's workdir and `fit` commands without running them; checks the overrides when it can."""
    sweep = load_sweep(sweep)
    base_config = os.path.join(sweep["base"], "config.json")
    best, why = _best_or_why(sweep)
    if why:
        print(why, file=sys.stderr)
        best = [f"<the overrides of the best row of {sweep['best_of']}: not known yet>"]
    for variant, overrides, common in variants(sweep, best):
        teachers = sweep["teachers"].get(variant)
        overrides = _with_teachers(overrides, teachers)
        cfg = _config(sweep["base"] if why is None else None, [*common, *overrides])  # checks the overrides
        workdir = variant_workdir(sweep["base"], sweep["name"], variant)
        for i, path in enumerate(teachers or []):
            print(f"# {workdir}/teacher/teacher_{i}/model.keras -> {path}")
        for stage in _variant_stages(sweep["stage"], teachers, cfg):
            print(shlex.join(["python", "-m", "mimic_keras.fit", stage, "--preset",
                              base_config, "--workdir", workdir, *common, *overrides]))


def _role_progress(workdir, role, epochs):
    """One line on how far a training of a variant got: epochs done of `epochs`, its best and last validation."""
    from mimic_keras.layout import Layout
    from mimic_keras.training import read_csv_log

    curves = read_csv_log(os.path.join(Layout(workdir).run_dir(role), "log.csv"))
    if not curves.get("epoch"):
        return f"{role}: not started"
    text = f"{role}: {len(curves['epoch'])}/{epochs} epochs"
    accuracy = curves.get("val_accuracy")
    if accuracy:
        best = max(range(len(accuracy)), key=lambda i: accuracy[i])
        text += f", best val_accuracy {accuracy[best]:.2%} (epoch {curves['epoch'][best]}), last {accuracy[-1]:.2%}"
    if curves.get("val_loss"):
        text += f", last val_loss {curves['val_loss'][-1]:.4g}"
    return text


def _would_copy(sweep, variant, workdir, cfg):
    """For a variant not started: ", would be copied from X" when a sibling already made its student, else ""."""
    from mimic_keras import stages
    from mimic_keras.layout import Layout

    stage = sweep["stage"]
    if stage not in ("mimic", "control") or sweep["teachers"].get(variant):
        return ""
    # Such a variant links the base's data, teachers and transfer set: it would consume the base's stages.
    inputs = stages.inputs_of(stage, cfg, Layout(sweep["base"]))
    other = _finished_sibling(sweep["base"], workdir, stage, cfg, inputs)
    return f", would be copied from {other} (trains nothing)" if other else ""


def progress_sweep(sweep):
    """Lines saying how far each variant of a sweep got (from its logs; trains nothing, loads no model).

    A variant is `done` when its last stage has its record (`stamps/<stage>.json`); otherwise each
    training stage says how many epochs its `log.csv` holds, which a rerun of the sweep resumes from.
    """
    sweep = load_sweep(sweep)
    best, why = _best_or_why(sweep)
    lines = [] if why is None else [why]  # unresolved: nothing beyond the grid's overrides has run
    for variant, overrides, common in variants(sweep, best or []):
        workdir = variant_workdir(sweep["base"], sweep["name"], variant)
        cfg = _variant_config(sweep["base"], common, overrides, sweep["teachers"].get(variant))
        if not os.path.isdir(workdir):
            lines.append(f"{variant}: not started ({workdir})" + _would_copy(sweep, variant, workdir, cfg))
            continue
        stages = _variant_stages(sweep["stage"], sweep["teachers"].get(variant), cfg)
        done = os.path.exists(os.path.join(workdir, "stamps", f"{stages[-1]}.json"))
        parts = []
        for one in stages:
            if one == "teacher":
                parts += [_role_progress(workdir, f"teacher_{i}", cfg.teacher_train.epochs)
                          for i in range(cfg.teacher.num_teachers)]
            elif one in ("mimic", "control"):
                parts.append(_role_progress(workdir, one, getattr(cfg, f"{one}_train").epochs))
                copied = _copied_from(workdir, one)
                if copied:
                    parts[-1] += f" (copied from {copied})"
        lines.append(f"{variant}: {'done' if done else 'unfinished'}; " + "; ".join(parts))
    return lines


def _select(todo, only, name):
    """The runs of `todo` (`variants`) named in `only` (all when it is empty); ValueError for a name not there."""
    if not only:
        return todo
    unknown = sorted(set(only) - {variant for variant, _, _ in todo})
    if unknown:
        raise ValueError(f"no variant {', '.join(unknown)} in sweep {name}; it has {', '.join(v for v, _, _ in todo)}")
    return [run for run in todo if run[0] in only]


def run_sweep(sweep, only=None, best=None):
    """Trains every variant of a sweep (a dict, `load_sweep`) and writes its table and figures; returns the rows.

    `only`: train just these variants (names as in the table, `<variant>_s<seed>` for seeds) and
    write no table: several processes can then train one sweep's variants side by side, and the
    sweep run without `only` afterwards tabulates them all (training nothing that is up to date).
    `best`: the overrides `best_of` adds, when already resolved (None: read its grid's table).
    """
    sweep = load_sweep(sweep)
    todo = _select(variants(sweep, best), only, sweep["name"])
    missing_teachers(sweep, [variant for variant, _, _ in todo])
    rows = []
    for i, (variant, overrides, common) in enumerate(todo):
        rows.append(run_variant(sweep["base"], sweep["name"], variant, overrides, common, sweep["stage"],
                                sweep["teachers"].get(variant)))
        if not only:
            write_outputs(sweep["name"], rows, common, sweep["base"], [v for v, _, _ in todo[i + 1:]])
    return rows


def table_sweep(sweep, out=None):
    """Writes the table of the variants that are finished (their last stage up to date); trains nothing.

    `out`: the table's name (`docs/experiments/<out>.*`; default the sweep's). The workdirs read
    are the sweep's own (`<base>-<name>-<variant>`) either way.

    Returns the rows and the names of the variants left out (not started, part-trained, or stale).
    """
    from mimic_keras import stages as stages_lib
    from mimic_keras.layout import Layout

    sweep = load_sweep(sweep)
    rows, left_out = [], []
    for variant, overrides, common in variants(sweep):
        workdir = variant_workdir(sweep["base"], sweep["name"], variant)
        cfg = _variant_config(sweep["base"], common, overrides, sweep["teachers"].get(variant))
        last = _variant_stages(sweep["stage"], sweep["teachers"].get(variant), cfg)[-1]
        if os.path.isdir(workdir) and stages_lib.check(last, cfg, Layout(workdir)).fingerprint is not None:
            rows.append(_finished_row(workdir, variant, sweep["stage"], overrides, sweep["teachers"].get(variant)))
        else:
            left_out.append(variant)
    if rows:
        write_outputs(out or sweep["name"], rows, common, sweep["base"], left_out)
    return rows, left_out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep", nargs="?", help="a sweep's JSON file")
    parser.add_argument("--base", help="a run workdir whose label stage is done (overrides the file's)")
    parser.add_argument("--name")
    parser.add_argument("--common", nargs="*", default=None)
    parser.add_argument("--variant", action="append", default=[], help="NAME:key=value key=value ...")
    parser.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED",
                        help="run every variant at these seeds (overrides the file's `seeds`; give --name too, or "
                             "the sweep's table is rewritten with these seeds' rows only)")
    parser.add_argument("--stage", choices=STAGES, default=None,
                        help="train the mimic (on the transfer set), the control (on the labels), or the teachers "
                             "(then label the variant's transfer set with them and train the mimic)")
    parser.add_argument("--teachers", action="append", default=[], metavar="NAME=PATH[,PATH...]",
                        help="label variant NAME's transfer set anew with these teacher files (an ensemble when several)")
    parser.add_argument("--only", nargs="+", metavar="VARIANT",
                        help="train only these variants and write no table (to train a sweep's variants in "
                             "parallel processes; then run the sweep without --only to tabulate)")
    parser.add_argument("--table", action="store_true",
                        help="write the table of the finished variants only, train nothing (the others are named)")
    parser.add_argument("--out", metavar="NAME",
                        help="with --table: write docs/experiments/NAME.* instead of the sweep's name (its "
                             "workdirs are still <base>-<sweep name>-<variant>), e.g. the same sweep on another base")
    parser.add_argument("--progress", action="store_true",
                        help="say how far each variant got (epochs in its logs, best validation accuracy), train nothing")
    parser.add_argument("--list", action="store_true",
                        help="print each variant's workdir and commands (checking the overrides), train nothing")
    args = parser.parse_args(argv)
    if args.out and not args.table:
        parser.error("--out names the table --table writes; give --table too")
    try:
        sweep = read_sweep(args.sweep) if args.sweep else {}
    except (OSError, ValueError) as e:
        parser.error(str(e))
    sweep.setdefault("variants", {})
    for key in ("base", "name", "common", "stage", "seeds"):
        if getattr(args, key) is not None:
            sweep[key] = getattr(args, key)
    for spec in args.variant:
        variant, _, overrides = spec.partition(":")
        sweep["variants"][variant] = overrides.split()
    for spec in args.teachers:
        variant, _, paths = spec.partition("=")
        sweep.setdefault("teachers", {})[variant] = [p for p in paths.split(",") if p]
    try:
        sweep = load_sweep(sweep)
    except ValueError as e:
        parser.error(str(e))
    if args.progress:
        print("\n".join(progress_sweep(sweep)))
        return 0
    if args.list:
        try:
            list_sweep(sweep)
        except ValueError as e:
            parser.error(str(e))
        return 0
    if args.table:
        rows, left_out = table_sweep(sweep, args.out)
        if left_out:
            print(f"left out, not finished: {', '.join(left_out)}", file=sys.stderr)
        return 0 if rows else 1
    best, why = _best_or_why(sweep)
    if why:
        parser.error(why)
    try:
        missing_teachers(sweep, [variant for variant, _, _ in _select(variants(sweep, best), args.only, sweep["name"])])
    except ValueError as e:
        parser.error(str(e))
    run_sweep(sweep, args.only, best)  # the grid's best read once (its table, and its line printed, once)


if __name__ == "__main__":
    sys.exit(main())
