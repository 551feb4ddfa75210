"""`compile_distiller`: the mimic stage's Distiller, as `fit mimic` compiles it."""

import dataclasses

import keras
import numpy as np

from mimic_keras.config import DistillConfig, ExperimentConfig, MimicConfig, TrainConfig
from mimic_keras.distiller import Distiller
from mimic_keras.models.mimics import build_mimic
from mimic_keras.optimizers import FusedAdam, FusedSGD
from mimic_keras.tasks.training import compile_distiller


def _cfg(**train):
    return ExperimentConfig(
        num_classes=5, mimic=MimicConfig(conv_filters=0, bottleneck=4, hidden=16),
        mimic_train=TrainConfig(**train), distill=DistillConfig(loss="kd", alpha=0.5, temperature=2.0),
        steps_per_execution=3,
    )


def test_compile_distiller_uses_the_config():
    cfg = _cfg()
    distiller = compile_distiller(cfg, build_mimic(cfg.mimic, 5, input_shape=(8,)), steps_per_epoch=10)
    assert isinstance(distiller, Distiller)
    assert (distiller.loss_name, distiller.alpha, distiller.temperature) == ("kd", 0.5, 2.0)
    assert distiller.label_smoothing == 0.0
    assert type(distiller.optimizer) is FusedAdam
    assert distiller.steps_per_execution == 3 and not distiller.jit_compile


def test_the_compiled_distiller_trains():
    cfg = dataclasses.replace(_cfg(optimizer="sgd", learning_rate=0.05, schedule="constant"),
                              distill=DistillConfig())
    keras.utils.set_random_seed(0)
    distiller = compile_distiller(cfg, build_mimic(cfg.mimic, 5, input_shape=(8,)), steps_per_epoch=4)
    assert type(distiller.optimizer) is FusedSGD
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    z = (x @ rng.normal(size=(8, 5))).astype("float32")
    history = distiller.fit(x, {"logits": z, "label": np.full(64, -1)}, batch_size=16, epochs=6, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_mimic_train_label_smoothing_reaches_the_distillers_label_loss():
    # It is in the mimic stage's fingerprint: changing it must change what the mimic trains on.
    cfg = _cfg(label_smoothing=0.1)
    distiller = compile_distiller(cfg, build_mimic(cfg.mimic, 5, input_shape=(8,)), steps_per_epoch=10)
    assert distiller.label_smoothing == 0.1 and distiller.label_loss.label_smoothing == 0.1
