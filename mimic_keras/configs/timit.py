"""TIMIT: its data fields, teacher kinds, config rules and presets."""

from dataclasses import dataclass
from typing import Optional

from mimic_keras import timit_layout
from mimic_keras.config import ControlTrainConfig, DataConfig, ExperimentConfig, MimicConfig, TeacherConfig, TrainConfig
from mimic_keras.config_schema import ConfigError, opt

TASK = "mimic_keras.tasks.timit:TimitTask"
TEACHER_KINDS = ("dnn", "cnn")


@dataclass
class TimitData(DataConfig):
    """TIMIT's data: context windows, speed-perturbed copies and extra speech for the transfer set."""

    dataset: str = opt("timit", "the dataset: picks the task, its data fields and presets", stages=("prepare",))
    source: str = opt("TIMIT", "a TIMIT copy (TRAIN/ and TEST/ of SPHERE .WAV + .PHN)", stages=("prepare",))
    unlabelled: Optional[str] = opt(None, "another TIMIT-layout corpus whose TRAIN speech joins the transfer set",
                                    stages=("prepare",))
    label_splits: tuple[str, ...] = opt(("dev", "test"), "held-out splits the teacher also labels",
                                        stages=("label",))
    context: int = opt(timit_layout.CONTEXT, "frames on each side of the classified one ((2c+1) x 123 inputs)", min=0, max=50,
                       stages=("teacher", "control"))
    perturb: tuple[float, ...] = opt((), "speed factors: prepare also writes each training utterance at these",
                                     above=0.0, stages=("prepare",))
    transfer_perturb: Optional[tuple[float, ...]] = opt(
        None, "speeds whose copies join the transfer set (none: all of perturb; (): none)", above=0.0,
        stages=("mimic",))
    transfer_unlabelled: Optional[float] = opt(None, "share of the extra speech in the transfer set (none: all)",
                                               choices=(0.0, 0.25, 0.5, 0.75, 1.0), stages=("mimic",))
    full_test: bool = opt(False, "test on every TEST speaker, not the 24-speaker core set", stages=("prepare",))


DATA_CONFIG = TimitData


def check(cfg):
    """TIMIT's own rules (run with the field checks, before any stage)."""
    if cfg.mimic.conv_filters:
        raise ConfigError(f"mimic.conv_filters={cfg.mimic.conv_filters}: TIMIT mimics are MLPs on context "
                          "windows; set mimic.conv_filters=0")
    for name in ("teacher_train", "mimic_train", "control_train"):
        if getattr(cfg, name).augment:
            raise ConfigError(f"{name}.augment=true: TIMIT frames have no on-the-fly augmentation; set it false")


def _timit_quick():
    # The synthetic stand-in corpus (../shared/data/timit-standin, 642 training utterances,
    # 142k frames), narrow nets and few epochs. Teachers: a DNN and a CNN, whose ensemble
    # labels the transfer set (Table 1's rows in miniature). The control overfits within a few
    # epochs, so both shallow nets keep the weights of their lowest dev loss.
    return ExperimentConfig(
        name="timit-quick",
        num_classes=timit_layout.NUM_STATES,
        data=TimitData(source="../shared/data/timit-standin"),
        teacher=TeacherConfig(kind="dnn,cnn", conv_filters=(64,), kernel_size=8, freq_pool=3,
                              dense_units=(512, 512, 512), dropout=0.1, num_teachers=2),
        teacher_train=TrainConfig(epochs=5, batch_size=256, learning_rate=1e-3, augment=False),
        mimic=MimicConfig(conv_filters=0, bottleneck=128, hidden=2048),
        mimic_train=TrainConfig(epochs=12, batch_size=256, learning_rate=1e-3, augment=False, checkpoint="best"),
        control_train=ControlTrainConfig(epochs=12, batch_size=256, learning_rate=1e-3, augment=False, checkpoint="best"),
        # Eight steps per call into the graph: the MLPs' steps are short, and the per-call
        # overhead was 10% of a timit-quick mimic epoch (docs/performance.md). Results are
        # the same; progress bars and the NaN check act every 8 steps.
        steps_per_execution=8,
    )


def _timit_paper():
    # The paper's sizes (Ba & Caruana 2014, TIMIT): DNN 3 x 2000 (12M parameters), CNNs of
    # about 13M; the mimic is 1845 -> k=250 linear -> 8000 ReLU -> 183 (SNN-MIMIC-8k; set
    # mimic.hidden=50000 or 400000 for the wider rows). A GPU machine's run.
    return ExperimentConfig(
        name="timit-paper",
        num_classes=timit_layout.NUM_STATES,
        data=TimitData(source="TIMIT"),
        teacher=TeacherConfig(kind="dnn,cnn,cnn,cnn", conv_filters=(200,), kernel_size=8, freq_pool=3,
                              dense_units=(2000, 2000, 2000), dropout=0.2, num_teachers=4),
        teacher_train=TrainConfig(epochs=20, batch_size=256, learning_rate=1e-3, augment=False),
        mimic=MimicConfig(conv_filters=0, bottleneck=250, hidden=8000),
        mimic_train=TrainConfig(epochs=40, batch_size=256, learning_rate=5e-4, augment=False, checkpoint="best"),
        control_train=ControlTrainConfig(epochs=40, batch_size=256, learning_rate=5e-4, augment=False, checkpoint="best"),
        steps_per_execution=8,  # as timit-quick's
    )


PRESETS = {"timit-quick": _timit_quick, "timit-paper": _timit_paper}
