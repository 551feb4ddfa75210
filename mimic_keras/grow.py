"""Grow the transfer set where teacher and mimic disagree most (issue 17, item 5b).

Ba & Caruana ask whether a mimic can improve its teacher, in the sense of a GAN. This takes a
finished image run (its teacher(s), labelled transfer set and mimic) and:

1. scores transfer examples (all, or a random `--pool` of them) by ‖z_t(x) − z_m(x)‖², the
   squared L2 distance between the logits the label stage stored (an ensemble's mean) and the
   mimic's, and keeps the `--per-round` highest;
2. from each, takes `--steps` of signed-gradient ascent on that distance with respect to the
   input, both nets frozen: steps of `--step-size` in the input's own scale ([0, 255] pixels),
   staying within `--epsilon` of the source (L∞) and in the valid range; then quantises (uint8
   pixels) and scores again;
3. labels the synthesised inputs with the teacher(s) as the label stage does (mean logits) and
   writes them as the `train` split of a transfer set (records, manifest) in `--out`, with
   `grow.json` (counts, disagreement before and after, options, source run);
4. with `--finetune-teacher E`: fine-tunes a copy of teacher_0 for E epochs on its training
   set plus the synthesised inputs labelled with their source's class (adversarial training;
   the teacher's own logits would teach it nothing), and, as the control for the extra epochs,
   a copy for E epochs on the training set alone; scores both and the original on the test
   split (`Task.student_scores`; `mimic_keras.finetune`). The run's teacher is never touched.

    python -m mimic_keras.grow --workdir runs/cifar10-cpu --out runs/cifar10-cpu-grow/round_1 \\
        --pool 20000 --per-round 5000 --finetune-teacher 2
    cp -r runs/cifar10-cpu runs/cifar10-cpu-grown   # the mimic retrained on the grown set:
    python -m mimic_keras.fit mimic --workdir runs/cifar10-cpu-grown \\
        data.extra_transfer=runs/cifar10-cpu-grow/round_1

A synthesised record keeps its source's `id`, `view` and `label` (-1 stays -1). From code:
`grow(workdir, out, per_round=..., ...)` returns the summary.
"""

import dataclasses
import hashlib
import json
import os
import sys
import time
from typing import Optional

import numpy as np

from mimic_keras import console, finetune, jobs
from mimic_keras.jobs import option

SUMMARY = "grow.json"


@dataclasses.dataclass(frozen=True)
class Options:
    """The growing's options; the CLI's flags are generated from these fields."""

    workdir: str = option("a finished image run: its teacher(s), labelled transfer set and mimic")
    out: str = option("output folder: records, manifest.json, grow.json, fine-tuned teachers")
    per_round: int = option("transfer examples to grow from: those of highest disagreement", 256)
    pool: Optional[int] = option("score a random sample of this many transfer examples (default: all)", None)
    steps: int = option("signed-gradient ascent steps", 10)
    step_size: float = option("size of a step, in the input's scale ([0, 255] pixels)", 2.0)
    epsilon: float = option("L-infinity radius around the source, in the input's scale", 8.0)
    seed: int = option("seed of the pool's sample and of the fine-tuning", 0)
    batch_size: int = option("examples per model call and ascent step", 128)
    finetune_teacher: int = option("epochs to fine-tune copies of teacher_0, with and without the grown inputs "
                                   "(0: none)", 0)
    finetune_lr: Optional[float] = option("their learning rate (default: teacher_train.learning_rate / 10)", None)
    force: bool = option("replace an output folder holding files no job wrote", False)


def check_options(options):
    """Refuses values that cannot work, in one line naming the flag."""
    for name in ("per_round", "steps", "batch_size"):
        if getattr(options, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(options, name)}: must be at least 1")
    for name in ("step_size", "epsilon"):
        if not getattr(options, name) > 0:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(options, name)}: must be above 0")
    if options.pool is not None and options.pool < options.per_round:
        raise ValueError(f"--pool={options.pool}: must be at least --per-round={options.per_round}")
    if options.finetune_teacher < 0 or (options.finetune_lr is not None and not options.finetune_lr > 0):
        raise ValueError("--finetune-teacher must be at least 0 and --finetune-lr above 0")


