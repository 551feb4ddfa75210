"""Where a run's files go: a pure description of one workdir (no I/O).

    config.json            the resolved config
    stamps/<stage>.json    what made each stage's outputs (`mimic_keras.stages`)
    data/                  converted TFRecords (prepare)
    teacher/teacher_<i>/   each teacher's run folder (teacher)
    transfer/              records with the teacher's logits (label)
    mimic/, control/       the shallow nets' run folders (mimic, control)
    report.json, report.md, curves.png, hidden.png   (evaluate; `report` redraws the figures)
    export.json            where the SavedModels went (export)
    litert.json, litert.md LiteRT variants' test scores and sizes beside the Keras model's (export)
    tune/                  searches of `python -m mimic_keras.tune`
"""

import os
from dataclasses import dataclass

STUDENTS = ("mimic", "control")  # the shallow nets of a run, each in its own run folder


@dataclass(frozen=True)
class Layout:
    """The paths of one run folder.

    Args:
        workdir: the run folder.
    """

    workdir: str

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)

    @property
    def config(self):
        return self.path("config.json")

    @property
    def data(self):
        return self.path("data")

    @property
    def transfer(self):
        return self.path("transfer")

    def stamp(self, stage):
        return self.path("stamps", f"{stage}.json")

    def teacher_dir(self, index):
        return self.path("teacher", f"teacher_{index}")

    def teacher_models(self, count):
        return [os.path.join(self.teacher_dir(i), "model.keras") for i in range(count)]

    def run_dir(self, role):
        """The run folder of `mimic`, `control` or `teacher_<i>`."""
        if role.startswith("teacher_"):
            return self.teacher_dir(int(role.split("_", 1)[1]))
        return self.path(role)

    def model(self, role):
        return os.path.join(self.run_dir(role), "model.keras")

    @property
    def report_json(self):
        return self.path("report.json")

    @property
    def report_md(self):
        return self.path("report.md")

    @property
    def export_json(self):
        return self.path("export.json")

    @property
    def litert_json(self):
        return self.path("litert.json")

    @property
    def litert_md(self):
        return self.path("litert.md")

    @property
    def tune(self):
        return self.path("tune")
