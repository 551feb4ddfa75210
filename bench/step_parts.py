"""CPU time of two parts of the conv mimic's training step, outside Keras: the optimizer update, the bottleneck's input gradient.

    python bench/step_parts.py [--rounds 5]

The conv mimic (k 1200, H 8000) has 49M dense weights. Keras 3's SGD update is a chain of
element-wise ops; TensorFlow runs each as a pass over all of them. Timed here in one process,
alternating, median CPU time of all threads (`time.process_time`) per update:

    plain      m ← μ·m − η·g; w ← w + m                 (keras.optimizers.SGD(momentum=0.9))
    nesterov   m ← μ·m − η·g; w ← w + μ·m − η·g         (nesterov=True: what `make_optimizer` built)
    fused      the same Nesterov update as one `ResourceApplyKerasMomentum` kernel (`FusedSGD`)

and the bottleneck's input-gradient matmul of a batch of 128, dY (128 × 1200) · Wᵀ with the
kernel W of 32,768 × 1,200, as the gradient tape writes it (`tf.matmul(dy, w, transpose_b=True)`).

Run it with TF_ENABLE_ONEDNN_OPTS=0 and =1 to see oneDNN's effect.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

WEIGHTS = 32768 * 1200 + 1200 * 8000 + 8000 * 10  # bottleneck, hidden, logits kernels


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
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
