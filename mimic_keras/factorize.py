"""The bottleneck after the fact: factorise a trained mimic's first wide layer by truncated SVD.

A mimic without a bottleneck (`mimic.bottleneck=0`) has one wide weight matrix W (D×H) from
its features to its H hidden units. Its truncated SVD at rank k, W ≈ U_k S_k V_kᵀ, gives the
mimic with a linear bottleneck of k units (`build_mimic` with `bottleneck=k`): the bottleneck's
kernel is U_k S_k (D×k), the hidden layer's V_kᵀ (k×H), every other weight (conv, hidden bias,
logits) copied. The relative error ‖W − W_k‖_F / ‖W‖_F is √(Σ_{i>k} s_i²) / √(Σ s_i²). The
result is an ordinary mimic: evaluate, export and fine-tune take it as they take any.

    python -m mimic_keras.factorize runs/wide/mimic/model.keras --rank 64 --rank 256 --out runs/wide/factorized \\
        [--workdir runs/wide]   # also score each on the run's test split (the task's student_scores)
        [--finetune-epochs 1]   # and fine-tune each on the run's transfer set, then score it again

Prints per rank the parameters, multiply-adds per example and relative error (and with
`--workdir` the scores); writes `<out>/rank_<k>.keras` and `<out>/factorize.json`
(`"kind": "factorize"`, the command, one row per model). `--finetune-epochs E` trains each
factorised mimic E more epochs as the run's mimic stage trains (its `Distiller`, loss and
transfer set) at a tenth of its learning rate (`--finetune-lr`), cosine over the E epochs,
into `<out>/rank_<k>_finetuned/` (a killed fine-tune resumes from its backup), and adds a row
for it: the truncation alone and the truncation plus a short retraining, against a mimic
trained with that bottleneck from the start.
"""

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import sys

import numpy as np

from mimic_keras import console


def mimic_config_of(model):
    """(MimicConfig, num_classes, input_shape) of a mimic built by `build_mimic`, read from its layers.

    Raises:
        ValueError: a model without the mimic's `hidden` and `logits` layers.
    """
    from mimic_keras.config import MimicConfig

    layers = {layer.name: layer for layer in model.layers}
    if "hidden" not in layers or "logits" not in layers:
        raise ValueError(f"{model.name} is not a mimic: it has no 'hidden' and 'logits' layers")
    conv, hidden = layers.get("conv"), layers["hidden"]
    regularizer = hidden.kernel_regularizer
    config = MimicConfig(
        conv_filters=conv.filters if conv else 0,
        conv_kernel=conv.kernel_size[0] if conv else MimicConfig.conv_kernel,
        pool_size=layers["pool"].pool_size[0] if conv else MimicConfig.pool_size,
        bottleneck=layers["bottleneck"].units if "bottleneck" in layers else 0,
        hidden=hidden.units,
        groups=getattr(hidden, "groups", 1),
        dropout=layers["dropout"].rate if "dropout" in layers else 0.0,
        weight_decay=float(regularizer.l2) if regularizer is not None else 0.0,
    )
    return config, layers["logits"].units, tuple(model.inputs[0].shape[1:])


def singular_values(model):
    """The singular values of a mimic's first wide weight matrix W (D×H), largest first."""
    return np.linalg.svd(_wide_kernel(model), compute_uv=False)


def relative_error(values, rank):
    """‖W − W_rank‖_F / ‖W‖_F from W's singular values."""
    values = np.asarray(values, np.float64)
    return float(np.sqrt(np.sum(values[rank:] ** 2) / np.sum(values**2)))


def _wide_kernel(model):
    config, _, _ = mimic_config_of(model)
    if config.bottleneck:
        raise ValueError(f"{model.name} already has a bottleneck of {config.bottleneck} units; "
                         "factorise a mimic trained with mimic.bottleneck=0")
    return np.asarray(model.get_layer("hidden").kernel, np.float64)


