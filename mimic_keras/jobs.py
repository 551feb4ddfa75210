"""What every data job shares: a CLI generated from its options dataclass, and atomic output.

A job (`pipelines/*`) declares each option once, as a field of a frozen dataclass with a
default and `metadata={"help": ...}`; `build_parser` turns the fields into flags (`--val-size`
for `val_size`) and `parse_options` turns argv into an instance, so that the CLI, in-process
callers (`job.run(job.Options(...))`) and the manifest (`dataclasses.asdict(options)`) all
see the same thing. Field metadata, besides `help`:

    flag      the flag's spelling when it is not `--field-name` (`--format` for `fmt`)
    required  the flag must be given (a field with no default is required too)
    repeat    a tuple filled by repeating the flag (`--teacher A --teacher B`); without it, a
              tuple takes several values after one flag (`--splits train test`)
    comma     a tuple given as one comma-separated value (`--perturb 0.9,1.1`); its items
              reach the job as strings, for it to check
    choices   the values allowed
    rest      a tuple of the arguments after `--`, passed on verbatim (`--runner beam -- --direct_num_workers=2`
              gives the Beam pipeline its own options); at most one field has it

`atomic_output(out_dir)` (`mimic_keras.atomic`) is the one output protocol of the jobs: build
everything in a hidden sibling folder, rename it into place, remove it on error; a later run
removes the folders left by killed ones. Nothing here imports TensorFlow.

Example:

    @dataclasses.dataclass(frozen=True)
    class Options:
        out: str = option("output folder")  # no default: a required flag
        limit: Optional[int] = option("at most N examples", None)

    def main(argv=None):
        return jobs.run_cli(Options, run, argv, prog="python -m pipelines.my_job", description=...)
"""

import argparse
import contextlib
import dataclasses
import sys
import types
import typing

from mimic_keras import locks

_SCALARS = (str, int, float)


def _unwrap(annotation):
    """(scalar type, is_tuple) of a field's annotation; `Optional[X]` is read as X."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported option type {annotation!r}")
        annotation, origin = args[0], typing.get_origin(args[0])
    if origin in (tuple, list):
        inner = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return (inner[0] if inner else str), True
    if annotation is bool or annotation in _SCALARS:
        return annotation, False
    raise TypeError(f"unsupported option type {annotation!r}")


def option(help, default=dataclasses.MISSING, **metadata):
    """A field of a job's options: its help, its default (none: the flag is required), metadata.

    Example:
        limit: Optional[int] = option("at most N examples per split", None)
    """
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


RUNNERS = ("local", "beam")


def runner_option():
    """The `runner` field every data job has: in this process, or as an Apache Beam pipeline."""
    return option("local: in this process; beam: as an Apache Beam pipeline (pip install .[beam]), its pipeline "
                  "options after -- (docs/beam.md)", "local", choices=RUNNERS)


def beam_args_option():
    """The `beam_args` field every data job has: Beam's pipeline options, the arguments after `--`."""
    return option("Beam pipeline options (the arguments after --)", (), rest=True)


def _default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _comma_list(text):
    # The items stay strings: the job checks them and says what is wrong in its own words.
    return tuple(v for v in text.replace(" ", "").split(",") if v)


