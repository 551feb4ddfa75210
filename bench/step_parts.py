"""Parts of a mimic's training step, timed outside Keras.

    python bench/step_parts.py [--rounds 5]              # the conv mimic's update and input gradient
    python bench/step_parts.py --mimic timit [--rounds 40]   # the TIMIT mimic: each GEMM, and the rest

The conv mimic (k 1200, H 8000) has 49M dense weights. Keras 3's SGD update is a chain of
element-wise ops; TensorFlow runs each as a pass over all of them. Timed here in one process,
alternating, median CPU time of all threads (`time.process_time`) per update:

    plain      m ← μ·m − η·g; w ← w + m                 (keras.optimizers.SGD(momentum=0.9))
    nesterov   m ← μ·m − η·g; w ← w + μ·m − η·g         (nesterov=True: what `make_optimizer` built)
    fused      the same Nesterov update as one `ResourceApplyKerasMomentum` kernel (`FusedSGD`)

and the bottleneck's input-gradient matmul of a batch of 128, dY (128 × 1200) · Wᵀ with the
kernel W of 32,768 × 1,200, as the gradient tape writes it (`tf.matmul(dy, w, transpose_b=True)`).

Run it with TF_ENABLE_ONEDNN_OPTS=0 and =1 to see oneDNN's effect.

`--mimic timit` (1845 → k 250 → H 8000 → 183, batch 512) times, median wall ms of `--rounds`
calls each: every matmul of a training step at its shape (forward, weight and input
gradients), with its GFLOP/s, then what else a step must do: the fused Nesterov update of all
3.9M weights, ReLU and bias forward and backward over the 512 × 8000 hidden layer (an upper
bound: in the step the forward is fused into the matmul), and the next batch from memory.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

WEIGHTS = 32768 * 1200 + 1200 * 8000 + 8000 * 10  # bottleneck, hidden, logits kernels


def _median_ms(fn, arg, rounds):
    fn(arg).numpy()  # trace
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn(arg).numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def timit_parts(rounds):
    import numpy as np

    batch, d, k, h, c = 512, 1845, 250, 8000, 183
    rng = np.random.default_rng(0)

    def tensor(*shape):
        return tf.constant(rng.normal(size=shape).astype(np.float32))

    x, w1, w2, w3, dy, h1, h2 = (tensor(batch, d), tensor(d, k), tensor(k, h), tensor(h, c), tensor(batch, c),
                                 tensor(batch, k), tensor(batch, h))
    gemms = {  # name: (a, b, transpose_a, transpose_b), as the forward pass and the gradient tape write them
        f"forward   x·W1   {batch}×{d}×{k}": (x, w1, False, False),
        f"forward   h1·W2  {batch}×{k}×{h}": (h1, w2, False, False),
        f"forward   h2·W3  {batch}×{h}×{c}": (h2, w3, False, False),
        f"input gr. dy·W3ᵀ {batch}×{c}×{h}": (dy, w3, False, True),
        f"input gr. dh·W2ᵀ {batch}×{h}×{k}": (h2, w2, False, True),
        f"weight g. h2ᵀ·dy {h}×{batch}×{c}": (h2, dy, True, False),
        f"weight g. h1ᵀ·dh {k}×{batch}×{h}": (h1, h2, True, False),
        f"weight g. xᵀ·dh1 {d}×{batch}×{k}": (x, h1, True, False),
    }
    total_ms = total_flops = 0.0
    print(f"TIMIT mimic step parts, batch {batch}; TF_ENABLE_ONEDNN_OPTS="
          f"{os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}; load average {os.getloadavg()[0]:.1f}; "
          f"median wall ms over {rounds} calls")
    for name, (a, b, ta, tb) in gemms.items():
        fn = tf.function(lambda _, a=a, b=b, ta=ta, tb=tb: tf.reduce_sum(tf.matmul(a, b, transpose_a=ta, transpose_b=tb)))
        ms = _median_ms(fn, 0, rounds)
        m, n = (a.shape[1] if ta else a.shape[0]), (b.shape[0] if tb else b.shape[1])
        flops = 2 * m * n * (a.shape[0] if ta else a.shape[1])
        total_ms, total_flops = total_ms + ms, total_flops + flops
        print(f"  {name:34s} {ms:7.2f} ms  {flops / ms / 1e6:6.1f} GFLOP/s")
    print(f"  {'all GEMMs':34s} {total_ms:7.2f} ms  {total_flops / total_ms / 1e6:6.1f} GFLOP/s")

    weights = d * k + k * h + h + h * c + c
    w, m_ = tf.Variable(tf.random.normal([weights])), tf.Variable(tf.zeros([weights]))
    g, lr, mu = tf.random.normal([weights]), tf.constant(0.01), tf.constant(0.9)

    @tf.function
    def update(g):
        tf.raw_ops.ResourceApplyKerasMomentum(var=w.handle, accum=m_.handle, lr=lr, grad=g, momentum=mu,
                                              use_nesterov=True)
        return tf.constant(0.0)

    bias, upstream = tensor(h), tensor(batch, h)

    @tf.function
    def relu_bias(pre):
        out = tf.nn.relu(pre + bias)
        grad = tf.raw_ops.ReluGrad(gradients=upstream, features=out)
        return tf.reduce_sum(tf.reduce_sum(grad, 0)) + tf.reduce_sum(out[:1])

    batches = iter(tf.data.Dataset.from_tensor_slices(rng.normal(size=(8 * batch, d)).astype(np.float32))
                   .repeat().batch(batch).prefetch(2))

    @tf.function
    def next_batch(_):
        return tf.reduce_sum(next(batches)[:1])

    rest = {f"fused Nesterov update, {weights:,} weights": (update, g), f"ReLU + bias fwd and bwd, {batch}×{h}":
            (relu_bias, h2), "next batch from memory": (next_batch, 0)}
    for name, (fn, arg) in rest.items():
        print(f"  {name:34s} {_median_ms(fn, arg, rounds):7.2f} ms")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mimic", choices=("cifar", "timit"), default="cifar")
    parser.add_argument("--rounds", type=int, default=None, help="default: 5 (cifar), 40 (timit)")
    args = parser.parse_args(argv)
    if args.mimic == "timit":
        return timit_parts(args.rounds or 40)
    args.rounds = args.rounds or 5
    w = tf.Variable(tf.random.normal([WEIGHTS]))
    m = tf.Variable(tf.zeros([WEIGHTS]))
    g = tf.random.normal([WEIGHTS])
    lr, mu = tf.constant(0.01), tf.constant(0.9)

    @tf.function
    def plain(g):
        m.assign(m * mu - g * lr)
        w.assign_add(m)

    @tf.function
    def nesterov(g):
        m.assign(m * mu - g * lr)
        w.assign_add(m * mu - g * lr)

    @tf.function
    def fused(g):
        tf.raw_ops.ResourceApplyKerasMomentum(var=w.handle, accum=m.handle, lr=lr, grad=g, momentum=mu,
                                              use_nesterov=True)

    dy, kernel = tf.random.normal([128, 1200]), tf.random.normal([32768, 1200])

    @tf.function
    def input_grad(_):
        return tf.matmul(dy, kernel, transpose_b=True)

    updates = (plain, nesterov, fused, input_grad)
    for update in updates:
        update(g)  # trace
    cpu = {update.__name__: [] for update in updates}
    for _ in range(args.rounds):
        for update in updates:
            start = time.process_time()
            out = update(g)
            if out is not None:
                out.numpy()
            cpu[update.__name__].append(time.process_time() - start)
    print(f"{WEIGHTS:,} weights; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}; "
          f"load average {os.getloadavg()[0]:.1f}; median CPU ms over {args.rounds} rounds:")
    print("  update: " + "   ".join(f"{name} {statistics.median(cpu[name]) * 1e3:.0f}" for name in ("plain", "nesterov", "fused"))
          + f";   input-gradient matmul: {statistics.median(cpu['input_grad']) * 1e3:.0f}")


if __name__ == "__main__":
    main()
