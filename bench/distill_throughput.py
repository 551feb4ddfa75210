"""Mimic training throughput: cached logits vs an online teacher vs an online ensemble of 4.

    python bench/distill_throughput.py [--preset cifar10-cpu] [--steps 30] [--batch-size 128]

Trains the preset's mimic with the `Distiller` on in-memory images for the same number of steps
in each mode and prints samples/s and the ratios, all measured in this one run. Cached mode is
what `python -m mimic_keras.fit mimic` does; online mode runs the teacher(s) every step.
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
from mimic_keras.models.teachers import build_teacher


def samples_per_second(distiller, dataset, steps, batch_size):
    distiller.compile(optimizer=keras.optimizers.Adam(1e-4))
    distiller.fit(dataset.take(3), verbose=0)  # trace and warm up
    start = time.perf_counter()
    distiller.fit(dataset.take(steps), verbose=0)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cifar10-cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
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

    results = {}
    results["cached logits"] = samples_per_second(
        Distiller(build_mimic(cfg.mimic)), batch(cached), args.steps, args.batch_size)
    results["online, 1 teacher"] = samples_per_second(
        Distiller(build_mimic(cfg.mimic), teacher=teachers[0]), batch(online), args.steps, args.batch_size)
    results["online, ensemble of 4"] = samples_per_second(
        Distiller(build_mimic(cfg.mimic), teacher=build_ensemble(teachers)), batch(online), args.steps,
        args.batch_size)

    print(f"preset {args.preset}: mimic {build_mimic(cfg.mimic).count_params():,} params, "
          f"teacher {teachers[0].count_params():,} params, batch {args.batch_size}, {args.steps} steps")
    base = results["cached logits"]
    for name, rate in results.items():
        print(f"{name:24s} {rate:9.1f} samples/s   {base / rate:5.2f}x slower than cached" if rate != base
              else f"{name:24s} {rate:9.1f} samples/s   (baseline)")


if __name__ == "__main__":
    main()
