"""Intervals of the differences docs/results.md quotes, recomputed from the stored JSON alone.

    python experiments/stored_intervals.py [experiments/comparisons.json] [--out docs/experiments]

`experiments/paired_ci.py` gives the exact paired interval of a difference, but it needs the
runs' folders (the models for CIFAR-10, the transcripts for TIMIT), which are not committed.
This script needs only what is: the sweeps' and reports' JSON. The comparisons are data
(`experiments/comparisons.json`: groups of `FILE.json:ROW` pairs, each group's output named
`<out>/<group>_paired.json`). For each pair it writes what the stored numbers decide:

* CIFAR-10 (per-image correctness, n test images): the interval of the difference with the
  two intervals taken as independent, and the **widest** and **narrowest paired** intervals the
  stored accuracies and agreements allow. A paired interval is set by how often the two
  models disagree on correctness, D: its variance is (D − diff²)/(n − 1). D is at least |diff|
  and at most min(a + b, 2 − a − b); when both models' agreement with one teacher is stored,
  D is also at most the sum of their disagreements with it (two models that both copy the
  teacher's class are both right or both wrong). The exact paired interval lies between the two.
* TIMIT PER (speakers resampled): the stored per-system intervals only; the paired interval
  needs the per-utterance transcripts, which are not stored, so it is `null` with the reason.
  The widest interval (the two systems' errors perfectly anti-correlated over speakers) is the
  sum of the two half-widths.
* Where both rows keep their per-example outcomes (`test_correct`, `test_speaker_totals`:
  `mimic_keras.eval.outcomes`: sweep rows of scorer version 2 and run reports written since), the exact
  paired interval too, `paired_ci95`: what `paired_ci.py` gives on the run folders.
* Seed groups (`"seeds"`): the difference of the mean accuracies (PERs, for TIMIT rows) of two
  recipes over their seeds, with Welch's t interval (the spread between training runs, not the
  test sample).
"""

import argparse
import json
import math
import os
import sys

Z = 1.96


def _load(path):
    with open(path) as f:
        return json.load(f)


def pick(ref):
    """The stored scores of `FILE.json:ROW`: a sweep's variant (`VARIANT/TEACHER` for one of its
    teachers, `teacher_<i>` or `ensemble`, in a sweep that trained or was given teachers), a
    report's model, a teacher of a grow summary, a mimic of a factorize summary (`original`,
    `rank_<k>`, `rank_<k>_finetuned`), or a checkpoint a run kept (`score_checkpoints.py`'s
    `kept`, `last`, `epoch_<n>`)."""
    path, _, name = ref.rpartition(":")
    data = _load(path)
    if data.get("kind") == "factorize":  # `mimic_keras.factorize`'s mimics: original, rank_<k>[_finetuned]
        from mimic_keras.factorize import row_name

        for row in data["rows"]:
            if row_name(row) == name:
                return _from_sweep_row(row)
        raise ValueError(f"{path} has no factorised mimic {name!r}; it has {[row_name(r) for r in data['rows']]}")
    if data.get("kind") == "checkpoints":  # score_checkpoints.py: kept, last, epoch_<n>
        return _from_sweep_row(checkpoint_row(data, path, name))
    if "rows" in data:
        name, _, teacher = name.partition("/")
        for row in data["rows"]:
            if row["variant"] == name and teacher:
                for one in row.get("teachers", []):
                    if one["teacher"] == teacher:
                        return _from_sweep_row(one)
                raise ValueError(f"{path}: variant {name!r} has no teacher {teacher!r}; it has "
                                 f"{[t['teacher'] for t in row.get('teachers', [])]}")
            if row["variant"] == name:
                return _from_sweep_row(row)
        raise ValueError(f"{path} has no variant {name!r}; it has {[r['variant'] for r in data['rows']]}")
    for model in data.get("models", []):
        if model["model"] == name:
            return _from_report_model(model, data)
    if name in data.get("finetune", {}) and isinstance(data["finetune"][name], dict):
        return _from_sweep_row(data["finetune"][name])  # `mimic_keras.grow`'s teachers: original, control, grown
    raise ValueError(f"{path} has no row or model {name!r}")


def checkpoint_name(row):
    """A `score_checkpoints.py` row's name: `kept` (the run's `model.keras`), `last` (`last.keras`)
    or `epoch_<n>` (a snapshot)."""
    return {"model.keras": "kept", "last.keras": "last"}.get(row["file"], f"epoch_{row['epoch']}")


