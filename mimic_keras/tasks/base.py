"""What a dataset must provide to run through the stages: a `Task`, built from the run's config.

A task runs its data jobs (conversion of the raw data, labelling with the teachers), gives the
datasets each stage trains on, builds its teacher and student architectures, evaluates and
exports. It takes paths from a `Layout` and holds no other state than its config. Training
itself (strategy scope, compile, crash-safe fit) is shared: `mimic_keras.tasks.training`.
"""

from mimic_keras.layout import STUDENTS


class Task:
    """Base class; one subclass per dataset (`cifar10`, `timit`, `images`).

    Args:
        cfg: the run's `ExperimentConfig`.
    """

    name = None
    # What `mimic_keras.grow` needs to synthesise transfer examples by gradient ascent on the
    # inputs: their valid range and the step their stored values are multiples of (1 for uint8
    # pixels; None: continuous). A task without `input_range` cannot grow its transfer set and
    # says why in `cannot_grow`.
    input_range = None
    input_step = None
    # The labelled splits of the converted data that `split_batches` reads, the validation split first.
    eval_splits = ()
    cannot_grow = "its task does not give single transfer examples to synthesise from (Task.grow_source)"

    def __init__(self, cfg):
        self.cfg = cfg

    def _missing(self, method):
        return NotImplementedError(
            f"dataset {self.cfg.data.dataset!r}: its task ({type(self).__name__}) does not implement Task.{method}"
        )

    def prepare_options(self, layout):
        """The `Options` of the job (`pipelines/`) that converts the raw data into `layout.data`."""
        raise self._missing("prepare_options")

    def label_options(self, layout):
        """The `Options` of the job that writes the teachers' logits over the transfer set into `layout.transfer`."""
        raise self._missing("label_options")

    def prepare(self, layout):
        """Converts the raw data (`cfg.data.source`) into `layout.data`, in process, replacing what is there."""
        return run_job(self.prepare_options(layout))

    def label(self, layout):
        """Writes the teachers' logits into `layout.transfer`, in process."""
        return run_job(self.label_options(layout))

    def label_datasets(self, layout, train_cfg):
        """(train, validation, train count): batches of (inputs, int labels)."""
        raise self._missing("label_datasets")

    def transfer_datasets(self, layout, train_cfg):
        """(train, validation, train count): batches of (inputs, {"logits", "label"})."""
        raise self._missing("transfer_datasets")

    def transfer_examples(self, layout):
        """Examples per epoch of the mimic's transfer set, as the run's data options select them."""
        raise self._missing("transfer_examples")

    def mimic_sources(self, layout):
        """Files from outside the run that the mimic stage reads (extra transfer records): their
        digests join the stage's stamp, so a changed one makes the mimic stale."""
        return []

    def grow_source(self, layout):
        """The transfer set's training records as a dataset of dicts: `inputs` (one model input),
        `label`, `id`, `view` and the teachers' `logits`, in file order."""
        raise ValueError(f"dataset {self.cfg.data.dataset!r}: cannot grow its transfer set: {self.cannot_grow}")

    def grow_record(self, inputs, label, example_id, logits, view):
        """One synthesised input (already quantised) as a record of the transfer set's format (bytes)."""
        raise ValueError(f"dataset {self.cfg.data.dataset!r}: cannot grow its transfer set: {self.cannot_grow}")

    def install_teachers(self, layout):
        """Puts teachers the config names (already trained) at `teacher_paths(layout)`; False: train them."""
        return False

    def build_teacher(self, index):
        raise self._missing("build_teacher")

    def build_student(self, name):
        raise self._missing("build_student")

    def evaluate(self, layout):
        """Evaluates every model of the run, writes report.json / report.md; returns the report.

        One loop for every dataset (`mimic_keras.eval.report`); the columns come from the
        task's `scorer`.
        """
        from mimic_keras.eval.report import evaluate_run

        return evaluate_run(self.cfg, layout, self.scorer(layout), self.transfer_examples(layout),
                            self.model_paths(layout))

    def scorer(self, layout):
        """The report loop's scorer: each model role's columns and the Markdown table."""
        raise self._missing("scorer")

    def student_scores(self, model, layout, stage="mimic"):
        """One student's scores against the labels and the teacher of the run's transfer set (a sweep row).

        `stage` names the student (a sweep's variant), for any files scoring writes in the workdir.
        """
        raise self._missing("student_scores")

    def score_files(self, layout, stage="mimic"):
        """The files `student_scores` writes in the workdir for student `stage` (none by default).

        Scores kept from an earlier scoring (`experiments/mimic_sweep.py`) are reused only
        while these exist: a rerun rewrites what was deleted.
        """
        return []

    def export(self, layout, model, name, role="mimic"):
        """Exports model `role` as a SavedModel (and `cfg.export.tflite` LiteRT files) named `name`; returns its folder."""
        raise self._missing("export")

    def representative(self, layout, count=300):
        """`count` model inputs from the transfer set, as one array (LiteRT int8 calibration, benchmarks)."""
        raise self._missing("representative")

    def deployed_scores(self, layout, predict, role="mimic"):
        """Test scores (`test_accuracy`, TIMIT also `test_per`) of a logits function over the test split."""
        raise self._missing("deployed_scores")

    def split_batches(self, layout, split, batch_size):
        """Batches of (model inputs, int labels) of a labelled split of `layout.data` (`eval_splits`), in file order."""
        raise self._missing("split_batches")

    def reported_classes(self, layout):
        """The name each logit's class is reported under, in logit order; None: its index.

        Classes that share a name are counted as one in per-class tables (TIMIT: a state under its phone).
        """
        return None

    def teacher_paths(self, layout):
        """Each teacher's model (a `.keras` file or a SavedModel folder), in its run folder."""
        return layout.teacher_models(self.cfg.teacher.num_teachers)

    def model_paths(self, layout):
        """Model name → model path of every model the report scores: teachers, mimic, control."""
        paths = {f"teacher_{i}": path for i, path in enumerate(self.teacher_paths(layout))}
        paths.update((role, layout.model(role)) for role in STUDENTS)
        return paths



def runner_options(data):
    """`{"runner", "beam_args"}` of a data job's `Options` from the data config (`data.runner`,
    `data.beam_options`): where prepare and label run, never what they write."""
    import shlex

    return {"runner": data.runner, "beam_args": tuple(shlex.split(data.beam_options))}


def run_job(options):
    """Runs a data job in process from its `Options` (the job is the module that declares them)."""
    import importlib

    return importlib.import_module(type(options).__module__).run(options)
