"""The hypermodel: one trial's mimic, built inside a compiled `Distiller`."""

import copy

import keras
import keras_tuner

from mimic_keras import training
from mimic_keras.distiller import Distiller
from mimic_keras.models.mimics import build_mimic, mimic_param_count
from mimic_keras.tune.space import apply_values


class MimicHyperModel(keras_tuner.HyperModel):
    """Builds one trial's mimic inside a compiled `Distiller`, as `mimic_keras.fit` does.

    Args:
        cfg: the run's `ExperimentConfig`; the trial's values replace k, H, filters, lr, schedule.
        space: the `SearchSpace`.
        default: the architecture to declare as default (in the budget).
        input_shape: one example's shape.
        steps_per_epoch: training steps per epoch (for the cosine schedule's length).
        budget: parameter budget or None; a candidate over it raises `FailedTrialError` unbuilt.
        task: the run's `Task`, which builds each trial's student as the mimic stage does (its
            datasets already built, so it knows its input shape); None: `build_mimic` on
            `input_shape`.
    """

    def __init__(self, cfg, space, default, input_shape, steps_per_epoch, budget=None, task=None):
        super().__init__(name="mimic")
        self.cfg, self.space, self.default = cfg, space, default
        self.input_shape, self.steps_per_epoch, self.budget = input_shape, steps_per_epoch, budget
        self.task = task

    def _student(self, cfg):
        if self.task is None:
            return build_mimic(cfg.mimic, cfg.num_classes, input_shape=self.input_shape, name="mimic")
        trial = copy.copy(self.task)  # the task with what it learnt from the data, on the trial's config
        trial.cfg = cfg
        return trial.build_student("mimic")

    def build(self, hp):
        cfg = apply_values(self.cfg, self.space.declare(hp, self.default))
        params = mimic_param_count(cfg.mimic, cfg.num_classes, self.input_shape)
        if self.budget is not None and params > self.budget:
            # The oracle never proposes these; this guards a resumed or hand-made trial.
            raise keras_tuner.errors.FailedTrialError(f"over budget: {params:,} > {self.budget:,} parameters")
        keras.utils.set_random_seed(cfg.mimic_train.seed)  # every trial starts from the same draw
        student = self._student(cfg)
        distiller = Distiller(
            student, loss=cfg.distill.loss, alpha=cfg.distill.alpha, temperature=cfg.distill.temperature
        )
        # The cosine schedule spans mimic_train.epochs, Hyperband's max_epochs: a short trial sees
        # its start. The optimiser is built now so that a trial Hyperband promotes reloads its
        # state with the weights and goes on along the same schedule.
        distiller.compile(
            optimizer=training.make_optimizer(cfg.mimic_train, self.steps_per_epoch),
            jit_compile=cfg.jit_compile, steps_per_execution=cfg.steps_per_execution,
        )
        distiller.optimizer.build(distiller.trainable_variables)
        return distiller
