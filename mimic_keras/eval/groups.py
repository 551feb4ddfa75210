"""What each group of a grouped hidden layer does: its share of the logits, alone and left out.

The logits are linear in the hidden units, so they split exactly into one contribution per
group of H/G units (`mimic.groups`, `GroupedDense`) plus the bias: logits = Σ_g c_g + b with
c_g = h_g · W_g. For each group this scores, on the run's test split (`Task.deployed_scores`),
the net with that group alone (c_g + b) and without it (logits − c_g), and gives the group's
share of the variance of the logits. `--groups G` cuts an ungrouped hidden layer into G
contiguous blocks for comparison.

    python -m mimic_keras.eval.groups runs/cifar10-cpu-groups-g4_h8000/mimic/model.keras \\
        --workdir runs/cifar10-cpu-groups-g4_h8000

(TIMIT workdirs need their evaluate report, which holds the decoder settings PER uses.)

`experiments/group_analysis.py` goes further, on a labelled split streamed once: per group its
accuracy alone and left out, its dead units and activity, the classes it matters most for, and
how alike the groups' partial logits are (`group_parts` and `partial_logits` are shared with it).
"""

import argparse
import sys

import numpy as np

from mimic_keras import console


def group_parts(model, groups=None):
    """(features, kernel blocks (G, H/G, classes), bias) of a mimic cut into G groups of hidden units.

    `features` is the model up to its `hidden` layer; the logits kernel's rows are cut into G
    contiguous blocks, the g-th matching `GroupedDense`'s g-th group (its outputs are contiguous).
    `groups` defaults to the hidden layer's own (`GroupedDense.groups`, else 1).

    Raises:
        ValueError: G does not divide the hidden units.
    """
    import keras

    hidden = model.get_layer("hidden")
    groups = groups or getattr(hidden, "groups", 1)
    if hidden.units % groups:
        raise ValueError(f"groups={groups} must divide the {hidden.units} hidden units")
    logits = model.get_layer("logits")
    kernel, bias = (np.asarray(w, np.float64) for w in logits.get_weights())
    # A mimic has one input: given as a tensor, not a list, a batch is taken without a structure warning.
    features = keras.Model(model.inputs[0], hidden.output)
    return features, kernel.reshape(groups, hidden.units // groups, -1), bias


def partial_logits(hidden, kernel):
    """(N, G, classes): each group's h_g · W_g, from hidden activations (N, H) and the logits
    kernel as G blocks of rows (G, H/G, classes); their sum over G plus the bias is the logits."""
    blocks = np.asarray(hidden).reshape(len(hidden), *kernel.shape[:2])
    # One block at a time: a float64 copy of one group's units, not of the whole (N, H) batch.
    return np.stack([blocks[:, g].astype(np.float64) @ kernel[g] for g in range(kernel.shape[0])], axis=1)


def group_logits(model, inputs, groups=None, batch_size=256):
    """(contributions (N, G, classes), bias): each group's share of `model`'s logits on `inputs`.

    Args:
        model: a mimic (`build_mimic`): layers `hidden` and `logits`.
        inputs: a batch of model inputs.
        groups: G; default the hidden layer's own (`GroupedDense.groups`, else 1).
    """
    features, kernel, bias = group_parts(model, groups)
    return partial_logits(features.predict(inputs, batch_size=batch_size, verbose=0), kernel), bias


def variance_shares(contributions):
    """Each group's share of the variance of the logits over examples (sums to 1 when groups are uncorrelated)."""
    centred = contributions - contributions.mean(axis=0, keepdims=True)
    per_group = np.sum(centred**2, axis=(0, 2))
    total = np.sum(centred.sum(axis=1) ** 2)
    return per_group / total


def group_report(task, layout, model, groups=None):
    """Rows per group: `group`, `alone` and `without` test scores (`task.deployed_scores`), `variance_share`."""
    import tensorflow as tf

    features, kernel, bias = group_parts(model, groups)
    full = task.deployed_scores(layout, lambda x: np.asarray(model(x, training=False)))
    rows = [{"group": "all", **full}]

    def predict(g, keep):
        def logits(x):
            c = partial_logits(features(tf.constant(x), training=False), kernel)
            return (c[:, g] if keep else c.sum(axis=1) - c[:, g]) + bias
        return logits

    probe = task.representative(layout, 1024)
    shares = variance_shares(group_logits(model, probe, kernel.shape[0])[0])
    for g in range(kernel.shape[0]):
        alone, without = task.deployed_scores(layout, predict(g, True)), task.deployed_scores(layout, predict(g, False))
        rows.append({"group": g, "variance_share": float(shares[g]),
                     **{f"alone_{k}": v for k, v in alone.items()}, **{f"without_{k}": v for k, v in without.items()}})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mimic_keras.eval.groups", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a mimic's .keras file")
    parser.add_argument("--workdir", required=True, help="the run whose test split scores it")
    parser.add_argument("--groups", type=int, help="cut the hidden layer into G blocks (default: its own groups)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    args = parser.parse_args(argv)
    console.quiet(args.verbose)
    import keras

    from mimic_keras import config as config_lib
    from mimic_keras.layout import Layout
    from mimic_keras.tasks import get_task

    layout = Layout(args.workdir)
    task = get_task(config_lib.get_preset(layout.config))
    try:
        rows = group_report(task, layout, keras.saving.load_model(args.model, compile=False), args.groups)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for row in rows:
        print("  ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