def factorize(model, rank):
    """The mimic `model` (no bottleneck) with its wide layer factorised at `rank`: a new Keras model.

    Args:
        model: a mimic built by `build_mimic` with `bottleneck=0` (trained or not).
        rank: k, the bottleneck's units: 1 ≤ k < min(D, H).

    Returns:
        `build_mimic` of the same config with `bottleneck=rank`, its weights from W's truncated SVD.

    Raises:
        ValueError: a model with a bottleneck, or a rank outside [1, min(D, H)).

    Example:
    ```python
    small = factorize(keras.saving.load_model("mimic.keras"), 64)
    ```
    """
    from mimic_keras.models.mimics import build_mimic

    kernel = _wide_kernel(model)
    if not 1 <= rank < min(kernel.shape):
        raise ValueError(f"rank {rank}: must be at least 1 and below min(D, H) = {min(kernel.shape)} "
                         f"(W is {kernel.shape[0]}×{kernel.shape[1]}); a wider bottleneck saves nothing")
    config, num_classes, input_shape = mimic_config_of(model)
    with _policy(model.get_layer("hidden").dtype_policy.name):  # a mixed-precision mimic stays one
        factorised = build_mimic(dataclasses.replace(config, bottleneck=rank), num_classes, input_shape,
                                 name=model.name)
    u, s, vt = np.linalg.svd(kernel, full_matrices=False)
    for name in ("conv", "logits"):
        if name in {layer.name for layer in model.layers}:
            factorised.get_layer(name).set_weights(model.get_layer(name).get_weights())
    factorised.get_layer("bottleneck").set_weights([(u[:, :rank] * s[:rank]).astype(np.float32)])
    factorised.get_layer("hidden").set_weights([vt[:rank].astype(np.float32), model.get_layer("hidden").get_weights()[1]])
    return factorised


@contextlib.contextmanager
def _policy(name):
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def cost(model):
    """(parameters, multiply-adds per example) of a mimic, from `mimic_keras.models.mimics`' formulas."""
    from mimic_keras.models.mimics import mimic_multiply_adds, mimic_param_count

    config, num_classes, input_shape = mimic_config_of(model)
    return (mimic_param_count(config, num_classes, input_shape),
            mimic_multiply_adds(config, num_classes, input_shape))


def _scorer(workdir):
    """A function scoring a model on the run's test split (the task's `student_scores`)."""
    from mimic_keras import config as config_lib
    from mimic_keras.layout import Layout
    from mimic_keras.tasks import get_task

    layout = Layout(workdir)
    task = get_task(config_lib.get_preset(layout.config))
    return lambda model, name: task.student_scores(model, layout, name)


def finetune(model, workdir, epochs, run_dir, learning_rate=None):
    """Trains a (factorised) mimic `epochs` more on run `workdir`'s transfer set, as its mimic stage trains.

    The run's `Distiller`, loss, batch size and compile options (`tasks.training.compile_distiller`),
    at `learning_rate` (default: a tenth of `mimic_train.learning_rate`) decayed by the run's
    schedule over the `epochs`; no early stopping, no kept epochs. `run_dir` is a
    `training.fit_run` folder: a killed fine-tune resumes there (its backup is checked against
    this config and model); a finished one there is cleared and trained again.

    Returns:
        The trained model (also `run_dir/model.keras`).
    """
    import tensorflow as tf

    from mimic_keras import config as config_lib
    from mimic_keras.finetune import learning_rate_of
    from mimic_keras.layout import Layout
    from mimic_keras.tasks.training import train_mimic

    if os.path.exists(os.path.join(run_dir, "model.keras")):
        shutil.rmtree(run_dir)  # a finished fine-tune's log would mix with this one's
    layout = Layout(workdir)
    cfg = config_lib.get_preset(layout.config)
    train_cfg = dataclasses.replace(cfg.mimic_train, epochs=epochs, patience=None, save_epochs=(),
                                    learning_rate=learning_rate_of(cfg.mimic_train, learning_rate))
    cfg = dataclasses.replace(cfg, mimic_train=train_cfg)
    train_mimic(cfg, layout, tf.distribute.get_strategy(), student=model, run_dir=run_dir, stage="finetune")
    return model


