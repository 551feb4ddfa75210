"""Streaming statistics of the groups of a mimic's hidden layer (`mimic_keras.eval.groups`).

A mimic's logits are linear in its hidden units, so they split exactly into one term per group
of H/G units plus the bias: logits = Σ_g h_g W_g + b, with W_g the rows of the logits kernel
that group g feeds (`mimic.groups`: `GroupedDense`'s group g is its g-th contiguous H/G
outputs, fed by the g-th k/G bottleneck units only). `analyse_groups` streams a labelled split
once and keeps only per-class counts and per-group sums: each group's accuracy alone
(h_g W_g + b) and without it (logits − h_g W_g), its dead units and activity, the classes that
lose most without it, and how alike the groups' partial logits are.
"""

import numpy as np

TOP_CLASSES = 3


def group_parts(model, groups=None):
    """(features, kernel blocks (G, H/G, classes), bias) of a mimic cut into G groups of hidden units.

    `features` is the model up to its `hidden` layer; the logits kernel's rows are cut into G
    contiguous blocks, the g-th matching `GroupedDense`'s g-th group (its outputs are contiguous).
    `groups` defaults to the hidden layer's own (`GroupedDense.groups`, else 1).

    Raises:
        ValueError: G does not divide the hidden units.
    """
    import keras

    hidden = model.get_layer("hidden")
    groups = groups or getattr(hidden, "groups", 1)
    if hidden.units % groups:
        raise ValueError(f"groups={groups} must divide the {hidden.units} hidden units")
    logits = model.get_layer("logits")
    kernel, bias = (np.asarray(w, np.float64) for w in logits.get_weights())
    # A mimic has one input: given as a tensor, not a list, a batch is taken without a structure warning.
    features = keras.Model(model.inputs[0], hidden.output)
    return features, kernel.reshape(groups, hidden.units // groups, -1), bias


def partial_logits(hidden, kernel):
    """(N, G, classes): each group's h_g · W_g, from hidden activations (N, H) and the logits
    kernel as G blocks of rows (G, H/G, classes); their sum over G plus the bias is the logits."""
    blocks = np.asarray(hidden).reshape(len(hidden), *kernel.shape[:2])
    # One block at a time: a float64 copy of one group's units, not of the whole (N, H) batch.
    return np.stack([blocks[:, g].astype(np.float64) @ kernel[g] for g in range(kernel.shape[0])], axis=1)


def partition_of(model, groups):
    """("layer" | "merged" | "arbitrary", a sentence): how G blocks of H/G units relate to the hidden layer."""
    hidden = model.get_layer("hidden")
    own, units = getattr(hidden, "groups", None), hidden.units
    blocks = f"{groups} blocks of {units // groups} units"
    if own is None:
        return "arbitrary", f"a dense layer of {units} units cut into {blocks}: an arbitrary partition"
    if own == groups:
        return "layer", f"a grouped layer of {units} units: its own {blocks}"
    if own % groups == 0:
        return "merged", f"a grouped layer of {units} units in {own} groups, cut into {blocks}, {own // groups} groups each"
    return "arbitrary", f"a grouped layer of {units} units in {own} groups, cut into {blocks}: an arbitrary partition"


def analyse_groups(model, batches, groups=None, class_names=None, top=TOP_CLASSES):
    """What each group of `model`'s hidden units does on `batches`, streamed once.

    Only per-class counts and per-group sums are kept, never the split's activations.

    Args:
        model: a mimic (`build_mimic`): layers `hidden` and `logits`.
        batches: an iterable of (model inputs, int labels) batches.
        groups: G; default the hidden layer's own (`GroupedDense.groups`).
        class_names: the name of each logit's class; classes sharing a name count as one in
            `hurt_classes` (None: the class index).
        top: classes listed per group in `hurt_classes`.

    Returns:
        A dict: `examples`, `classes`, `groups`, `units` (per group), `partition` and its
        `partition_text` (`partition_of`), `accuracy`, `bias_accuracy`,
        `mean_pairwise_correlation`, `correlations` (G × G, None where a group's partial logits
        are constant), and `rows`, one per group: `group`, `units`, `alone_accuracy`,
        `without_accuracy`, `dead_units`, `dead_fraction`, `active_fraction`, `mean_activation`,
        `variance_share`, `mean_correlation` (with the other groups) and `hurt_classes`
        (`class`, `examples`, `accuracy`, `without_accuracy`, `drop`).

    Raises:
        ValueError: fewer than 2 groups, G not dividing the hidden units, labels outside the
            model's classes, or an empty split.

    Example:
    ```python
    result = analyse_groups(keras.saving.load_model("mimic.keras"), task.split_batches(layout, "validation", 512))
    ```
    """
    features, kernel, bias = group_parts(model, groups)
    g_count, units, classes = kernel.shape
    if g_count < 2:
        raise ValueError(f"{model.name}: its hidden layer is one block of {units} units; "
                         "pass groups=G (--groups G) to cut it into G blocks")
    counts, full_ok, bias_ok = np.zeros(classes), np.zeros(classes), np.zeros(classes)
    alone_ok, without_ok = np.zeros((g_count, classes)), np.zeros((g_count, classes))
    ever_active = np.zeros((g_count, units), bool)
    active, activation = np.zeros(g_count), np.zeros(g_count)
    sums, products = np.zeros((g_count, classes)), np.zeros((g_count, g_count))

    def tally(predictions, labels):
        return np.bincount(labels, weights=predictions == labels, minlength=classes)

    for inputs, labels in batches:
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        if len(labels) and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"labels outside 0..{classes - 1} (e.g. {labels[(labels < 0) | (labels >= classes)][0]}): "
                             f"the split is not of the model's {classes} classes")
        hidden = np.asarray(features(inputs, training=False), np.float32)
        parts = partial_logits(hidden, kernel)
        logits = parts.sum(axis=1) + bias
        counts += np.bincount(labels, minlength=classes)
        full_ok += tally(logits.argmax(-1), labels)
        bias_ok += tally(np.full(len(labels), bias.argmax()), labels)
        for g in range(g_count):
            alone_ok[g] += tally((parts[:, g] + bias).argmax(-1), labels)
            without_ok[g] += tally((logits - parts[:, g]).argmax(-1), labels)
        blocks = hidden.reshape(len(labels), g_count, units)
        on = blocks > 0
        ever_active |= on.any(axis=0)
        active += on.mean(axis=2).sum(axis=0)
        activation += blocks.mean(axis=2, dtype=np.float64).sum(axis=0)
        sums += parts.sum(axis=0)
        products += np.einsum("ngc,nhc->gh", parts, parts)
    examples = counts.sum()
    if not examples:
        raise ValueError("the split has no examples")
    correlations, shares = _correlations(sums, products, examples)
    partition, text = partition_of(model, g_count)
    rows = []
    for g in range(g_count):
        others = [c for h, c in enumerate(correlations[g]) if h != g and c is not None]
        dead = int(np.sum(~ever_active[g]))
        rows.append({
            "group": g, "units": int(units),
            "alone_accuracy": float(alone_ok[g].sum() / examples),
            "without_accuracy": float(without_ok[g].sum() / examples),
            "dead_units": dead, "dead_fraction": dead / units,
            "active_fraction": float(active[g] / examples), "mean_activation": float(activation[g] / examples),
            "variance_share": shares[g], "mean_correlation": float(np.mean(others)) if others else None,
            "hurt_classes": hurt_classes(counts, full_ok, without_ok[g], class_names, top),
        })
    pairs = [correlations[g][h] for g in range(g_count) for h in range(g + 1, g_count) if correlations[g][h] is not None]
    return {
        "examples": int(examples), "classes": int(classes), "groups": int(g_count), "units": int(units),
        "partition": partition, "partition_text": text,
        "accuracy": float(full_ok.sum() / examples), "bias_accuracy": float(bias_ok.sum() / examples),
        "mean_pairwise_correlation": float(np.mean(pairs)) if pairs else None,
        "correlations": correlations, "rows": rows,
    }


