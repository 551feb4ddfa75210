"""Moved to `mimic_keras.eval.report`; this name stays only for `stages.Run._report` until it imports from there."""

from mimic_keras.eval.report import redraw_figures  # noqa: F401