def checkpoint_row(summary, path, name):
    """The row `name` (`checkpoint_name`) of a `score_checkpoints.py` summary read from `path`."""
    for row in summary["rows"]:
        if checkpoint_name(row) == name:
            return row
    raise ValueError(f"{path} has no checkpoint {name!r}; it has {[checkpoint_name(r) for r in summary['rows']]}")


def _from_sweep_row(row):
    if "test_per" in row:
        return {"per": row["test_per"], "per_ci95": row.get("test_per_ci95"),
                "outcomes": row.get("test_speaker_totals")}
    return {"accuracy": row["test_accuracy"], "ci95": row["test_accuracy_ci95"],
            "agreement": row.get("test_agreement"), "outcomes": row.get("test_correct")}


def _from_report_model(model, report):
    if "test" in model:  # TIMIT report: PER per split
        return {"per": model["test"]["per"], "per_ci95": model["test"]["per_ci95"],
                "outcomes": model["test"].get("speaker_totals")}
    return {"accuracy": model["test_accuracy"], "ci95": model["test_accuracy_ci95"],
            "agreement": model.get("teacher_agreement"), "n": report.get("test_examples"),
            "outcomes": model.get("test_correct")}


def _exact(base, other, result):
    """`result` with the exact paired interval when both scores keep their per-example outcomes."""
    from mimic_keras.eval import outcomes

    if base.get("outcomes") and other.get("outcomes"):
        _, low, high = outcomes.paired_difference(base["outcomes"], other["outcomes"])
        result.update(paired_ci95=[low, high], paired_why_not=None)
    return result


def _test_size(score):
    """n from a stored accuracy and its normal-approximation half-width (1.96·√(p(1−p)/n))."""
    if score.get("n"):
        return int(score["n"])
    p, half = score["accuracy"], score["ci95"]
    return int(round(Z * Z * p * (1 - p) / half ** 2))


def accuracy_pair(base, other, same_teacher):
    """What the stored accuracies (and agreements) decide about `other − base`."""
    n = _test_size(base)
    if _test_size(other) != n:
        raise ValueError(f"test sets of different sizes: {n} and {_test_size(other)}")
    a, b = base["accuracy"], other["accuracy"]
    diff = b - a
    d_max, bound = min(a + b, 2 - a - b), "accuracies"
    if same_teacher and base.get("agreement") is not None and other.get("agreement") is not None:
        via_teacher = (1 - base["agreement"]) + (1 - other["agreement"])
        if via_teacher < d_max:
            d_max, bound = via_teacher, "agreements with the common teacher"
    widest = Z * math.sqrt(max(d_max - diff * diff, 0.0) / (n - 1))
    narrowest = Z * math.sqrt(max(abs(diff) - diff * diff, 0.0) / (n - 1))
    independent = math.hypot(base["ci95"], other["ci95"])
    return {
        "base_accuracy": a, "other_accuracy": b, "difference": diff, "test_examples": n,
        "independent_ci95": [diff - independent, diff + independent],
        "paired_ci95_widest": [diff - widest, diff + widest],
        "paired_ci95_narrowest": [diff - narrowest, diff + narrowest],
        "discordance_at_most": d_max, "discordance_bound_from": bound,
        "paired_ci95": None,
        "paired_why_not": "needs per-image correctness (the models in the run folders, not stored): "
                          "python experiments/paired_ci.py BASE OTHER on the runs",
    }


def per_pair(base, other):
    """What the stored PER intervals decide about `other − base` (PER points as fractions)."""
    diff = other["per"] - base["per"]
    why = ("needs the per-utterance transcripts (transcripts/<stage>/test.{ref,hyp}.txt in the run "
           "folders, not stored): python experiments/paired_ci.py BASE OTHER on the runs")
    if base["per_ci95"] is None or other["per_ci95"] is None:
        return {"base_per": base["per"], "other_per": other["per"], "difference": diff,
                "independent_ci95": None, "paired_ci95_widest": None, "paired_ci95": None,
                "paired_why_not": why + "; the per-system intervals are not stored either"}
    half_a = (base["per_ci95"][1] - base["per_ci95"][0]) / 2
    half_b = (other["per_ci95"][1] - other["per_ci95"][0]) / 2
    independent = math.hypot(half_a, half_b)
    return {
        "base_per": base["per"], "other_per": other["per"], "difference": diff,
        "independent_ci95": [diff - independent, diff + independent],
        "paired_ci95_widest": [diff - half_a - half_b, diff + half_a + half_b],
        "paired_ci95": None, "paired_why_not": why,
    }