def _correlations(sums, products, count):
    """(G × G correlations, None where undefined; variance shares) from Σ_n c_g and Σ_{n,c} c_g c_h.

    Each class's partial logit is centred on its mean over the split: the covariance of groups g
    and h is Σ_{n,c} c_g c_h − N Σ_c μ_g,c μ_h,c.
    """
    means = sums / count
    cov = products - count * means @ means.T
    var = np.diag(cov).copy()
    var[var <= 1e-12 * max(var.max(), 0.0)] = 0.0  # cancellation leaves a constant group a tiny variance
    total = cov.sum()
    shares = [float(v / total) if total > 0 else None for v in var]
    g_count = len(var)
    correlations = [[float(cov[g, h] / np.sqrt(var[g] * var[h])) if var[g] > 0 and var[h] > 0 else None
                     for h in range(g_count)] for g in range(g_count)]
    return correlations, shares


def hurt_classes(counts, full_ok, without_ok, class_names=None, top=TOP_CLASSES):
    """The `top` classes whose accuracy drops most without a group, classes sharing a name counted as one.

    Args:
        counts: examples per class (per logit).
        full_ok: of them, classified right by the model.
        without_ok: of them, classified right without the group.
        class_names: each logit's class name (None: its index).
        top: how many to list.

    Returns:
        [{`class`, `examples`, `accuracy`, `without_accuracy`, `drop`}], the largest drop first
        (ties: the more examples first); classes without examples are left out.
    """
    names = [str(i) for i in range(len(counts))] if class_names is None else [str(n) for n in class_names]
    if len(names) != len(counts):
        raise ValueError(f"{len(names)} class names for {len(counts)} classes")
    order = list(dict.fromkeys(names))
    index = np.array([order.index(n) for n in names]) if len(order) < len(names) else np.arange(len(names))
    n, full, without = (np.bincount(index, weights=w, minlength=len(order)) for w in (counts, full_ok, without_ok))
    seen = np.flatnonzero(n > 0)
    accuracy, without_accuracy = full[seen] / n[seen], without[seen] / n[seen]
    drop = accuracy - without_accuracy
    ranked = sorted(range(len(seen)), key=lambda i: (-drop[i], -n[seen[i]]))[:top]
    return [{"class": order[seen[i]], "examples": int(n[seen[i]]), "accuracy": float(accuracy[i]),
             "without_accuracy": float(without_accuracy[i]), "drop": float(drop[i])} for i in ranked]
