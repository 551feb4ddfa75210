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

from mimic_keras import timit_layout
from mimic_keras.data import phones, timit, writer
from mimic_keras.distribute import distribute_options
from mimic_keras.models import speech_teachers
from mimic_keras.models.mimics import build_mimic
from mimic_keras.tasks.base import Task, runner_options


class TimitTask(Task):
    name = "timit"
    cannot_grow = ("its transfer records are whole utterances, and each frame's input is a context window "
                   "it shares with its neighbours: a window changed on its own fits no utterance "
                   "(growing works on image runs)")
    eval_splits = ("dev", "test")

    def prepare_options(self, layout):
        from pipelines import timit_to_tfrecord

        data = self.cfg.data
        return timit_to_tfrecord.Options(timit=data.source, out=layout.data, limit=data.limit,
                                         perturb=tuple(data.perturb), unlabelled=data.unlabelled,
                                         full_test=data.full_test, force=True, **runner_options(data))

    def label_options(self, layout):
        from pipelines import label_timit_with_teacher

        splits = ["train", *self.cfg.data.label_splits]
        if timit.PERTURBED_SPLIT in writer.read_manifest(layout.data)["splits"]:
            splits.append(timit.PERTURBED_SPLIT)
        return label_timit_with_teacher.Options(
            data=layout.data, teacher=tuple(self.teacher_paths(layout)), out=layout.transfer,
            context=self.cfg.data.context, splits=(*splits, *timit.extra_splits(layout.data)), force=True,
            **runner_options(self.cfg.data),
        )

    def _frames(self, data_dir, split, train_cfg, training, target="label", speeds=None):
        return distribute_options(timit.frame_pipeline(
            data_dir, split, train_cfg.batch_size, training=training, context=self.cfg.data.context,
            target=target, seed=train_cfg.seed if training else None, speeds=speeds,
        ))

    def label_datasets(self, layout, train_cfg):
        train = self._frames(layout.data, "train", train_cfg, training=True)
        val = self._frames(layout.data, "dev", train_cfg, training=False)
        return train, val, timit.num_frames(layout.data, "train")

    def transfer_datasets(self, layout, train_cfg):
        splits, speeds = transfer_splits(self.cfg.data, layout)
        train = self._frames(layout.transfer, splits, train_cfg, training=True, target="distill", speeds=speeds)
        val = self._frames(layout.transfer, "dev", train_cfg, training=False, target="distill")
        return train, val, timit.num_frames(layout.transfer, splits, speeds)

    def transfer_examples(self, layout):
        """Frames per epoch of the mimic's transfer set (training frames + the chosen copies and extra speech)."""
        splits, speeds = transfer_splits(self.cfg.data, layout)
        return timit.num_frames(layout.transfer, splits, speeds)

    def split_batches(self, layout, split, batch_size):
        """Batches of (normalised context windows, int state labels) of `split` of the converted data."""
        return timit.frame_pipeline(layout.data, split, batch_size, training=False, context=self.cfg.data.context)

    def reported_classes(self, layout):
        """Each state under its phone (61-set): a phone's three states count as one class."""
        if self.cfg.num_classes != timit_layout.NUM_STATES:
            return None
        return [phones.PHONES[s // timit_layout.STATES_PER_PHONE] for s in range(timit_layout.NUM_STATES)]

    def build_teacher(self, index):
        cfg = self.cfg
        return speech_teachers.build_speech_teacher(
            cfg.teacher, cfg.num_classes, cfg.data.context, kind=cfg.teacher.kind_of(index), name=f"teacher_{index}"
        )

    def build_student(self, name):
        cfg = self.cfg
        return build_mimic(cfg.mimic, cfg.num_classes, input_shape=(timit_layout.input_dim(cfg.data.context),), name=name)

    def scorer(self, layout):
        from mimic_keras.eval.speech_scoring import SpeechScorer

        return SpeechScorer(self.cfg, layout.data, layout.path("transcripts"))

    def student_scores(self, model, layout, stage="mimic"):
        from mimic_keras.eval import speech_scoring

        return speech_scoring.student_scores(model, layout.data, layout.transfer, self.cfg.data.context,
                                             layout.path("transcripts", stage))

    def score_files(self, layout, stage="mimic"):
        """The decoded dev and test transcripts and their references (`experiments/paired_ci.py` reads them)."""
        from mimic_keras.eval.speech_scoring import transcript_files

        return transcript_files(layout.path("transcripts", stage))

    def export(self, layout, model, name, role="mimic"):
        """Exports a frame classifier whose utterance signature takes raw [T, 123] features.

        The training split's normalisation statistics are baked into the SavedModel; they and
        the decoder (the phone HMM, with the LM weight and insertion penalty the evaluate stage
        tuned on dev for this model) travel in its metadata for `mimic_keras.predict`.
        """
        from mimic_keras.export import export_frame_classifier

        tflite = self.cfg.export.tflite
        return export_frame_classifier(
            model, self.cfg.export.dir, name, normalization=timit.normalization(layout.data),
            context=self.cfg.data.context, decoder=self.decoder(layout, role), tflite=tflite,
            representative=self.representative(layout) if "int8" in tflite else None,
        )

    def decoder(self, layout, role):
        """`hmm.decoder_state` of `role`: the data's phone HMM and the settings evaluate tuned for it."""
        import json

        from mimic_keras.eval.hmm import PhoneHMM, decoder_state

        with open(layout.report_json) as f:
            row = next(r for r in json.load(f)["models"] if r["model"] == role)
        return decoder_state(PhoneHMM.from_manifest(layout.data), row["lm_weight"], row["insertion_penalty"])

    def representative(self, layout, count=300):
        """The first `count` normalised training windows: calibration and benchmark inputs."""
        import numpy as np

        ds = timit.frame_pipeline(layout.data, "train", count, training=False, context=self.cfg.data.context)
        return np.asarray(next(iter(ds))[0])

    def deployed_scores(self, layout, predict, role="mimic"):
        """Test `state_accuracy` and `per` of a logits function, decoded with `role`'s tuned decoder."""
        from mimic_keras.eval.hmm import decode_utterances, decoder_from_state
        from mimic_keras.eval.per import error_counts, error_rate
        from mimic_keras.eval.utterances import frame_accuracies, predict_utterances

        utts = predict_utterances(predict, layout.data, "test", self.cfg.data.context)
        hmm, lm_weight, penalty = decoder_from_state(self.decoder(layout, role))
        per = error_rate(error_counts(*decode_utterances(utts, hmm, lm_weight, penalty)))
        return {"test_accuracy": frame_accuracies(utts)["state_accuracy"], "test_per": per}


def transfer_splits(data, layout):
    """(splits, speeds) of the mimic's transfer set, after checking the labelled folder has them.

    `data.transfer_perturb` None takes every speed the data was prepared with (`data.perturb`,
    as the data manifest records it); () only the training frames. `data.transfer_unlabelled`
    takes that share of the extra speech (`data.unlabelled`; None: all of it).

    Raises:
        ValueError: speeds or extra speech the data or the labelled transfer set lacks, or a
            transfer set labelled from another conversion of the data.
    """
    data_dir, transfer_dir = layout.data, layout.transfer
    prepared = timit.perturbed_counts(data_dir)
    wanted = sorted(prepared) if data.transfer_perturb is None else [timit.speed_key(f) for f in data.transfer_perturb]
    missing = [f for f in wanted if f not in prepared]
    if missing:
        raise ValueError(
            f"data.transfer_perturb asks for speed(s) {', '.join(missing)}, but {data_dir} has copies at "
            f"{', '.join(sorted(prepared)) or 'none'}: add them to data.perturb and rerun prepare and label (--force)"
        )
    if data.transfer_unlabelled and not timit.extra_splits(data_dir):
        raise ValueError(
            f"data.transfer_unlabelled={data.transfer_unlabelled} but {data_dir} has no extra speech: "
            f"set data.unlabelled to another corpus and rerun prepare and label (--force)"
        )
    splits = ["train"] + ([timit.PERTURBED_SPLIT] if wanted else [])
    splits += timit.extra_splits(data_dir, data.transfer_unlabelled)
    if len(splits) == 1:
        return ("train",), None
    transfer = writer.read_manifest(transfer_dir)
    data_fingerprint = writer.read_manifest(data_dir).get("fingerprint")
    if any(s not in transfer["splits"] for s in splits) or transfer.get("source", {}).get("fingerprint") != data_fingerprint:
        raise ValueError(
            f"{transfer_dir} was labelled from another conversion of {data_dir} (one without its "
            f"speed-perturbed copies or extra speech); rerun the label stage (--force)"
        )
    return tuple(splits), (tuple(float(f) for f in wanted) if wanted else None)
