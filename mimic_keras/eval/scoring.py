"""Scoring a classifier, by dataset: the one place that picks CIFAR-10's or TIMIT's scoring.

`make_scorer` gives the report loop (`mimic_keras.eval.report.evaluate`) its columns for each
model role; `student_scores` scores one student for a sweep row (`experiments/mimic_sweep.py`).
The scoring itself is in `image_scoring` (CIFAR-10) and `speech_scoring` (TIMIT).
"""

from mimic_keras.eval import image_scoring, speech_scoring


def make_scorer(cfg, data_dir, transfer_dir, transcripts_dir):
    """The report scorer of the run's dataset (`cfg.data.dataset`).

    Args:
        cfg: the run's `ExperimentConfig`.
        data_dir: the converted folder.
        transfer_dir: the teacher-labelled folder.
        transcripts_dir: where TIMIT models' transcripts go, one folder per model.

    Returns:
        An `image_scoring.ImageScorer` or a `speech_scoring.SpeechScorer`.
    """
    if cfg.data.dataset == "timit":
        return speech_scoring.SpeechScorer(cfg, data_dir, transcripts_dir)
    return image_scoring.ImageScorer(cfg, data_dir, transfer_dir)


def student_scores(cfg, model, data_dir, transfer_dir, transcripts_dir):
    """One student's scores against the labels and against the teacher of its transfer set.

    Args:
        cfg: the run's `ExperimentConfig`.
        model: the student (Keras model).
        data_dir: the converted folder.
        transfer_dir: the teacher-labelled folder (the teacher's logits).
        transcripts_dir: gets TIMIT's `{dev,test}.{ref,hyp}.txt`.

    Returns:
        The dataset's `student_scores` dict: at least `parameters`, `test_accuracy`,
        `test_accuracy_ci95`, `teacher_test_accuracy`, `val_l2_to_teacher`, `test_agreement`.
    """
    if cfg.data.dataset == "timit":
        return speech_scoring.student_scores(model, data_dir, transfer_dir, cfg.data.context, transcripts_dir)
    return image_scoring.student_scores(model, data_dir, transfer_dir, cfg.num_classes)
