"""The MLP mimic's achieved FLOP/s as a fraction of this machine's float32 matmul ceiling.

    python bench/mlp_flops.py [--bottleneck 250] [--hidden 8000] [--batch-size 256] [--steps 20] [--rounds 3]

Measured in one run, each the best of `--rounds` alternated passes (the machine may be shared):

    ceiling    float32 `tf.matmul` of two 2048 x 2048 matrices, 2·n³ FLOPs each, in a tf.function
    raw step   the same MLP's training step written as bare TF ops (matmuls, ReLU, L2 loss,
               gradients, SGD update) in one tf.function: what the shapes allow
    Distiller  `Distiller.fit` on the MLP mimic (Keras, Adam), cached teacher logits in memory

The mimic is TIMIT's: 1845 inputs (±7 frames × 123) → linear bottleneck k → H ReLU → 183
logits (defaults: SNN-MIMIC-8k, k = 250, H = 8000). A training step costs, per example,
2·M forward + 2·M for the weight gradients + 2·(M − M₁) for the input gradients of all
layers but the first, M being the multiply-adds of the three matmuls and M₁ the first's.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mimic_keras import timit_layout  # noqa: E402
from mimic_keras.config import MimicConfig  # noqa: E402
from mimic_keras.distiller import Distiller  # noqa: E402
from mimic_keras.models.mimics import build_mimic  # noqa: E402

INPUTS, OUTPUTS = timit_layout.INPUT_DIM, timit_layout.NUM_STATES


def layer_shapes(bottleneck, hidden):
    dims = [INPUTS] + ([bottleneck] if bottleneck else []) + [hidden, OUTPUTS]
    return list(zip(dims[:-1], dims[1:]))


def train_flops_per_example(bottleneck, hidden):
    macs = [a * b for a, b in layer_shapes(bottleneck, hidden)]
    return 6 * sum(macs) - 2 * macs[0]


def best_rate(fn, work, rounds_results, key):
    """Calls `fn()` (which does `work` units), records units/s in `rounds_results[key]`."""
    start = time.perf_counter()
    fn()
    rounds_results.setdefault(key, []).append(work / (time.perf_counter() - start))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bottleneck", type=int, default=250)
    parser.add_argument("--hidden", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed pass")
    parser.add_argument("--rounds", type=int, default=3, help="alternated passes; the best is kept")
    parser.add_argument("--matmul-size", type=int, default=2048)
    args = parser.parse_args(argv)
    b, n = args.batch_size, args.matmul_size
    rng = np.random.default_rng(0)

    # Ceiling: repeated square matmuls inside one tf.function (no Python per op).
    a = tf.constant(rng.normal(size=(n, n)).astype(np.float32))
    reps = 8

    @tf.function
    def matmuls(x):
        for _ in range(reps):
            x = tf.matmul(x, a) * (1.0 / n)  # keep values finite
        return tf.reduce_sum(x)

    # Raw step: the MLP's training step as bare ops.
    shapes = layer_shapes(args.bottleneck, args.hidden)
    weights = [tf.Variable(rng.normal(0, (1 / d) ** 0.5, (d, o)).astype(np.float32)) for d, o in shapes]
    x = rng.normal(size=(b * 8, INPUTS)).astype(np.float32)
    z = rng.normal(size=(b * 8, OUTPUTS)).astype(np.float32)

    @tf.function
    def raw_steps(xs, zs):
        for i in tf.range(args.steps):
            j = (i % 8) * b
            xb, zb = xs[j:j + b], zs[j:j + b]
            with tf.GradientTape() as tape:
                h = xb
                for k, w in enumerate(weights):
                    h = tf.matmul(h, w)
                    if k == len(weights) - 2:
                        h = tf.nn.relu(h)
                loss = 0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(h - zb), axis=1))
            for w, g in zip(weights, tape.gradient(loss, weights)):
                w.assign_sub(1e-5 * g)
        return loss

    xs, zs = tf.constant(x), tf.constant(z)
    cfg = MimicConfig(conv_filters=0, bottleneck=args.bottleneck, hidden=args.hidden)
    student = build_mimic(cfg, OUTPUTS, input_shape=(INPUTS,))
    distiller = Distiller(student)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-5))
    data = tf.data.Dataset.from_tensor_slices((x, z)).repeat().batch(b).prefetch(4)

    # Warm up (trace) each.
    matmuls(a).numpy()
    raw_steps(xs, zs).numpy()
    distiller.fit(data, steps_per_epoch=3, epochs=1, verbose=0)

    flops_matmul = reps * 2 * n**3
    flops_step = train_flops_per_example(args.bottleneck, args.hidden) * b
    rates = {}
    for _ in range(args.rounds):
        best_rate(lambda: matmuls(a).numpy(), flops_matmul, rates, "ceiling")
        best_rate(lambda: raw_steps(xs, zs).numpy(), flops_step * args.steps, rates, "raw")
        best_rate(lambda: distiller.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0),
                  flops_step * args.steps, rates, "distiller")
    best = {k: max(v) for k, v in rates.items()}

    print(f"MLP mimic {' -> '.join(str(d) for d, _ in shapes)} -> {OUTPUTS}: {student.count_params():,} params; "
          f"{train_flops_per_example(args.bottleneck, args.hidden) / 1e6:.1f} MFLOP per training example; "
          f"batch {b}, {args.steps} steps per pass, best of {args.rounds}; {os.cpu_count()} CPUs visible; "
          f"TF {tf.__version__}, devices: {', '.join(d.name for d in tf.config.list_logical_devices())}")
    ceiling = best["ceiling"]
    print(f"float32 matmul ceiling ({n}x{n}):        {ceiling / 1e9:8.1f} GFLOP/s")
    print(f"raw TF training step (same shapes):     {best['raw'] / 1e9:8.1f} GFLOP/s  "
          f"{best['raw'] / ceiling:6.1%} of ceiling  {best['raw'] / flops_step * b:8.0f} examples/s")
    print(f"Distiller.fit (Keras, Adam):            {best['distiller'] / 1e9:8.1f} GFLOP/s  "
          f"{best['distiller'] / ceiling:6.1%} of ceiling  {best['distiller'] / flops_step * b:8.0f} examples/s")
    spread = {k: f"{min(v) / 1e9:.1f}-{max(v) / 1e9:.1f}" for k, v in rates.items()}
    print(f"spread over passes (GFLOP/s): {spread}")


if __name__ == "__main__":
    main()