def build_parser(options_cls, prog=None, description=None):
    """An `argparse` parser with one flag per field of `options_cls`.

    Args:
        options_cls: a dataclass whose fields have defaults and `metadata["help"]`.
        prog: the program name shown in usage.
        description: the `--help` description.

    Returns:
        An `argparse.ArgumentParser` whose `dest`s are the field names.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    hints = typing.get_type_hints(options_cls)
    rest = [f for f in dataclasses.fields(options_cls) if f.metadata.get("rest")]
    if rest:
        parser.epilog = f"After --: {rest[0].metadata['help']}"
    for field in dataclasses.fields(options_cls):
        meta = field.metadata
        if meta.get("rest"):
            continue
        kind, is_tuple = _unwrap(hints[field.name])
        flag = meta.get("flag", "--" + field.name.replace("_", "-"))
        default = _default(field)
        kwargs = {"dest": field.name, "help": meta.get("help")}
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        required = meta.get("required", False) or (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        if kind is bool:
            kwargs.update(action="store_true", default=default)
        elif is_tuple and meta.get("comma"):
            kwargs.update(type=_comma_list, default=default, metavar=meta.get("metavar", "V1,V2"))
        elif is_tuple and meta.get("repeat"):
            kwargs.update(type=kind, action="append", default=None)
        elif is_tuple:
            kwargs.update(type=kind, nargs="*", default=default)
        else:
            kwargs.update(type=kind, default=default)
        if "metavar" in meta and "metavar" not in kwargs:
            kwargs["metavar"] = meta["metavar"]
        parser.add_argument(flag, required=required, **kwargs)
    return parser


def _cli_parser(options_cls, prog, description):
    parser = build_parser(options_cls, prog, description)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error instead of one line")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip checking input shards against their manifests' counts and sha256")
    return parser


def parse_options(options_cls, argv=None, prog=None, description=None):
    """Parses argv into an `options_cls` instance (tuples for list-valued fields).

    The arguments after the first `--` go, verbatim, to the field marked `rest` (refused when
    there is none).
    """
    return _parse(options_cls, argv, prog, description)[0]


def _parse(options_cls, argv, prog, description):
    """(options, the CLI's own flags: debug, no_verify)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    rest_fields = [f.name for f in dataclasses.fields(options_cls) if f.metadata.get("rest")]
    rest = None
    if "--" in argv:
        cut = argv.index("--")
        argv, rest = argv[:cut], tuple(argv[cut + 1:])
    parser = _cli_parser(options_cls, prog, description)
    if rest is not None and not rest_fields:
        parser.error(f"unrecognized arguments after --: {' '.join(rest)}")
    args = vars(parser.parse_args(argv))
    flags = types.SimpleNamespace(debug=args.pop("debug"), no_verify=args.pop("no_verify"))
    for name in rest_fields:
        field = next(f for f in dataclasses.fields(options_cls) if f.name == name)
        args[name] = rest if rest is not None else _default(field)
    for field in dataclasses.fields(options_cls):
        if field.metadata.get("rest"):
            continue
        value = args[field.name]
        if isinstance(value, list):
            args[field.name] = tuple(value)
        elif value is None and field.metadata.get("repeat"):  # an optional repeated flag not given
            args[field.name] = _default(field)
    return options_cls(**args), flags


def to_argv(options):
    """The argv that `parse_options` turns back into `options` (fields left at their default omitted).

    Example:
        subprocess.run([sys.executable, "-m", "pipelines.cifar10_to_tfrecord", *to_argv(options)])
    """
    argv, rest = [], []
    for field in dataclasses.fields(options):
        value, meta = getattr(options, field.name), field.metadata
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        if has_default and value == _default(field) and not meta.get("required"):
            continue
        if meta.get("rest"):
            rest = ["--", *map(str, value)]
            continue
        flag = meta.get("flag", "--" + field.name.replace("_", "-"))
        if isinstance(value, bool):
            argv += [flag] if value else []
        elif isinstance(value, (tuple, list)) and meta.get("comma"):
            argv += [flag, ",".join(str(v) for v in value)]
        elif isinstance(value, (tuple, list)) and meta.get("repeat"):
            argv += [part for v in value for part in (flag, str(v))]
        elif isinstance(value, (tuple, list)):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv + rest


def run_cli(options_cls, run, argv=None, errors=(ValueError, OSError), prog=None, description=None):
    """A job's `main`: parses argv, runs the job, and turns its errors into one line.

    Args:
        options_cls: the job's options dataclass.
        run: the job, called with an `options_cls` instance.
        argv: the arguments (default `sys.argv[1:]`).
        errors: exceptions reported as `error: <message>` with exit status 2 (besides
            `USER_ERRORS`); any other is a bug: one line with exit status 1, or its traceback
            with `--debug`.
        prog: the program name shown in usage.
        description: the `--help` description.

    Returns:
        The exit status: 0, or 2 after a one-line error on stderr.
    """
    from mimic_keras.data import verify

    options, flags = _parse(options_cls, argv, prog, description)
    verify.set_enabled(not flags.no_verify)
    out = getattr(options, "out", None)
    try:
        # At once, before reading any input: a second job on the same output stops here.
        with locks.hold_folder(out) if out and "://" not in str(out) else contextlib.nullcontext():
            run(options)
    except (*errors, *USER_ERRORS) as e:
        if flags.debug:
            raise
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {message.strip().splitlines()[0] if message.strip() else type(e).__name__}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug, not the user's doing: one line unless --debug
        if flags.debug:
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        print(f"error: internal error ({type(e).__name__}: {first}); rerun with --debug for the traceback",
              file=sys.stderr)
        return 1
    return 0


# What a user can cause (bad inputs, a held lock, an unwritable or full disk): exit 2, one line.
USER_ERRORS = (ValueError, OSError, KeyError)


# The output protocol lives in `mimic_keras.atomic`; the jobs reach it through here too.
from mimic_keras.atomic import (  # noqa: E402,F401
    OutputExists, absolute, atomic_output, check_replaceable, is_url, remove_stale,
)

__all__ = ["OutputExists", "RUNNERS", "USER_ERRORS", "absolute", "atomic_output", "beam_args_option", "build_parser",
           "check_replaceable", "is_url", "option", "parse_options", "remove_stale", "run_cli", "runner_option", "to_argv"]