def seeds_pair(base_refs, other_refs):
    """Mean accuracy (TIMIT rows: PER) of `other` minus `base` over their seeds, with Welch's t interval."""
    from scipy import stats as scipy_stats

    picks = [pick(r) for r in [*base_refs, *other_refs]]
    measure = "per" if all("per" in p for p in picks) else "accuracy"
    a = [p[measure] for p in picks[: len(base_refs)]]
    b = [p[measure] for p in picks[len(base_refs):]]
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    var_a = sum((x - mean_a) ** 2 for x in a) / (len(a) - 1)
    var_b = sum((x - mean_b) ** 2 for x in b) / (len(b) - 1)
    se2_a, se2_b = var_a / len(a), var_b / len(b)
    se = math.sqrt(se2_a + se2_b)
    if se == 0:  # every seed gave the same accuracy
        dof, half = None, 0.0
    else:
        dof = (se2_a + se2_b) ** 2 / (se2_a ** 2 / (len(a) - 1) + se2_b ** 2 / (len(b) - 1))
        half = float(scipy_stats.t.ppf(0.975, dof)) * se
    diff = mean_b - mean_a
    return {
        "base_values": a, "other_values": b, "base_mean": mean_a, "other_mean": mean_b,
        "base_sd": math.sqrt(var_a), "other_sd": math.sqrt(var_b), "difference": diff,
        "measure": measure, "welch_dof": dof, "welch_ci95": [diff - half, diff + half],
        "every_other_beats_every_base": min(b) > max(a) if measure == "accuracy" else max(b) < min(a),
    }


def run_group(name, group):
    """One group's JSON: every comparison it names, with what the stored numbers decide."""
    rows = []
    for comparison in group["comparisons"]:
        base, other = comparison["base"], comparison["other"]
        if group.get("kind") == "seeds":
            result = seeds_pair(base, other)
        else:
            b, o = pick(base), pick(other)
            if "per" in b:
                result = _exact(b, o, per_pair(b, o))
            else:
                result = _exact(b, o, accuracy_pair(b, o, comparison.get("same_teacher",
                                                                         group.get("same_teacher", False))))
        rows.append({"label": comparison["label"], "base": base, "other": other, **result})
    return {"kind": "intervals", "name": f"{name}_paired", "about": group.get("about", ""),
            "command": "python experiments/stored_intervals.py experiments/comparisons.json",
            "measure": rows and ("PER" if "base_per" in rows[0] or rows[0].get("measure") == "per"
                                 else "test accuracy"), "comparisons": rows}


def _points(pair):
    return f"{pair[0] * 100:+.2f} to {pair[1] * 100:+.2f}"


def summary_line(row):
    if "welch_ci95" in row:
        return f"{row['label']}: {row['difference'] * 100:+.2f} (Welch {_points(row['welch_ci95'])})"
    if row["paired_ci95_widest"] is None:
        return f"{row['label']}: {row['difference'] * 100:+.2f} (no interval stored)"
    line = f"{row['label']}: {row['difference'] * 100:+.2f} (independent {_points(row['independent_ci95'])}; " \
           f"paired at widest {_points(row['paired_ci95_widest'])}"
    if "paired_ci95_narrowest" in row:
        line += f", at narrowest {_points(row['paired_ci95_narrowest'])}"
    if row["paired_ci95"] is not None:
        line += f"; paired {_points(row['paired_ci95'])}"
    return line + ")"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("comparisons", nargs="?", default=os.path.join(here, "comparisons.json"))
    parser.add_argument("--out", default="docs/experiments", help="folder for <group>_paired.json")
    args = parser.parse_args(argv)
    try:
        groups = _load(args.comparisons)
        results = {name: run_group(name, group) for name, group in groups.items()}
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, result in results.items():
        path = os.path.join(args.out, f"{name}_paired.json")
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        print(f"{path}:")
        for row in result["comparisons"]:
            print("  " + summary_line(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
