"""The stages of a run, one method each, over one workdir. `mimic_keras.fit` is their CLI.

The workdir holds everything a run makes:

    config.json            the resolved config
    data/                  converted TFRecords (prepare)
    teacher/teacher_<i>/   each teacher's run folder (teacher)
    transfer/              records with the teacher's logits (label)
    mimic/, control/       the shallow nets' run folders (mimic, control)
    report.json, report.md, curves.png, hidden.png   (evaluate; `report` redraws the figures)
    export.json            where the SavedModels went (export)
"""

import os
import subprocess

from mimic_keras import config as config_lib
from mimic_keras.data import writer

# What `all` runs, in order. `report` only redraws the figures evaluate already drew, from report.json.
PIPELINE = ("prepare", "teacher", "label", "mimic", "control", "evaluate", "export")
STAGES = PIPELINE + ("report",)


class Run:
    """One experiment's stages over a workdir.

    Args:
        cfg: an `ExperimentConfig`.
        workdir: the run folder.
        force: redo stages whose outputs exist.
    """

    def __init__(self, cfg, workdir, force=False):
        self.cfg = cfg
        self.workdir = workdir
        self.force = force
        self._strategy = None
        if cfg.strategy == "multi_worker":
            self.strategy  # noqa: B018  now, before any TF op: collectives are set up at program start
        os.makedirs(workdir, exist_ok=True)
        writer.write_json_atomic(self.path("config.json"), config_lib.to_dict(cfg))

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)

    @property
    def data_dir(self):
        return self.path("data")

    @property
    def transfer_dir(self):
        return self.path("transfer")

    def teacher_dir(self, i):
        return self.path("teacher", f"teacher_{i}")

    @property
    def teacher_paths(self):
        return [os.path.join(self.teacher_dir(i), "model.keras") for i in range(self.cfg.teacher.num_teachers)]

    @property
    def task(self):
        """The dataset's `Task` (data jobs, input pipelines, architectures, evaluation, export)."""
        from mimic_keras.tasks import get_task

        return get_task(self.cfg.data.dataset)

    @property
    def strategy(self):
        """Built once, first, before any model (the mixed-precision policy is set with it)."""
        if self._strategy is None:
            import keras

            from mimic_keras.distribute import get_strategy

            if self.cfg.mixed_precision:
                keras.mixed_precision.set_global_policy(self.cfg.mixed_precision)
            self._strategy = get_strategy(self.cfg.strategy)
        return self._strategy

    def run_stage(self, stage):
        """Runs one stage; returns False when it was skipped because its outputs exist (`report` never is)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose from {', '.join(STAGES)}")
        if not self.force and self.is_done(stage):
            return False
        getattr(self, f"_{stage}")()
        return True

    def is_done(self, stage):
        if stage == "prepare":
            return self.task.is_prepared(self)
        if stage == "teacher":
            return all(os.path.exists(p) for p in self.teacher_paths)
        if stage == "label":
            return self._transfer_matches_teachers()
        if stage in ("mimic", "control"):
            return os.path.exists(self.path(stage, "model.keras"))
        if stage == "evaluate":
            return os.path.exists(self.path("report.json"))
        if stage == "report":
            return False  # cheap, and its point is to redraw what exists
        return os.path.exists(self.path("export.json"))

    def _transfer_matches_teachers(self):
        from mimic_keras.teachers_io import model_fingerprint

        if not writer.is_complete(self.transfer_dir) or not all(map(os.path.exists, self.teacher_paths)):
            return False
        transfer = writer.read_manifest(self.transfer_dir)
        if writer.is_complete(self.data_dir):  # labelled from this conversion of the data?
            if transfer.get("source", {}).get("fingerprint") != writer.read_manifest(self.data_dir).get("fingerprint"):
                return False
        return sorted(transfer["teacher"]["sha256"]) == sorted(model_fingerprint(p) for p in self.teacher_paths)

    def _require(self, stage):
        if stage == "label" and not self.is_done(stage) and writer.is_complete(self.transfer_dir) and all(
            map(os.path.exists, self.teacher_paths)
        ):
            raise ValueError(
                f"{self.transfer_dir} was labelled by other teachers than {self.teacher_paths} or from "
                "another conversion of the data; rerun the label stage (--force)"
            )
        if not self.is_done(stage):
            raise FileNotFoundError(f"run stage '{stage}' first (its outputs are missing in {self.workdir})")

    # -- the stages -------------------------------------------------------------------------

    def _prepare(self):
        subprocess.run(self.task.prepare_command(self) + (["--force"] if self.force else []), check=True)

    def _teacher(self):
        from mimic_keras.tasks import train_teacher

        self._require("prepare")
        for i, path in enumerate(self.teacher_paths):
            if os.path.exists(path) and not self.force:
                continue
            print(f"training teacher {i + 1}/{len(self.teacher_paths)}", flush=True)
            train_teacher(self, i)

    def _label(self):
        self._require("teacher")
        subprocess.run(self.task.label_command(self) + (["--force"] if self.force else []), check=True)

    def _mimic(self):
        from mimic_keras.tasks import train_mimic

        self._require("label")
        train_mimic(self)

    def _control(self):
        from mimic_keras.tasks import train_control

        self._require("prepare")
        train_control(self)

    def _evaluate(self):
        for stage in ("teacher", "mimic", "control"):
            self._require(stage)
        self.task.evaluate(self)

    def _report(self):
        from mimic_keras.report import redraw_figures

        for path in redraw_figures(self):
            print(path, flush=True)

    def _export(self):
        from mimic_keras.tasks import export_models

        self._require("mimic")
        export_models(self)
