"""Grouped hidden layers against the dense one: training step and inference, timed in one process.

    python bench/groups_speed.py [--cases cifar timit] [--calls N]

Issue 17, item 5a asks for the speed of the grouped mimics (`mimic.groups=G`, `GroupedDense`)
beside their accuracy; the sweeps' wall times cannot give it (their students ran side by side
with other jobs). Here the variants are the sweeps' own (data, not argv):

    cifar   the `cifar10-cpu` preset with `experiments/sweeps/groups.json`'s variants
            (baseline g1_h2000, the preset's dense mimic)
    timit   the `timit-quick` preset with `experiments/sweeps/timit_shape.json`'s k128 (the
            preset's dense mimic, baseline), g4_h8192, g4_h2048 and h5672
    timit-equal  g4_h8192 against h5672, the dense net of the same total parameters

Each variant B is timed against the baseline A as `bench/step_ab.py` times two models: both built
and compiled in one process and their compiled calls made alternately, A B B A ..., so load
drift on this shared machine hits both alike. Training: one step of the mimic stage's own
`Distiller` (`tasks.training.compile_distiller`, the preset's optimizer, loss, dtype policy and
`steps_per_execution` steps per call) on synthetic data held in memory (uint8 images or
features, random logits); inference: the student's forward pass (`training=False`) on one batch
of the preset's size in a `tf.function`. Per B: the median wall time per step (or batch) of A and
B, the ratio B/A with a 95% bootstrap interval (neighbouring calls resampled as pairs), and the
multiply-adds per example of each (counted from the layer shapes, `bench/inference.py`).
"""

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from inference import flops_per_example  # noqa: E402
from step_ab import _interval, alternate  # noqa: E402
from train_speed import synthetic_data  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = {
    # name: (preset, sweep file, variants (None: all), baseline)
    "cifar": ("cifar10-cpu", "experiments/sweeps/groups.json", None, "g1_h2000"),
    "timit": ("timit-quick", "experiments/sweeps/timit_shape.json", ["k128", "g4_h8192", "g4_h2048", "h5672"], "k128"),
    # grouped against dense at the same total parameters (2.006M each): the sweep's own question
    "timit-equal": ("timit-quick", "experiments/sweeps/timit_shape.json", ["h5672", "g4_h8192"], "h5672"),
}


def variant_configs(preset, sweep_path, names=None):
    """{variant: ExperimentConfig}: the preset with the sweep's common and variant overrides, in the sweep's order."""
    from mimic_keras import config

    with open(os.path.join(ROOT, sweep_path)) as f:
        sweep = json.load(f)
    unknown = sorted(set(names or ()) - set(sweep["variants"]))
    if unknown:
        raise ValueError(f"{sweep_path} has no variant {', '.join(unknown)}")
    base = config.get_preset(preset)
    return {name: config.apply_overrides(base, [*sweep.get("common", []), *overrides])
            for name, overrides in sweep["variants"].items() if names is None or name in names}


def input_shape(cfg):
    """One example's shape: TIMIT's stacked frames, or the image shape of CIFAR-10-sized data."""
    if cfg.data.dataset == "timit":
        from mimic_keras import timit_layout

        return (timit_layout.input_dim(cfg.data.context),)
    return (32, 32, 3)


def _runners(cfg, seed=0):
    """(training-step runner, inference runner, multiply-adds per example) of cfg's mimic."""
    import keras
    import tensorflow as tf

    from mimic_keras.models.mimics import build_mimic
    from mimic_keras.tasks.training import compile_distiller

    keras.mixed_precision.set_global_policy(_policy(cfg))
    keras.utils.set_random_seed(seed)
    shape, batch = input_shape(cfg), cfg.mimic_train.batch_size
    student = build_mimic(cfg.mimic, cfg.num_classes, input_shape=shape)
    macs = flops_per_example(student) // 2
    x, z, y = synthetic_data(shape, cfg.num_classes, batch * 8, seed)
    model = compile_distiller(cfg, student, steps_per_epoch=1000)
    spe = model.steps_per_execution
    data = tf.data.Dataset.from_tensor_slices((x, {"logits": z, "label": y})).repeat()
    iterator = iter(data.batch(batch, drop_remainder=True).prefetch(2))
    model.make_train_function()
    step = model.train_function
    forward = tf.function(lambda images: student(images, training=False))
    one_batch = tf.constant(x[:batch])

    def train():
        start = time.perf_counter()
        logs = step(iterator)
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, logs)
        return (time.perf_counter() - start) / spe

    def infer():
        start = time.perf_counter()
        forward(one_batch).numpy()
        return time.perf_counter() - start

    for _ in range(3):  # trace, then warm up
        train(), infer()
    return train, infer, macs


def _policy(cfg):
    import tensorflow as tf

    from mimic_keras import runtime

    if not cfg.mixed_precision:
        return "float32"
    return runtime.resolve_policy(cfg.mixed_precision, bool(tf.config.list_physical_devices("GPU")))


def ratio_line(label, a_name, b_name, pairs):
    """One output line: median ms of A and B, B/A and its bootstrap interval."""
    ma, mb = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
    lo, hi = _interval(pairs)
    return (f"    {label:9s} ms  {a_name} {ma * 1e3:8.2f}   {b_name} {mb * 1e3:8.2f}   "
            f"{b_name}/{a_name} {mb / ma:.3f} (95% {lo:.3f}–{hi:.3f})")


def run_case(name, calls):
    preset, sweep, names, baseline = CASES[name]
    configs = variant_configs(preset, sweep, names)
    a_cfg = configs.pop(baseline)
    a_train, a_infer, a_macs = _runners(a_cfg)
    print(f"{name}: preset {preset}, variants of {sweep}; baseline {baseline} "
          f"({a_macs / 1e6:.2f}M multiply-adds an example), batch {a_cfg.mimic_train.batch_size}, "
          f"{calls} alternations, policy {_policy(a_cfg)}", flush=True)
    for b_name, b_cfg in configs.items():
        b_train, b_infer, b_macs = _runners(b_cfg)
        print(f"  {b_name}: {b_macs / 1e6:.2f}M multiply-adds an example ({b_macs / a_macs:.3f}× {baseline}'s)",
              flush=True)
        print(ratio_line("train", baseline, b_name, alternate(a_train, b_train, calls)), flush=True)
        print(ratio_line("inference", baseline, b_name, alternate(a_infer, b_infer, calls)), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--calls", type=int, default=None,
                        help="alternations per pair and per measure (default: 40 for the TIMIT cases, 16 for cifar)")
    args = parser.parse_args(argv)

    from mimic_keras import console, runtime

    runtime.configure()
    console.quiet()
    started = time.perf_counter()
    print(f"{os.cpu_count()} CPUs visible; load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    for name in args.cases:
        run_case(name, args.calls or (40 if name.startswith("timit") else 16))
    print(f"(load average {os.getloadavg()[0]:.1f} at the end; wall {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
