"""The stages of a run as a checked graph: what each runs, consumes, reads and writes.

Each stage is a plain function of (config, layout, strategy) listed in `STAGES`, with the
stages whose outputs it consumes (`after`), the files that are its outputs, and a format
version. The config fields a stage reads are declared on the fields themselves (`opt(...,
stages=...)`, else the section's readers in `SECTION_READERS`). A stage is done only when its
stamp (`mimic_keras.stamps`) says its outputs were made from the current values of those fields
and the current outputs of the stages before it: change `mimic.hidden` and `all` redoes mimic,
control, evaluate and export, and nothing else.
"""

import os
from dataclasses import dataclass
from typing import Callable

from mimic_keras import stamps
from mimic_keras.config_schema import walk
from mimic_keras.layout import Layout

# Who reads the fields of each top-level section (or scalar) unless a field says otherwise.
SECTION_READERS = {
    "name": ("evaluate", "export"),
    "num_classes": ("teacher", "control"),
    "data": ("prepare",),
    "teacher": ("teacher",),
    "teacher_train": ("teacher",),
    "mimic": ("mimic", "control"),
    "mimic_train": ("mimic",),
    "control_train": ("control",),
    "distill": ("mimic",),
    "export": ("export",),
}


@dataclass(frozen=True)
class Stage:
    """One stage: `run(cfg, layout, strategy)` makes `outputs(cfg, layout)` from the `after` stages' outputs.

    `after` is a tuple of stage names, or a function of the config giving one (a stage whose
    inputs depend on a setting, like the control's on `control_train.data`).
    """

    name: str
    run: Callable
    after: tuple | Callable
    outputs: Callable
    version: int = 1

    def inputs(self, cfg):
        """The stages whose outputs this stage consumes under `cfg`."""
        return self.after(cfg) if callable(self.after) else self.after


def _prepare(cfg, layout, strategy):
    from mimic_keras.tasks import get_task

    get_task(cfg).prepare(layout)


def _teacher(cfg, layout, strategy):
    from mimic_keras.tasks import training

    training.train_teachers(cfg, layout, strategy, intent=_intent("teacher", cfg, layout))


def _label(cfg, layout, strategy):
    from mimic_keras.tasks import get_task

    get_task(cfg).label(layout)


def _mimic(cfg, layout, strategy):
    from mimic_keras.tasks import training

    training.train_mimic(cfg, layout, strategy)


def _control(cfg, layout, strategy):
    from mimic_keras.tasks import training

    training.train_control(cfg, layout, strategy)


def _evaluate(cfg, layout, strategy):
    from mimic_keras.tasks import get_task

    get_task(cfg).evaluate(layout)


def _export(cfg, layout, strategy):
    from mimic_keras.tasks import training

    training.export_models(cfg, layout)


def _files(path):
    if not os.path.isdir(path):
        return [path]
    return [os.path.join(root, name) for root, _, names in sorted(os.walk(path)) for name in sorted(names)]


def _teacher_outputs(cfg, layout):
    # The task's teacher models (files, or SavedModel folders' files) and the files of the
    # teachers the config names: a changed one makes the teacher stage, and label, stale.
    from mimic_keras.tasks import get_task

    made = [f for path in get_task(cfg).teacher_paths(layout) for f in _files(path)]
    return made + [f for path in cfg.teacher.path for f in _files(os.path.abspath(path))]


def _mimic_outputs(cfg, layout):
    # Besides its model, the files it reads from outside the run (as with the teacher stage's
    # given teachers): a grown transfer set that changes makes the mimic, and what follows, stale.
    from mimic_keras.tasks import get_task

    return [layout.model("mimic"), *get_task(cfg).mimic_sources(layout)]


def _manifest(folder):
    return lambda cfg, layout: [os.path.join(getattr(layout, folder), "manifest.json")]


def _control_after(cfg):
    # Trained on the transfer set's labels, the control consumes the label stage's output too.
    return ("prepare", "label") if cfg.control_train.data == "transfer" else ("prepare",)


def _export_outputs(cfg, layout):
    # After evaluate: a TIMIT export carries the decoder settings evaluate tuned.
    return [layout.export_json] + ([layout.litert_json] if cfg.export.tflite else [])


