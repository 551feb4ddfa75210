"""Runs stages over a workdir: each up to date, redone (saying why) or refused, then what the run made.

`mimic_keras.fit` is its CLI; `mimic_keras.stages` the table it walks.
"""

import json
import os
import sys
import time

from mimic_keras import config as config_lib
from mimic_keras import stages
from mimic_keras.data.writer import write_json_atomic


# Exit status: 2 for every error the user can act on (config, inputs, workdir state, a stage's
# refusal), each one line `error: ...`; 1 for a failure inside the program (a bug), one line
# unless --debug shows the traceback; 0 for success.
USER_ERROR = 2


class StageError(Exception):
    """A stage that cannot run now; the message is one line for the user."""


def _errors():
    from mimic_keras.training import NonFiniteLossError

    return (ValueError, FileNotFoundError, RuntimeError, OSError, KeyError, NonFiniteLossError)


def _plan(cfg, layout, names):
    """{stage: Status} for the asked stages (before any runs), refusing stages whose inputs are stale."""
    known, statuses = {}, {}
    for name in stages.PIPELINE:
        statuses[name] = stages.check(name, cfg, layout, known)
        known[name] = statuses[name].fingerprint
    if len(names) == 1:
        (name,) = names
        for before in stages.STAGES[name].inputs(cfg):
            if not statuses[before].up_to_date:
                raise StageError(f"stage {name}: run stage '{before}' first ({statuses[before].reason})")
    return {name: statuses[name] for name in names}


def run_stages(cfg, layout, names, force=False, started=None, debug=False):
    """Runs `names` in pipeline order, each only when it is not up to date (or `force`); returns an exit code."""
    try:
        plan = _plan(cfg, layout, names)
    except StageError as e:
        print(f"error: {e}", file=sys.stderr)
        return USER_ERROR
    except _errors() as e:
        if debug:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return USER_ERROR
    os.makedirs(layout.workdir, exist_ok=True)
    write_json_atomic(layout.config, config_lib.to_dict(cfg))  # checked: it validated before anything ran
    strategy = None
    if force or not all(s.up_to_date for s in plan.values()):
        from mimic_keras.distribute import setup

        strategy = setup(cfg)  # once, first, before any model
    known = {}
    for name in stages.PIPELINE:
        status = stages.check(name, cfg, layout, known)
        if name not in names:
            known[name] = status.fingerprint
            continue
        if status.up_to_date and not force:
            print(f"[{name}] up to date", flush=True)
            known[name] = status.fingerprint
            continue
        if status.up_to_date:
            print(f"[{name}] forced: --force", flush=True)
        else:
            print(f"[{name}] {'run' if status.reason == 'no outputs yet' else 'rerun'}: {status.reason}", flush=True)
        t0 = time.time()
        try:
            known[name] = stages.run(name, cfg, layout, strategy, known)
        except _errors() as e:
            if debug:
                raise
            print(f"error: stage {name}: {one_line(e)}", file=sys.stderr)
            return USER_ERROR
        print(f"[{name}] done in {time.time() - t0:.1f}s", flush=True)
    _outputs(cfg, layout, names, started)
    return 0


def guarded(call, debug=False, user_errors=(OSError,)):
    """Runs `call()` and returns its exit code; an error ends as one line unless `debug`.

    `user_errors` (a held lock, an unwritable workdir, ...) exit with `USER_ERROR`; anything
    else is a bug: one line that says so, exit 1, and `--debug` shows its traceback.
    """
    try:
        return call()
    except user_errors as e:
        if debug:
            raise
        print(f"error: {one_line(e)}", file=sys.stderr)
        return USER_ERROR
    except Exception as e:
        if debug:
            raise
        print(f"error: internal error ({type(e).__name__}: {one_line(e)}); rerun with --debug for the traceback",
              file=sys.stderr)
        return 1


def one_line(error):
    """An error's message on one line (a KeyError's without its quotes)."""
    if isinstance(error, KeyError) and error.args:
        error = str(error.args[0])
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0] if isinstance(error, OSError) else " ".join(text.split())


def report(cfg, layout, debug=False):
    """The `report` command: redraws the figures from report.json and prints the results table."""
    from mimic_keras.eval.report import redraw
    from mimic_keras.tasks import get_task

    t0 = time.time()
    try:
        paths = redraw(cfg, get_task(cfg).model_paths(layout), layout.workdir)
    except _errors() as e:
        if debug:
            raise
        print(f"error: stage report: {one_line(e)}", file=sys.stderr)
        return USER_ERROR
    for path in paths:
        print(path, flush=True)
    print(f"[report] done in {time.time() - t0:.1f}s", flush=True)
    for table in (layout.report_md, layout.litert_md):
        if os.path.exists(table):
            print(open(table).read())
    return 0


def _outputs(cfg, layout, names, started):
    """Lists what the run made: the results table, report, figures, TensorBoard logs, exports."""
    if "evaluate" in names and os.path.exists(layout.report_md):
        print(open(layout.report_md).read())
    if "export" in names and os.path.exists(layout.litert_md):
        print(open(layout.litert_md).read())
    lines = [f"workdir   {os.path.abspath(layout.workdir)}"]
    for label, path in (("report", layout.report_json), ("table", layout.report_md), ("litert", layout.litert_md),
                        ("curves", layout.path("curves.png")), ("hidden", layout.path("hidden.png"))):
        if os.path.exists(path):
            lines.append(f"{label:<9} {path}")
    logs = [d for d in ("teacher", "mimic", "control") if os.path.isdir(layout.path(d))]
    if logs:
        lines.append(f"logs      tensorboard --logdir {layout.workdir}")
    if os.path.exists(layout.export_json):
        with open(layout.export_json) as f:
            for role, path in json.load(f).items():
                lines.append(f"export    {role}: {path}")
    if started is not None:
        lines.append(f"time      {time.time() - started:.0f}s")
    print("\n".join(lines), flush=True)
    print(json.dumps({"workdir": os.path.abspath(layout.workdir)}), flush=True)
