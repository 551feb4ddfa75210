"""A search's results: the trials table (trials.md, trials.json) and best_preset.json."""

import math
import os

from mimic_keras import config as config_lib
from mimic_keras.data.writer import write_json_atomic
from mimic_keras.tune.oracles import OBJECTIVE
from mimic_keras.tune.space import apply_values


class SearchError(RuntimeError):
    """Raised when a search produced no usable trial or was stopped by failures."""


def trial_rows(oracle, sizer, epochs):
    """One row per trial: status, params, k, H, filters, lr, schedule, epochs, objective, accuracy.

    Args:
        oracle: the search's oracle.
        sizer: values → parameter count.
        epochs: epochs of a trial that Hyperband did not set.
    """
    rows = []
    for trial in sorted(oracle.trials.values(), key=lambda t: t.trial_id):
        values = trial.hyperparameters.values
        metrics = trial.metrics
        row = {
            "trial": trial.trial_id,
            "status": trial.status,
            "params": sizer(values),
            "bottleneck": values.get("bottleneck"),
            "hidden": values.get("hidden"),
            "conv_filters": values.get("conv_filters"),
            "learning_rate": values.get("learning_rate"),
            "schedule": values.get("schedule"),
            "epochs": values.get("tuner/epochs", epochs),
            "continues": values.get("tuner/trial_id"),
            OBJECTIVE: metrics.get_last_value(OBJECTIVE) if metrics.exists(OBJECTIVE) else None,
            "val_accuracy": metrics.get_last_value("val_accuracy") if metrics.exists("val_accuracy") else None,
            "error": _last_line(trial.message) if trial.status != "COMPLETED" else None,
        }
        rows.append(row)
    return rows


def _last_line(message):
    lines = [line.strip() for line in (message or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def write_results(cfg, layout, kt, sizer, budget, stopped):
    """Writes trials.json, trials.md and (with a completed trial) best_preset.json; returns the summary.

    Raises:
        SearchError: after writing, when no trial ran, none completed or failures stopped the search.
    """
    oracle, tune_dir = kt.oracle, layout.tune
    rows = trial_rows(oracle, sizer, cfg.mimic_train.epochs)
    skipped = sorted(oracle.skipped.values(), key=lambda s: s["params"])
    completed = [r for r in rows if r["status"] == "COMPLETED" and r[OBJECTIVE] is not None]
    best = min(completed, key=lambda r: r[OBJECTIVE]) if completed else None
    summary = {
        "objective": OBJECTIVE, "budget_params": budget, "best": best, "trials": rows, "skipped": skipped,
        "stopped": stopped, "table": os.path.join(tune_dir, "trials.md"), "best_preset": None,
    }
    if best is not None:
        best_cfg = apply_values(cfg, best)
        summary["best_preset"] = os.path.join(tune_dir, "best_preset.json")
        write_json_atomic(summary["best_preset"], config_lib.to_dict(best_cfg))
    write_json_atomic(os.path.join(tune_dir, "trials.json"), summary)
    with open(summary["table"], "w") as f:
        f.write(markdown_table(summary))
    failed = [r for r in rows if r["status"] != "COMPLETED"]
    listing = "\n".join(f"  trial {r['trial']}: {r['status']}: {r['error']}" for r in failed)
    if not rows:
        raise SearchError(f"no trial ran (every candidate drawn was over the budget?); see {summary['table']}")
    if best is None:
        raise SearchError(f"all {len(rows)} trials failed (see {summary['table']}):\n{listing}")
    if stopped:
        raise SearchError(f"the search stopped: {stopped} (see {summary['table']}):\n{listing}")
    summary["failed"] = failed
    return summary


def markdown_table(summary):
    """The trials as a Markdown table: completed ones by objective, then failed, then skipped."""
    budget = summary["budget_params"]
    lines = [
        f"Objective: `{OBJECTIVE}` (validation L2 on the teacher's logits, lower is better). "
        f"Budget: {f'{budget:,} parameters' if budget else 'none'}.",
        "",
        "| trial | status | params | k | H | filters | lr | schedule | epochs | val L2 | val accuracy | note |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    best = summary["best"]
    rows = sorted(summary["trials"], key=lambda r: (r["status"] != "COMPLETED", r[OBJECTIVE] or math.inf, r["trial"]))
    for r in rows:
        note = "best" if best and r["trial"] == best["trial"] else (r["error"] or "")
        if r["continues"]:
            note = f"{note}; continues trial {r['continues']}".lstrip("; ")
        lines.append(
            f"| {r['trial']} | {r['status']} | {r['params']:,} | {r['bottleneck']} | {r['hidden']} | "
            f"{_cell(r['conv_filters'])} | {_cell(r['learning_rate'], '.2e')} | {r['schedule']} | {r['epochs']} | "
            f"{_cell(r[OBJECTIVE], '.4f')} | {_cell(r['val_accuracy'], '.4f')} | {note.replace('|', '/')} |"
        )
    for s in summary["skipped"]:
        lines.append(
            f"| - | SKIPPED | {s['params']:,} | {s['bottleneck']} | {s['hidden']} | {_cell(s.get('conv_filters'))} "
            f"| | | | | | over budget, drawn {s['draws']}x, never built |"
        )
    return "\n".join(lines) + "\n"


def _cell(value, fmt=""):
    return "" if value is None else format(value, fmt)
