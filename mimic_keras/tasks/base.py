"""What a dataset must provide to run through the stages: a `Task`, built from the run's config.

A task runs its data jobs (conversion of the raw data, labelling with the teachers), gives the
datasets each stage trains on, builds its teacher and student architectures, evaluates and
exports. It takes paths from a `Layout` and holds no other state than its config. Training
itself (strategy scope, compile, crash-safe fit) is shared: `mimic_keras.tasks.training`.
"""


class Task:
    """Base class; one subclass per dataset (`cifar10`, `timit`).

    Args:
        cfg: the run's `ExperimentConfig`.
    """

    name = None

    def __init__(self, cfg):
        self.cfg = cfg

    def prepare(self, layout):
        """Converts the raw data (`cfg.data.source`) into `layout.data`, replacing what is there."""
        raise NotImplementedError

    def label(self, layout):
        """Writes the teachers' logits over the transfer set into `layout.transfer`."""
        raise NotImplementedError

    def label_datasets(self, layout, train_cfg):
        """(train, validation, train count): batches of (inputs, int labels)."""
        raise NotImplementedError

    def transfer_datasets(self, layout, train_cfg):
        """(train, validation, train count): batches of (inputs, {"logits", "label"})."""
        raise NotImplementedError

    def transfer_examples(self, layout):
        """Examples per epoch of the mimic's transfer set, as the run's data options select them."""
        raise NotImplementedError

    def build_teacher(self, index):
        raise NotImplementedError

    def build_student(self, name):
        raise NotImplementedError

    def evaluate(self, layout):
        """Evaluates every model of the run, writes report.json / report.md; returns the report."""
        raise NotImplementedError

    def export(self, layout, model, name):
        """Exports one model as a SavedModel under `cfg.export_dir`; returns its folder."""
        raise NotImplementedError

    def teacher_paths(self, layout):
        return layout.teacher_models(self.cfg.teacher.num_teachers)


def run_job(argv):
    """Runs a `pipelines/` job; a failure raises `RuntimeError` naming the job."""
    import subprocess

    result = subprocess.run(argv)
    if result.returncode:
        raise RuntimeError(f"{argv[2]} failed (exit {result.returncode})")


class RunView:
    """What the evaluation code reads of a run: the config, the task and the layout's paths."""

    def __init__(self, task, layout):
        self.cfg, self.task, self.layout = task.cfg, task, layout
        self.workdir, self.data_dir, self.transfer_dir = layout.workdir, layout.data, layout.transfer
        self.teacher_paths = task.teacher_paths(layout)
        self.teacher_dir, self.path = layout.teacher_dir, layout.path

    def __getattr__(self, name):  # the task's methods take it as the layout
        return getattr(self.layout, name)
