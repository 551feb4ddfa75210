"""Effect of mixed precision, XLA and steps_per_execution on mimic training speed (CIFAR-10 and TIMIT).

    python bench/precision_xla.py [--steps 24] [--rounds 3] [--policy auto|mixed_bfloat16|mixed_float16]

For the CIFAR-10 mimic (the cifar10-cpu preset's: conv 64, k 256, H 2000) and TIMIT MLP
mimics (1845 → k → H → 183), trains the `Distiller` on cached logits held in memory under
each option set, the same ones `fit` takes from the config (`mixed_precision`,
`jit_compile`, `steps_per_execution`):

    float32 | float32 + XLA | mixed | mixed + XLA | float32, steps_per_execution 8

`mixed` is `mixed_float16` on a GPU and `mixed_bfloat16` on a CPU (`--policy auto`). Every
model is built and traced first; then the timed passes alternate between them, `--rounds`
times. Reported per option set: the best samples/s (wall clock) and the median CPU time
(all threads) per 1000 samples, each with its speed-up over float32. On a shared machine the
wall clock swings with the neighbours' load; CPU time per sample is the steadier measure of
the work an option set saves, alternating gives every option set the same conditions.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mimic_keras import timit_layout  # noqa: E402
from mimic_keras.config import MimicConfig, get_preset  # noqa: E402
from mimic_keras.distiller import Distiller  # noqa: E402
from mimic_keras.models.mimics import build_mimic  # noqa: E402


def option_sets(policy):
    return {
        "float32": dict(policy="float32", jit_compile=False, steps_per_execution=1),
        "float32 + XLA": dict(policy="float32", jit_compile=True, steps_per_execution=1),
        policy: dict(policy=policy, jit_compile=False, steps_per_execution=1),
        f"{policy} + XLA": dict(policy=policy, jit_compile=True, steps_per_execution=1),
        "float32, steps_per_execution 8": dict(policy="float32", jit_compile=False, steps_per_execution=8),
    }


def build(mimic_cfg, num_classes, input_shape, options):
    keras.mixed_precision.set_global_policy(options["policy"])
    try:
        keras.utils.set_random_seed(0)
        distiller = Distiller(build_mimic(mimic_cfg, num_classes, input_shape=input_shape))
        distiller.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=options["jit_compile"],
                          steps_per_execution=options["steps_per_execution"])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return distiller


def compare(name, mimic_cfg, num_classes, inputs, batch_size, steps, rounds, policy):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(len(inputs), num_classes)).astype(np.float32)
    data = tf.data.Dataset.from_tensor_slices((inputs, logits)).repeat().batch(batch_size).prefetch(4)
    models = {}
    for label, options in option_sets(policy).items():
        models[label] = build(mimic_cfg, num_classes, inputs.shape[1:], options)
        models[label].fit(data, steps_per_epoch=8, epochs=1, verbose=0)  # trace / compile
    rates = {label: [] for label in models}
    cpu_ms = {label: [] for label in models}  # CPU time of all threads per 1000 samples
    for _ in range(rounds):
        for label, distiller in models.items():
            start, cpu = time.perf_counter(), time.process_time()
            distiller.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
            rates[label].append(steps * batch_size / (time.perf_counter() - start))
            cpu_ms[label].append((time.process_time() - cpu) * 1e6 / (steps * batch_size))
    params = next(iter(models.values())).student.count_params()
    print(f"{name}: {params:,} params, batch {batch_size}, {steps} steps per pass, {rounds} passes each")
    print(f"  {'':<32} {'best samples/s':>14} {'ratio':>6}   {'median CPU ms/1k':>16} {'ratio':>6}   passes (samples/s)")
    base, base_cpu = max(rates["float32"]), float(np.median(cpu_ms["float32"]))
    for label, values in rates.items():
        cpu = float(np.median(cpu_ms[label]))
        print(f"  {label:<32} {max(values):>14,.0f} {max(values) / base:>5.2f}x   {cpu:>16,.0f} {base_cpu / cpu:>5.2f}x   "
              f"{', '.join(f'{v:,.0f}' for v in values)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=24, help="steps per timed pass (a multiple of 8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--policy", default="auto", choices=["auto", "mixed_bfloat16", "mixed_float16"])
    parser.add_argument("--only", choices=["cifar10", "timit"], help="one of the two mimics")
    args = parser.parse_args(argv)
    args.steps = -(-args.steps // 8) * 8  # whole executions of steps_per_execution 8
    gpu = bool(tf.config.list_logical_devices("GPU"))
    policy = args.policy if args.policy != "auto" else ("mixed_float16" if gpu else "mixed_bfloat16")
    print(f"{os.cpu_count()} CPUs visible; TF {tf.__version__}; Keras {keras.__version__}; devices: "
          f"{', '.join(d.name for d in tf.config.list_logical_devices())}; mixed policy: {policy}")
    rng = np.random.default_rng(0)
    if args.only in (None, "cifar10"):
        cpu = get_preset("cifar10-cpu")
        images = rng.integers(0, 256, (2048, 32, 32, 3), dtype=np.uint8)
        compare(f"CIFAR-10 mimic (conv {cpu.mimic.conv_filters}, k {cpu.mimic.bottleneck}, H {cpu.mimic.hidden})",
                cpu.mimic, 10, images, cpu.mimic_train.batch_size, args.steps, args.rounds, policy)
    if args.only in (None, "timit"):
        frames = rng.normal(size=(4096, timit_layout.INPUT_DIM)).astype(np.float32)
        for k, h in ((128, 2048), (250, 8000)):
            compare(f"TIMIT MLP mimic (1845 -> k {k} -> H {h} -> 183)", MimicConfig(conv_filters=0, bottleneck=k, hidden=h),
                    timit_layout.NUM_STATES, frames, 256, args.steps, args.rounds, policy)


if __name__ == "__main__":
    main()