def disagreement(teacher_logits, mimic_logits):
    """‖z_t − z_m‖² per example (float32 arrays of logits, [N, classes] → [N])."""
    gap = np.asarray(teacher_logits, np.float32) - np.asarray(mimic_logits, np.float32)
    return np.sum(gap * gap, axis=-1)


def open_run(workdir):
    """(task, layout) of a finished run that can grow its transfer set.

    Raises:
        ValueError: a run whose task cannot synthesise inputs (one line saying why), or one
            without a labelled transfer set or a mimic.
    """
    from mimic_keras import config as config_lib
    from mimic_keras.layout import Layout
    from mimic_keras.tasks import get_task

    layout = Layout(workdir)
    if not os.path.isfile(layout.config):
        raise ValueError(f"{workdir} holds no run (no config.json)")
    task = get_task(config_lib.get_preset(layout.config))
    if task.input_range is None:
        raise ValueError(f"{workdir}: cannot grow the transfer set of a {task.cfg.data.dataset} run: {task.cannot_grow}")
    if not os.path.isfile(os.path.join(layout.transfer, "manifest.json")):
        raise ValueError(f"{workdir} has no labelled transfer set ({layout.transfer}): run its label stage first")
    if not os.path.isfile(layout.model("mimic")):
        raise ValueError(f"{workdir} has no mimic ({layout.model('mimic')}): run its mimic stage first")
    return task, layout


def select(task, layout, mimic, count, pool=None, seed=0, batch_size=128):
    """The `count` transfer examples of highest disagreement between stored teacher logits and `mimic`.

    Args:
        pool: score a random sample of this many (seeded) instead of the whole training split.

    Returns:
        (picked, scored, pool_mean): arrays `inputs`, `label`, `id`, `view`, `logits`, `score` of
        the picked examples, highest score first; how many were scored; their mean score.
    """
    import tensorflow as tf

    from mimic_keras.data import writer

    ds = task.grow_source(layout)
    if pool is not None:
        total = writer.read_manifest(layout.transfer)["splits"]["train"]["count"]
        mask = np.zeros(total, bool)
        mask[np.random.default_rng(seed).choice(total, min(pool, total), replace=False)] = True
        keep = tf.constant(mask)
        ds = ds.enumerate().filter(lambda index, _: tf.gather(keep, index)).map(lambda _, example: example)
    score = tf.function(lambda x, z: tf.reduce_sum(tf.square(z - tf.cast(mimic(x, training=False), tf.float32)), -1))
    best, scored, total_score = None, 0, 0.0
    for batch in ds.batch(batch_size).prefetch(2):
        batch = {k: v.numpy() for k, v in batch.items()}
        batch["score"] = score(batch["inputs"], batch["logits"]).numpy()
        scored, total_score = scored + len(batch["score"]), total_score + float(batch["score"].sum())
        best = batch if best is None else {k: np.concatenate([best[k], batch[k]]) for k in best}
        top = np.argsort(-best["score"], kind="stable")[:count]
        best = {k: v[top] for k, v in best.items()}
    if best is None:
        raise ValueError(f"{layout.transfer}: its train split has no examples to grow from")
    return best, scored, total_score / scored


def float_view(model):
    """`model` on float32 inputs of its input's shape, its layers shared: a uint8 input would cut the gradient."""
    import keras

    spec = model.inputs[0]
    inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype="float32", name=spec.name.split(":")[0])
    try:
        return keras.models.clone_model(model, input_tensors=inputs, clone_function=lambda layer: layer)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{model.name}: cannot take float inputs for the gradient ({str(e).splitlines()[0]})") from None


