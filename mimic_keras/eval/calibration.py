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


def logit_spread(logits):
    """Root-mean-square of the logits about each example's own mean: how far apart a model puts its classes.

    Softmax ignores a per-example shift, so this (not the raw norm) is the scale that sets how
    confident the softmax is; it is also what `L2Centered` asks a student to reproduce.
    """
    z = np.asarray(logits, np.float64)
    return float(np.sqrt(np.mean(np.square(z - z.mean(axis=-1, keepdims=True)))))


def l2_to_teacher(student_logits, teacher_logits):
    """The paper's loss on these examples, ½‖s − z‖² averaged over them, and its two parts.

    Returns `{l2, l2_shift, l2_centred}` with `l2 = l2_shift + l2_centred`: `l2_shift` is
    ½·C·(mean(s) − mean(z))², the part softmax ignores (the per-example shift of the logits);
    `l2_centred` is `L2Centered`'s loss, the part that changes the softmax.
    """
    diff = np.asarray(student_logits, np.float64) - np.asarray(teacher_logits, np.float64)
    shift = diff.mean(axis=-1, keepdims=True)
    l2_shift = 0.5 * diff.shape[-1] * float(np.mean(np.square(shift)))
    l2_centred = 0.5 * float(np.mean(np.sum(np.square(diff - shift), axis=-1)))
    return {"l2": l2_shift + l2_centred, "l2_shift": l2_shift, "l2_centred": l2_centred}


def summary(logits, labels, teacher_logits=None, bins=15):
    """The numbers above for one model: accuracy, NLL, ECE, mean top-class probability, entropy, logit spread,
    and with the teacher's logits the KL to the teacher, the L2 to its logits (and that L2's shift and
    centred parts) and the teacher's own spread."""
    logp, labels = log_softmax(logits), np.asarray(labels)
    out = {
        "accuracy": float(np.mean(logp.argmax(-1) == labels)),
        "nll": _nll(logp, labels),
        "ece": _ece(logp, labels, bins),
        "confidence": float(np.mean(np.exp(logp.max(axis=-1)))),
        "entropy": _entropy(logp),
        "spread": logit_spread(logits),
    }
    if teacher_logits is not None:
        out["kl_to_teacher"] = _kl(logp, log_softmax(teacher_logits))
        out.update({f"{key}_to_teacher": value for key, value in l2_to_teacher(logits, teacher_logits).items()})
        out["teacher_spread"] = logit_spread(teacher_logits)
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
