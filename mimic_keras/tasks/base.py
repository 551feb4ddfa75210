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

    def prepare_options(self, layout):
        """The `Options` of the job (`pipelines/`) that converts the raw data into `layout.data`."""
        raise NotImplementedError

    def label_options(self, layout):
        """The `Options` of the job that writes the teachers' logits over the transfer set into `layout.transfer`."""
        raise NotImplementedError

    def prepare(self, layout):
        """Converts the raw data (`cfg.data.source`) into `layout.data`, in process, replacing what is there."""
        return run_job(self.prepare_options(layout))

    def label(self, layout):
        """Writes the teachers' logits into `layout.transfer`, in process."""
        return run_job(self.label_options(layout))

    def label_datasets(self, layout, train_cfg):
        """(train, validation, train count): batches of (inputs, int labels)."""
        raise NotImplementedError

    def transfer_datasets(self, layout, train_cfg):
        """(train, validation, train count): batches of (inputs, {"logits", "label"})."""
        raise NotImplementedError

    def transfer_examples(self, layout):
        """Examples per epoch of the mimic's transfer set, as the run's data options select them."""
        raise NotImplementedError

    def install_teachers(self, layout):
        """Puts teachers the config names (already trained) at `teacher_paths(layout)`; False: train them."""
        return False

    def build_teacher(self, index):
        raise NotImplementedError

    def build_student(self, name):
        raise NotImplementedError

    def evaluate(self, layout):
        """Evaluates every model of the run, writes report.json / report.md; returns the report.

        One loop for every dataset (`mimic_keras.eval.report`); the columns come from the
        task's `scorer`.
        """
        from mimic_keras.eval.report import evaluate_run

        return evaluate_run(self.cfg, layout, self.scorer(layout), self.transfer_examples(layout))

    def scorer(self, layout):
        """The report loop's scorer: each model role's columns and the Markdown table."""
        raise NotImplementedError

    def student_scores(self, model, data_dir, transfer_dir, transcripts_dir):
        """One student's scores against the labels and the teacher of its transfer set (a sweep row)."""
        raise NotImplementedError

    def export(self, layout, model, name, role="mimic"):
        """Exports model `role` as a SavedModel (and `cfg.export.tflite` LiteRT files) named `name`; returns its folder."""
        raise NotImplementedError

    def representative(self, layout, count=300):
        """`count` model inputs from the transfer set, as one array (LiteRT int8 calibration, benchmarks)."""
        raise NotImplementedError

    def deployed_scores(self, layout, predict, role="mimic"):
        """Test scores (`test_accuracy`, TIMIT also `test_per`) of a logits function over the test split."""
        raise NotImplementedError

    def teacher_paths(self, layout):
        return layout.teacher_models(self.cfg.teacher.num_teachers)



def runner_options(data):
    """`{"runner", "beam_args"}` of a data job's `Options` from the data config (`data.runner`,
    `data.beam_options`): where prepare and label run, never what they write."""
    import shlex

    return {"runner": data.runner, "beam_args": tuple(shlex.split(data.beam_options))}


def run_job(options):
    """Runs a data job in process from its `Options` (the job is the module that declares them)."""
    import importlib

    return importlib.import_module(type(options).__module__).run(options)