STAGES = {
    s.name: s
    for s in (
        Stage("prepare", _prepare, (), _manifest("data")),
        Stage("teacher", _teacher, ("prepare",), _teacher_outputs),
        Stage("label", _label, ("prepare", "teacher"), _manifest("transfer")),
        Stage("mimic", _mimic, ("label",), _mimic_outputs),
        Stage("control", _control, _control_after, lambda cfg, lay: [lay.model("control")]),
        Stage("evaluate", _evaluate, ("teacher", "label", "mimic", "control"), lambda cfg, lay: [lay.report_json]),
        Stage("export", _export, ("mimic", "teacher", "evaluate"), _export_outputs, version=2),
    )
}
PIPELINE = tuple(STAGES)


def reads(stage, cfg):
    """{dotted field: value} of the config fields `stage` reads."""
    found = {}
    for name, value, f in walk(cfg):
        readers = f.metadata.get("stages")
        if readers is None:
            readers = SECTION_READERS.get(name.split(".", 1)[0], ())
        if stage in readers:
            found[name] = list(value) if isinstance(value, tuple) else value
    return found


def defaults(stage, cfg):
    """{dotted field: default} of the config fields `stage` reads."""
    read = reads(stage, cfg)
    return {name: list(f.default) if isinstance(f.default, tuple) else f.default
            for name, _, f in walk(cfg) if name in read}


def _inputs(stage, known, cfg):
    return {name: known.get(name) for name in STAGES[stage].inputs(cfg)}


def inputs_of(stage, cfg, layout):
    """{stage: fingerprint or None} of the stages `stage` consumes, worked out afresh."""
    return {name: check(name, cfg, layout).fingerprint for name in STAGES[stage].inputs(cfg)}


def _intent(stage, cfg, layout):
    """What `stage` is asked to make now (for parts of a stage, such as one teacher of an ensemble)."""
    return stamps.intent(STAGES[stage].version, reads(stage, cfg), inputs_of(stage, cfg, layout))


def check(stage, cfg, layout, known=None):
    """The `stamps.Status` of `stage`: up to date, or why not.

    Args:
        known: {stage: fingerprint or None} of the stages before it, when already worked out.
    """
    if known is None:
        known = {}
        for name in _upstream(stage, cfg):
            known[name] = check(name, cfg, layout, known).fingerprint
    spec = STAGES[stage]
    return stamps.status(layout.stamp(stage), spec.version, reads(stage, cfg), _inputs(stage, known, cfg),
                         spec.outputs(cfg, layout), layout.workdir, defaults=defaults(stage, cfg))


def _upstream(stage, cfg):
    """Every stage `stage` depends on under `cfg`, in pipeline order."""
    seen, todo = set(), list(STAGES[stage].inputs(cfg))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(STAGES[name].inputs(cfg))
    return [name for name in PIPELINE if name in seen]


def between(first, last, cfg):
    """`first`, `last` and the stages on the way from one to the other, in pipeline order.

    What must be redone to see a change of `first` in `last`'s outputs: `between("teacher",
    "mimic", cfg)` is teacher, label, mimic.
    """
    return [name for name in PIPELINE
            if (name == first or first in _upstream(name, cfg)) and (name == last or name in _upstream(last, cfg))]


def run(stage, cfg, layout, strategy, known):
    """Runs `stage` and records what made its outputs; returns its new fingerprint.

    Its stamp is removed first, so a stage that is killed leaves nothing that counts as done.
    """
    from mimic_keras.distribute import is_chief

    chief = strategy is None or is_chief(strategy)  # the other workers of a multi-worker run write no records
    if chief and os.path.exists(layout.stamp(stage)):
        os.remove(layout.stamp(stage))
    STAGES[stage].run(cfg, layout, strategy)
    return record(stage, cfg, layout, known) if chief else None


def record(stage, cfg, layout, known=None):
    """Records that `stage`'s outputs, as they are now, were made by `cfg` from the stages before it.

    `run` calls it after a stage; call it yourself only for outputs made outside `fit` (for
    example by the data jobs' own CLIs) that you know match `cfg`. Returns the new fingerprint.
    """
    known = inputs_of(stage, cfg, layout) if known is None else known
    spec = STAGES[stage]
    stamp = stamps.write(layout.stamp(stage), stage, spec.version, reads(stage, cfg), _inputs(stage, known, cfg),
                         spec.outputs(cfg, layout), layout.workdir)
    return stamps.fingerprint(stamp)


__all__ = ["Layout", "PIPELINE", "STAGES", "between", "check", "reads", "record", "run"]
