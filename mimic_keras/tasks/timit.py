"""TIMIT as a `Task`: utterance TFRecords, DNN / CNN frame-classifier teachers, MLP mimics.

Every model classifies one frame from its normalised ±c-frame context window ((2c+1) × 123
values, `mimic_keras.data.timit`) into 183 HMM states. The transfer set is the training
frames with the teacher's per-frame logits, written once by
`pipelines/label_timit_with_teacher.py`; the mimic reads them from those records. With
`data.perturb` (speed factors), prepare also writes speed-perturbed copies of the training
utterances, unlabelled, which the teacher labels too; `data.transfer_perturb` picks the speeds
whose copies join the transfer set (None: all, (): none), interleaved with the training frames.
`data.unlabelled` names another corpus whose training speech prepare writes as four unlabelled
parts (`extra_0..3`); `data.transfer_unlabelled` picks the share of it in the transfer set.
"""

import os
import sys

from mimic_keras.data import timit, writer
from mimic_keras.distribute import distribute_options
from mimic_keras.models import speech
from mimic_keras.models.mimics import build_mimic
from mimic_keras.tasks.base import Task


def _check_train_config(train_cfg):
    if train_cfg.augment:
        raise ValueError("TIMIT frames have no on-the-fly augmentation; set <stage>_train.augment=false")


class TimitTask(Task):
    name = "timit"

    def prepare_command(self, run):
        data = run.cfg.data
        cmd = [sys.executable, "-m", "pipelines.timit_to_tfrecord", "--timit", data.source, "--out", run.data_dir]
        if data.limit:
            cmd += ["--limit", str(data.limit)]
        if data.perturb:
            cmd += ["--perturb", ",".join(timit.speed_key(f) for f in data.perturb)]
        if data.unlabelled:
            cmd += ["--unlabelled", data.unlabelled]
        if data.full_test:
            cmd += ["--full-test"]
        return cmd

    def is_prepared(self, run):
        if not super().is_prepared(run):
            return False
        data, source = run.cfg.data, writer.read_manifest(run.data_dir).get("source", {})
        return (
            source.get("root") == os.path.abspath(data.source)
            and source.get("limit") == data.limit
            and sorted(source.get("perturb", [])) == sorted({float(f) for f in data.perturb})
            and source.get("unlabelled") == (os.path.abspath(data.unlabelled) if data.unlabelled else None)
            and source.get("full_test") == data.full_test
        )

    def label_command(self, run):
        cmd = [sys.executable, "-m", "pipelines.label_timit_with_teacher", "--data", run.data_dir,
               "--out", run.transfer_dir, "--context", str(run.cfg.data.context)]
        for path in run.teacher_paths:
            cmd += ["--teacher", path]
        splits = ["train", *run.cfg.data.label_splits]
        if timit.PERTURBED_SPLIT in writer.read_manifest(run.data_dir)["splits"]:
            splits.append(timit.PERTURBED_SPLIT)
        return cmd + ["--splits", *splits, *timit.extra_splits(run.data_dir)]

    @staticmethod
    def _frames(run, data_dir, split, train_cfg, training, target="label", speeds=None):
        return distribute_options(timit.frame_pipeline(
            data_dir, split, train_cfg.batch_size, training=training, context=run.cfg.data.context,
            target=target, seed=train_cfg.seed if training else None, speeds=speeds,
        ))

    def label_datasets(self, run, train_cfg):
        _check_train_config(train_cfg)
        train = self._frames(run, run.data_dir, "train", train_cfg, training=True)
        val = self._frames(run, run.data_dir, "dev", train_cfg, training=False)
        return train, val, timit.num_frames(run.data_dir, "train")

    def transfer_datasets(self, run, train_cfg):
        _check_train_config(train_cfg)
        if run.cfg.data.transfer_views is not None or run.cfg.data.mixup:
            raise ValueError("data.transfer_views and data.mixup apply to image transfer sets only")
        splits, speeds = transfer_splits(run)
        train = self._frames(run, run.transfer_dir, splits, train_cfg, training=True, target="distill", speeds=speeds)
        val = self._frames(run, run.transfer_dir, "dev", train_cfg, training=False, target="distill")
        return train, val, timit.num_frames(run.transfer_dir, splits, speeds)

    def transfer_examples(self, run):
        """Frames per epoch of the mimic's transfer set (training frames + the chosen copies and extra speech)."""
        splits, speeds = transfer_splits(run)
        return timit.num_frames(run.transfer_dir, splits, speeds)

    def build_teacher(self, cfg, index):
        return speech.build_speech_teacher(
            cfg.teacher, cfg.num_classes, cfg.data.context, kind=cfg.teacher.kind_of(index), name=f"teacher_{index}"
        )

    def build_student(self, cfg, name):
        if cfg.mimic.conv_filters:
            raise ValueError("TIMIT mimics are MLPs on context windows: set mimic.conv_filters=0")
        return build_mimic(cfg.mimic, cfg.num_classes, input_shape=(speech.input_dim(cfg.data.context),), name=name)

    def evaluate(self, run):
        from mimic_keras.eval.report import evaluate_run

        return evaluate_run(run)

    def export(self, run, model, name):
        """Exports a frame classifier whose utterance signature takes raw [T, 123] features.

        The training split's normalisation statistics are baked into the SavedModel.
        """
        from mimic_keras.export import export_frame_classifier

        normalization = timit.normalization(run.data_dir)
        context = run.cfg.data.context
        return export_frame_classifier(
            model, run.cfg.export_dir, name, normalization=normalization, context=context
        )


def transfer_splits(run):
    """(splits, speeds) of the mimic's transfer set, after checking the labelled folder has them.

    `data.transfer_perturb` None takes every speed the data was prepared with (`data.perturb`,
    as the data manifest records it); () only the training frames. `data.transfer_unlabelled`
    takes that share of the extra speech (`data.unlabelled`; None: all of it).

    Raises:
        ValueError: speeds or extra speech the data or the labelled transfer set lacks, or a
            transfer set labelled from another conversion of the data.
    """
    data = run.cfg.data
    prepared = timit.perturbed_counts(run.data_dir)
    wanted = sorted(prepared) if data.transfer_perturb is None else [timit.speed_key(f) for f in data.transfer_perturb]
    missing = [f for f in wanted if f not in prepared]
    if missing:
        raise ValueError(
            f"data.transfer_perturb asks for speed(s) {', '.join(missing)}, but {run.data_dir} has copies at "
            f"{', '.join(sorted(prepared)) or 'none'}: add them to data.perturb and rerun prepare and label (--force)"
        )
    if data.transfer_unlabelled and not timit.extra_splits(run.data_dir):
        raise ValueError(
            f"data.transfer_unlabelled={data.transfer_unlabelled} but {run.data_dir} has no extra speech: "
            f"set data.unlabelled to another corpus and rerun prepare and label (--force)"
        )
    splits = ["train"] + ([timit.PERTURBED_SPLIT] if wanted else [])
    splits += timit.extra_splits(run.data_dir, data.transfer_unlabelled)
    if len(splits) == 1:
        return ("train",), None
    transfer = writer.read_manifest(run.transfer_dir)
    data_fingerprint = writer.read_manifest(run.data_dir).get("fingerprint")
    if any(s not in transfer["splits"] for s in splits) or transfer.get("source", {}).get("fingerprint") != data_fingerprint:
        raise ValueError(
            f"{run.transfer_dir} was labelled from another conversion of {run.data_dir} (one without its "
            f"speed-perturbed copies or extra speech); rerun the label stage (--force)"
        )
    return tuple(splits), (tuple(float(f) for f in wanted) if wanted else None)