def ascend(teachers, mimic, inputs, steps, step_size, epsilon, input_range, input_step=None, batch_size=128):
    """Signed-gradient ascent on ‖mean_t z_t(x) − z_m(x)‖² from `inputs`, every model frozen.

    Each step moves every input value by `step_size` in the direction of the gradient's sign,
    then clips to the L∞ ball of `epsilon` around the source and to `input_range`. The result
    is rounded to multiples of `input_step` (when given) inside both bounds.

    Args:
        teachers: the teacher models (their logits are averaged: the label stage's rule).
        mimic: the mimic model.
        inputs: the sources, [N, ...] in the models' input scale.

    Returns:
        The synthesised inputs, float32, the shape of `inputs`.

    Raises:
        ValueError: a model that gives no gradient with respect to its input.
    """
    import tensorflow as tf

    nets = [float_view(m) for m in teachers]
    student = float_view(mimic)
    low, high = input_range

    def gap(x):
        teacher = tf.add_n([tf.cast(t(x, training=False), tf.float32) for t in nets]) / len(nets)
        return tf.reduce_sum(tf.square(teacher - tf.cast(student(x, training=False), tf.float32)), -1)

    @tf.function
    def step(x, lower, upper):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(gap(x))
        return tf.clip_by_value(x + step_size * tf.sign(tape.gradient(total, x)), lower, upper)

    probe = tf.constant(np.asarray(inputs[:1], np.float32))
    for net in (*nets, student):
        with tf.GradientTape() as tape:
            tape.watch(probe)
            total = tf.reduce_sum(tf.cast(net(probe, training=False), tf.float32))
        if tape.gradient(total, probe) is None:
            raise ValueError(f"{net.name} gives no gradient with respect to its input (does it cast it to integers?)")

    out = []
    for start in range(0, len(inputs), batch_size):
        source = np.asarray(inputs[start:start + batch_size], np.float32)
        reach = float(np.floor(epsilon / input_step) * input_step if input_step else epsilon)
        lower = np.maximum(source - reach, low).astype(np.float32)
        upper = np.minimum(source + reach, high).astype(np.float32)
        x = tf.constant(source)
        for _ in range(steps):
            x = step(x, lower, upper)
        x = x.numpy()
        if input_step:
            x = np.clip(np.round(x / input_step) * input_step, lower, upper)
        out.append(x)
    return np.concatenate(out).astype(np.float32)


def _batched(fn, inputs, batch_size):
    return np.concatenate([np.asarray(fn(inputs[i:i + batch_size]), np.float32)
                           for i in range(0, len(inputs), batch_size)])


