"""How well a classifier's softmax states its own uncertainty, beside how often its top class is right.

A hybrid speech decoder (`eval.hmm`) reads every state's log posterior, not only the top one,
so two frame classifiers of the same frame accuracy can decode to different phone error
rates; these numbers say how their posteriors differ. All take logits `[N, C]` (and labels
`[N]`) as numpy arrays and return plain floats.
"""

import numpy as np


def log_softmax(logits):
    """Row-wise log softmax, computed stably in float64."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def nll(logits, labels):
    """Mean negative log-likelihood of the labels (nats per example): the cross-entropy a model is scored by."""
    return _nll(log_softmax(logits), np.asarray(labels))


def expected_calibration_error(logits, labels, bins=15):
    """ECE: the example-weighted mean |accuracy − confidence| over equal-width bins of top-class probability.

    Args:
        logits: `[N, C]`.
        labels: `[N]` ints.
        bins: number of confidence bins on [0, 1].
    """
    return _ece(log_softmax(logits), np.asarray(labels), bins)


def kl_to_teacher(student_logits, teacher_logits, temperature=1.0):
    """Mean KL(teacher ‖ student) of the two softmaxes at `temperature` (nats per example)."""
    return _kl(log_softmax(np.asarray(student_logits, np.float64) / temperature),
               log_softmax(np.asarray(teacher_logits, np.float64) / temperature))


def entropy(logits):
    """Mean entropy of the softmax (nats per example)."""
    return _entropy(log_softmax(logits))


def summary(logits, labels, teacher_logits=None, bins=15):
    """The numbers above for one model: accuracy, NLL, ECE, mean top-class probability, entropy, KL to the teacher."""
    logp, labels = log_softmax(logits), np.asarray(labels)
    out = {
        "accuracy": float(np.mean(logp.argmax(-1) == labels)),
        "nll": _nll(logp, labels),
        "ece": _ece(logp, labels, bins),
        "confidence": float(np.mean(np.exp(logp.max(axis=-1)))),
        "entropy": _entropy(logp),
    }
    if teacher_logits is not None:
        out["kl_to_teacher"] = _kl(logp, log_softmax(teacher_logits))
    return out


def _nll(logp, labels):
    return float(-np.mean(logp[np.arange(len(labels)), labels]))


def _ece(logp, labels, bins):
    confidence, correct = np.exp(logp.max(axis=-1)), logp.argmax(axis=-1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.sum() * abs(correct[members].mean() - confidence[members].mean())
    return float(gap / len(labels))


def _kl(student_logp, teacher_logp):
    return float(np.mean(np.sum(np.exp(teacher_logp) * (teacher_logp - student_logp), axis=-1)))


def _entropy(logp):
    return float(-np.mean(np.sum(np.exp(logp) * logp, axis=-1)))
