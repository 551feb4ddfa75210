"""What each group of a mimic's hidden layer learns: one labelled split streamed once, scores optional.

The logits split exactly into one term per group of H/G hidden units plus the bias (`mimic.groups`,
`GroupedDense`; `group_stats`). On the run's validation split (TIMIT: dev; `--split test` for
the test split) this gives the model's and the bias's accuracy and, per group: its accuracy
alone (h_g W_g + b) and without it (logits − h_g W_g), its dead units and activity, the 3
classes that lose most without it (TIMIT: states counted under their phone), its share of the
logits' variance and its correlation with the other groups' partial logits. `--scores` adds
each group's test scores alone and without it through the task (`Task.deployed_scores`;
TIMIT: also PER, decoded with the run's tuned decoder, so it needs the evaluate report and is
slow). `--groups G` cuts a dense hidden layer (or a grouped one, differently) into G contiguous
blocks: the baseline, an arbitrary partition of its units, as the output says.

    python -m mimic_keras.eval.groups runs/cifar10-cpu-groups-g4_h8000 [--split test] [--scores] \\
        [--model runs/cifar10-cpu-groups-g4_h8000/mimic/model.keras] [--json docs/experiments/groups_g4.json]
    python -m mimic_keras.eval.groups runs/cifar10-cpu-groups-g1_h2000 --groups 4   # the dense baseline
"""

import argparse
import json
import sys

import numpy as np

from mimic_keras import console
from mimic_keras.eval.group_stats import TOP_CLASSES, analyse_groups, group_parts, partial_logits


def group_scores(task, layout, model, groups=None):
    """(the model's test scores, per group its `alone_<score>` and `without_<score>`), by `task.deployed_scores`.

    Args:
        task: the run's `Task`; its `deployed_scores` scores a logits function on the test split.
        layout: the run's `Layout`.
        model: a mimic (`build_mimic`): layers `hidden` and `logits`.
        groups: G; default the hidden layer's own (`GroupedDense.groups`).

    Returns:
        (dict of scores, e.g. `test_accuracy` (TIMIT also `test_per`), a list of G dicts).
    """
    import tensorflow as tf

    features, kernel, bias = group_parts(model, groups)

    def predict(g, keep):
        def logits(x):
            parts = partial_logits(features(tf.constant(x), training=False), kernel)
            return (parts[:, g] if keep else parts.sum(axis=1) - parts[:, g]) + bias
        return logits

    full = task.deployed_scores(layout, lambda x: np.asarray(model(x, training=False)))
    rows = []
    for g in range(kernel.shape[0]):
        alone, without = task.deployed_scores(layout, predict(g, True)), task.deployed_scores(layout, predict(g, False))
        rows.append({**{f"alone_{k}": v for k, v in alone.items()}, **{f"without_{k}": v for k, v in without.items()}})
    return full, rows


def run(workdir, model_path=None, split=None, groups=None, batch_size=512, top=TOP_CLASSES, scores=False):
    """`analyse_groups` of a run's mimic (or `model_path`) on the run's `split` (default: its validation split).

    With `scores`, the result also holds `scores` (the model's test scores) and each row its
    `alone_<score>` and `without_<score>` (`group_scores`).

    Raises:
        ValueError: an unknown split, a task without labelled splits, or `analyse_groups`'s reasons.
        FileNotFoundError: the run lacks the model, its data or (TIMIT, `scores`) its evaluate report.
    """
    import keras

    from mimic_keras import config as config_lib
    from mimic_keras.layout import Layout
    from mimic_keras.tasks import get_task

    layout = Layout(workdir)
    task = get_task(config_lib.get_preset(layout.config))
    if not task.eval_splits:
        raise ValueError(f"the {task.name} task gives no labelled splits to analyse on (Task.split_batches)")
    split = split or task.eval_splits[0]
    if split not in task.eval_splits:
        raise ValueError(f"split {split!r}: the {task.name} task offers {', '.join(task.eval_splits)}")
    model_path = model_path or layout.model("mimic")
    model = keras.saving.load_model(model_path, compile=False)
    result = analyse_groups(model, task.split_batches(layout, split, batch_size), groups,
                            task.reported_classes(layout), top)
    result = {"model": model_path, "workdir": workdir, "split": split, **result}
    if scores:
        full, rows = group_scores(task, layout, model, result["groups"])
        result["scores"] = full
        result["rows"] = [{**row, **extra} for row, extra in zip(result["rows"], rows)]
    return result


def _number(value, spec):
    return "—" if value is None else format(value, spec)


def table(result):
    """The result as a few header lines and a Markdown table, one row per group (and one of test scores)."""
    lines = [
        f"{result['partition_text']}",
        f"{result['split']} split: {result['examples']:,} examples, {result['classes']} classes; "
        f"accuracy {result['accuracy']:.2%}, the bias alone {result['bias_accuracy']:.2%}",
        f"mean pairwise correlation of the groups' partial logits: {_number(result['mean_pairwise_correlation'], '.3f')}",
        "",
        "| group | alone | without | dead units | active | mean activation | variance share | correlation "
        "| most hurt without it (accuracy change, points) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        hurt = ", ".join(f"{c['class']} {-100 * c['drop']:+.1f}" for c in r["hurt_classes"] if c["drop"] > 0) or "none"
        lines.append(
            f"| {r['group']} | {r['alone_accuracy']:.2%} | {r['without_accuracy']:.2%} | "
            f"{r['dead_fraction']:.1%} ({r['dead_units']}) | {r['active_fraction']:.1%} | {r['mean_activation']:.4f} | "
            f"{_number(r['variance_share'], '.3f')} | {_number(r['mean_correlation'], '.3f')} | {hurt} |"
        )
    if "scores" in result:
        keys = list(result["scores"])
        lines += [
            "",
            "test split (Task.deployed_scores): " + ", ".join(f"{k} {v:.4f}" for k, v in result["scores"].items()),
            "",
            "| group | " + " | ".join(f"{side} {k}" for k in keys for side in ("alone", "without")) + " |",
            "|---|" + "---:|" * (2 * len(keys)),
        ]
        for r in result["rows"]:
            lines.append(f"| {r['group']} | " + " | ".join(
                f"{r[f'{side}_{k}']:.4f}" for k in keys for side in ("alone", "without")) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mimic_keras.eval.groups", description=__doc__.split("\n")[0])
    parser.add_argument("workdir", help="a finished run (or sweep variant) folder: its task, data and mimic")
    parser.add_argument("--model", help="a mimic's .keras file (default: the run's mimic/model.keras)")
    parser.add_argument("--split", help="validation (TIMIT: dev; the default) or test")
    parser.add_argument("--groups", type=int, help="cut the hidden layer into G contiguous blocks (default: its own)")
    parser.add_argument("--scores", action="store_true",
                        help="also score each group alone and without it on the test split through the task "
                             "(TIMIT: PER with the run's tuned decoder; slow)")
    parser.add_argument("--batch-size", type=int, default=512, help="examples per batch streamed")
    parser.add_argument("--top", type=int, default=TOP_CLASSES, help="classes listed per group")
    parser.add_argument("--json", help="also write the result here (kind 'groups')")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    args = parser.parse_args(argv)
    console.quiet(args.verbose)  # before TensorFlow is imported
    try:
        result = run(args.workdir, args.model, args.split, args.groups, args.batch_size, args.top, args.scores)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table(result))
    if args.json:
        command = console.command_line("-m mimic_keras.eval.groups", argv)
        with open(args.json, "w") as f:
            json.dump({"kind": "groups", "command": command, **result}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