def _fingerprint(options, transfer, mimic_path):
    from mimic_keras.teachers_io import model_fingerprint

    chosen = {k: v for k, v in dataclasses.asdict(options).items() if k not in ("workdir", "out", "force")}
    identity = [transfer.fingerprint, transfer.teacher.fingerprint, model_fingerprint(mimic_path), chosen]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def run(options):
    """Grows the transfer set of `options.workdir` into `options.out`; returns the summary (`grow.json`).

    A rerun with the same inputs and options finds the finished output and does nothing.

    Raises:
        ValueError: bad options, or a run that cannot grow (TIMIT, no mimic, ...): one line.
    """
    import keras

    from mimic_keras import stages
    from mimic_keras.data import writer
    from mimic_keras.data.manifest import Manifest, Shard, Source, Split
    from mimic_keras.tasks.training import check_transfer_set
    from mimic_keras.teachers_io import TeacherSet

    check_options(options)
    task, layout = open_run(options.workdir)
    check_transfer_set(task, layout)  # the transfer set's logits are these teachers'
    transfer = Manifest.read(layout.transfer)
    fingerprint = _fingerprint(options, transfer, layout.model("mimic"))
    if writer.is_complete(options.out, fingerprint) and not options.force:
        print(f"{options.out}: already grown from this run with these options; nothing to do")
        with open(os.path.join(options.out, SUMMARY)) as f:
            return json.load(f)
    started = time.time()
    status = stages.check("mimic", task.cfg, layout)
    if not status.up_to_date:  # still usable (a mimic trained by hand), but the summary says so
        print(f"note: {options.workdir}: its mimic stage is not up to date ({status.reason})", flush=True)
    teachers = TeacherSet(task.teacher_paths(layout))
    mimic = keras.saving.load_model(layout.model("mimic"), compile=False)
    picked, scored, pool_mean = select(task, layout, mimic, options.per_round, options.pool, options.seed,
                                       options.batch_size)
    print(f"scored {scored} transfer examples (mean disagreement {pool_mean:.4f}); growing from the "
          f"{len(picked['score'])} highest (mean {picked['score'].mean():.4f})", flush=True)
    grown = ascend(teachers.models, mimic, picked["inputs"], options.steps, options.step_size, options.epsilon,
                   task.input_range, task.input_step, options.batch_size)
    stored = grown.astype(picked["inputs"].dtype)
    logits = _batched(teachers, stored, options.batch_size)  # the label stage's rule: the members' mean
    mimic_logits = _batched(lambda x: mimic(x, training=False), stored, options.batch_size)
    after = disagreement(logits, mimic_logits)
    change = np.abs(grown - picked["inputs"].astype(np.float32)).reshape(len(grown), -1).max(axis=1)
    summary = {
        "source_run": os.path.abspath(options.workdir), "transfer": os.path.abspath(layout.transfer),
        "mimic": os.path.abspath(layout.model("mimic")), "teachers": teachers.paths,
        "options": {k: v for k, v in dataclasses.asdict(options).items() if k != "force"},
        "seed": options.seed, "transfer_examples": int(transfer.splits["train"].count), "scored": scored,
        "grown": len(grown), "mimic_up_to_date": status.up_to_date,
        "disagreement": {"scored_mean": pool_mean, "before": float(picked["score"].mean()),
                         "after": float(after.mean()), "after_median": float(np.median(after)),
                         "increased": float(np.mean(after > picked["score"]))},
        "max_abs_change": float(change.max()), "mean_max_abs_change": float(change.mean()),
        "teacher_class_changed": float(np.mean(logits.argmax(-1) != picked["logits"].argmax(-1))),
    }
    d = summary["disagreement"]
    print(f"disagreement of the {len(grown)} picked: {d['before']:.4f} before, {d['after']:.4f} after "
          f"{options.steps} steps (higher for {d['increased']:.1%}); the teacher changed its class on "
          f"{summary['teacher_class_changed']:.1%}", flush=True)
    records = (task.grow_record(x, label, i, z, view) for x, label, i, z, view
               in zip(stored, picked["label"], picked["id"], logits, picked["view"]))
    with jobs.atomic_output(options.out, force=options.force) as build:
        shards = writer.write_shards(build, "train", records, max(1, round(len(grown) / 10_000)))
        if options.finetune_teacher:
            summary["finetune"] = finetune.compare(task, layout, stored, picked["label"], build, options.finetune_teacher,
                                                   options.finetune_lr, options.seed)
        summary["seconds"] = round(time.time() - started, 1)
        writer.write_json_atomic(os.path.join(build, SUMMARY), summary)
        Manifest(
            dataset=transfer.dataset, fingerprint=fingerprint, num_classes=transfer.num_classes,
            source=Source(path=os.path.abspath(layout.transfer), fingerprint=transfer.fingerprint),
            teacher=transfer.teacher, options=summary["options"],
            splits={"train": Split(count=len(grown), views=0, mixup=0, shards=[Shard(**s) for s in shards])},
            extra={k: transfer.extra[k] for k in ("classes", "image_shape") if k in transfer.extra},
        ).write(build)
    return summary


def grow(workdir, out, **kwargs):
    """`run(Options(workdir=workdir, out=out, **kwargs))`: grows a run's transfer set; returns the summary.

    Example:
    ```python
    summary = grow("runs/cifar10-cpu", "runs/cifar10-cpu-grow/round_1", pool=20000, per_round=5000)
    summary["disagreement"]  # {"before": ..., "after": ..., ...}
    ```
    """
    return run(Options(workdir=workdir, out=out, **kwargs))


def main(argv=None):
    """The command line, generated from `Options`: exit status 0, or 2 with a one-line error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    console.quiet("--verbose" in argv)  # before TensorFlow is imported
    return jobs.run_cli(Options, run, [a for a in argv if a != "--verbose"], prog="python -m mimic_keras.grow",
                        description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
