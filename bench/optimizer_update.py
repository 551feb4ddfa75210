"""CPU time of one SGD-momentum update of the conv mimic's dense weights: Keras's ops vs one fused kernel.

    python bench/optimizer_update.py [--rounds 5]

The conv mimic (k 1200, H 8000) has 49M dense weights. Keras 3's SGD update is a chain of
element-wise ops; TensorFlow runs each as a pass over all of them. Timed here in one process,
alternating, median CPU time of all threads (`time.process_time`) per update:

    plain      m ← μ·m − η·g; w ← w + m                 (keras.optimizers.SGD(momentum=0.9))
    nesterov   m ← μ·m − η·g; w ← w + μ·m − η·g         (nesterov=True: what `make_optimizer` built)
    fused      the same Nesterov update as one `ResourceApplyKerasMomentum` kernel (`FusedSGD`)

Run it with TF_ENABLE_ONEDNN_OPTS=0 and =1 to see oneDNN's effect (it fuses element-wise chains).
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

    updates = (plain, nesterov, fused)
    for update in updates:
        update(g)  # trace
    cpu = {update.__name__: [] for update in updates}
    for _ in range(args.rounds):
        for update in updates:
            start = time.process_time()
            update(g)
            cpu[update.__name__].append(time.process_time() - start)
    print(f"{WEIGHTS:,} weights; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}; "
          f"load average {os.getloadavg()[0]:.1f}; median CPU ms per update over {args.rounds} rounds:")
    print("  " + "   ".join(f"{name} {statistics.median(v) * 1e3:.0f}" for name, v in cpu.items()))


if __name__ == "__main__":
    main()
