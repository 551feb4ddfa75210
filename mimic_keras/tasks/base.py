"""What a dataset must provide to run through the stages: a `Task`.

A task knows its data jobs (the `pipelines/` commands that convert raw data and label it with a
teacher), its input pipelines, its teacher and student architectures, how to evaluate and how to
export. Training itself (strategy scope, compile, crash-safe fit) is shared: `mimic_keras.tasks`.
"""


class Task:
    """Base class; one subclass per dataset (`cifar10`, `timit`)."""

    name = None

    def is_prepared(self, run):
        """True when `run.data_dir` holds a finished conversion made with the run's data config."""
        from mimic_keras.data import writer

        return writer.is_complete(run.data_dir)

    def prepare_command(self, run):
        """argv of the `pipelines/` job that converts raw data into `run.data_dir`."""
        raise NotImplementedError

    def label_command(self, run):
        """argv of the `pipelines/` job that writes the teacher's logits into `run.transfer_dir`."""
        raise NotImplementedError

    def label_datasets(self, run, train_cfg):
        """(train, validation, train count): batches of (inputs, int labels)."""
        raise NotImplementedError

    def transfer_datasets(self, run, train_cfg):
        """(train, validation, train count): batches of (inputs, {"logits", "label"})."""
        raise NotImplementedError

    def transfer_examples(self, run):
        """Examples per epoch of the mimic's transfer set, as the run's data options select them."""
        raise NotImplementedError

    def build_teacher(self, cfg, index):
        raise NotImplementedError

    def build_student(self, cfg, name):
        raise NotImplementedError

    def evaluate(self, run):
        """Evaluates every model of the run, writes report.json / report.md; returns the report."""
        raise NotImplementedError

    def export(self, run, model, name):
        """Exports one model of `run` as a SavedModel under `run.cfg.export_dir`; returns its folder."""
        raise NotImplementedError
