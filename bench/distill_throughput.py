"""Mimic training throughput: cached logits vs an online teacher vs an online ensemble of 4.

    python bench/distill_throughput.py [--preset cifar10-cpu] [--steps 30] [--batch-size 128] [--rounds 3]

Trains the preset's mimic with the `Distiller` on in-memory images for the same number of steps
in each mode and prints samples/s and the ratios, all measured in this one run. Cached mode is
what `python -m mimic_keras.fit mimic` does; online mode runs the teacher(s) every step. The
timed passes alternate between the modes, `--rounds` times; reported are the best samples/s
(wall clock) and the median CPU time of all threads per 1000 samples (the steadier measure on
a shared machine), each as a ratio to cached mode.
"""

import argparse
import time

import keras
import numpy as np
import tensorflow as tf

from mimic_keras.config import get_preset
from mimic_keras.distiller import Distiller
from mimic_keras.models.ensemble import build_ensemble
from mimic_keras.models.mimics import build_mimic
from mimic_keras.models.convnet import build_teacher


def timed_pass(distiller, dataset, steps, batch_size):
    """(samples/s, CPU ms of all threads per 1000 samples) of one pass."""
    start, cpu = time.perf_counter(), time.process_time()
    distiller.fit(dataset.take(steps), verbose=0)
    return steps * batch_size / (time.perf_counter() - start), (time.process_time() - cpu) * 1e6 / (steps * batch_size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cifar10-cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cfg = get_preset(args.preset)
    n = args.batch_size * 8
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    teachers = [build_teacher(cfg.teacher, name=f"teacher_{i}") for i in range(4)]
    logits = teachers[0].predict(images, verbose=0)

    cached = tf.data.Dataset.from_tensor_slices((images, {"logits": logits, "label": labels}))
    online = tf.data.Dataset.from_tensor_slices((images, labels))
    batch = lambda ds: ds.repeat().batch(args.batch_size).prefetch(tf.data.AUTOTUNE)  # noqa: E731

    modes = {
        "cached logits": (Distiller(build_mimic(cfg.mimic)), batch(cached)),
        "online, 1 teacher": (Distiller(build_mimic(cfg.mimic), teacher=teachers[0]), batch(online)),
        "online, ensemble of 4": (Distiller(build_mimic(cfg.mimic), teacher=build_ensemble(teachers)), batch(online)),
    }
    for distiller, dataset in modes.values():
        distiller.compile(optimizer=keras.optimizers.Adam(1e-4))
        distiller.fit(dataset.take(3), verbose=0)  # trace and warm up
    forward = tf.function(lambda x: teachers[0](x, training=False))  # for scale: one teacher's inference

    def teacher_pass():
        start = time.perf_counter()
        for x, _ in batch(online).take(args.steps):
            forward(x).numpy()
        return args.steps * args.batch_size / (time.perf_counter() - start)

    teacher_pass()
    passes = {name: [] for name in modes}
    cpu_ms = {name: [] for name in modes}
    teacher_rates = []
    for _ in range(args.rounds):
        for name, (distiller, dataset) in modes.items():
            rate, cpu = timed_pass(distiller, dataset, args.steps, args.batch_size)
            passes[name].append(rate)
            cpu_ms[name].append(cpu)
        teacher_rates.append(teacher_pass())
    results = {name: max(rates) for name, rates in passes.items()}
    cpu = {name: float(np.median(values)) for name, values in cpu_ms.items()}

    print(f"preset {args.preset}: mimic {build_mimic(cfg.mimic).count_params():,} params, "
          f"teacher {teachers[0].count_params():,} params, batch {args.batch_size}, {args.steps} steps per pass, "
          f"best of {args.rounds}")
    base, base_cpu = results["cached logits"], cpu["cached logits"]
    print(f"{'':24s} {'best samples/s':>14} {'slower':>7}   {'median CPU ms/1k':>16} {'costlier':>8}   passes (samples/s)")
    for name, rate in results.items():
        print(f"{name:24s} {rate:14.1f} {base / rate:6.2f}x   {cpu[name]:16.0f} {cpu[name] / base_cpu:7.2f}x   "
              f"{', '.join(f'{r:.0f}' for r in passes[name])}")
    print(f"{'(1 teacher, inference)':24s} {max(teacher_rates):14.1f}           (forward pass only, for scale)")


if __name__ == "__main__":
    main()