def row_name(row):
    """A factorize.json row's name: `original`, `rank_<k>` or `rank_<k>_finetuned`."""
    if row["rank"] is None:
        return "original"
    return f"rank_{row['rank']}" + ("_finetuned" if row["finetune_epochs"] else "")


def run(model_path, ranks, out, workdir=None, finetune_epochs=0, finetune_lr=None, command=None):
    """Factorises the mimic at `model_path` at each rank into `out`; returns the rows (also in factorize.json).

    With `finetune_epochs` (needs `workdir`) each factorised mimic is also fine-tuned (`finetune`)
    and scored again: a second row for the rank, with `finetune_epochs` set.
    """
    import keras

    if finetune_epochs and not workdir:
        raise ValueError("--finetune-epochs needs --workdir: the run whose transfer set the mimic trains on")
    if finetune_epochs:  # the rate `finetune` will use, for factorize.json
        from mimic_keras import config as config_lib
        from mimic_keras.finetune import learning_rate_of
        from mimic_keras.layout import Layout

        finetune_lr = learning_rate_of(config_lib.get_preset(Layout(workdir).config).mimic_train, finetune_lr)
    model = keras.saving.load_model(model_path, compile=False)
    values = singular_values(model)
    score = _scorer(workdir) if workdir else None
    os.makedirs(out, exist_ok=True)
    rows = []

    def add(small, rank, epochs=0, path=None):
        params, macs = cost(small)
        row = {"rank": rank, "finetune_epochs": epochs, "parameters": params, "multiply_adds": macs,
               "relative_error": 0.0 if rank is None else relative_error(values, rank)}
        if path:
            row["model"] = path
        if score:
            row.update(score(small, row_name(row)))
        rows.append(row)
        print(_line(row), flush=True)

    add(model, None)
    for rank in sorted(set(ranks)):
        small = factorize(model, rank)
        path = os.path.join(out, f"rank_{rank}.keras")
        small.save(path)
        add(small, rank, path=path)
        if finetune_epochs:
            run_dir = os.path.join(out, f"rank_{rank}_finetuned")
            add(finetune(small, workdir, finetune_epochs, run_dir, finetune_lr), rank, finetune_epochs,
                os.path.join(run_dir, "model.keras"))
    with open(os.path.join(out, "factorize.json"), "w") as f:
        json.dump({"kind": "factorize", "command": command, "model": model_path, "workdir": workdir,
                   "finetune": {"epochs": finetune_epochs, "learning_rate": finetune_lr}, "rows": rows}, f, indent=2)
    return rows


def _line(row):
    name = "original" if row["rank"] is None else f"rank {row['rank']}"
    if row.get("finetune_epochs"):
        name += f" + {row['finetune_epochs']} ep"
    text = f"{name:>10}: {row['parameters']:,} parameters, {row['multiply_adds']:,} multiply-adds, " \
           f"relative error {row['relative_error']:.4f}"
    if "test_accuracy" in row:
        text += f", test accuracy {row['test_accuracy']:.2%}"
    return text + (f", PER {row['test_per']:.2%}" if "test_per" in row else "")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mimic_keras.factorize", description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a mimic's .keras file, trained with mimic.bottleneck=0")
    parser.add_argument("--rank", type=int, action="append", required=True, help="a bottleneck width k (repeat)")
    parser.add_argument("--out", required=True, help="folder for rank_<k>.keras and factorize.json")
    parser.add_argument("--workdir", help="a finished run: score each model on its test split")
    parser.add_argument("--finetune-epochs", type=int, default=0,
                        help="also train each factorised mimic this many epochs on the run's transfer set")
    parser.add_argument("--finetune-lr", type=float, default=None,
                        help="the fine-tune's learning rate (default: a tenth of the run's mimic_train.learning_rate)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's log lines")
    args = parser.parse_args(argv)
    console.quiet(args.verbose)  # before TensorFlow is imported
    try:
        command = console.command_line("-m mimic_keras.factorize", argv)
        run(args.model, args.rank, args.out, args.workdir, args.finetune_epochs, args.finetune_lr, command)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
