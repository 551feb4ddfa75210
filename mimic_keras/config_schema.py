"""What a config field may hold, declared once with the field: type, help, range, choices, readers.

Every config dataclass declares its fields with `opt(...)`; from that one declaration come
the parsing of `key=value` overrides, the checks run before any stage starts, the help that
`python -m mimic_keras.fit config` prints, and which stages read the field (their fingerprints,
`mimic_keras.stages`). No TensorFlow here: a bad value must fail in well under a second.

    @dataclass
    class MimicConfig:
        hidden: int = opt(30000, "width H of the one non-linear hidden layer", min=1, stages=("mimic", "control"))
"""

import dataclasses
import re
import types
import typing
from dataclasses import field


class ConfigError(ValueError):
    """A config value or key that cannot be used; the message is one line for the user."""


def opt(default, help, *, choices=None, min=None, max=None, above=None, stages=None):
    """A dataclass field with what it may hold.

    Args:
        default: the default value (a tuple for sequences).
        help: one line for `fit config`.
        choices: the allowed values (for a sequence: of each item).
        min, max: inclusive bounds (of each item of a sequence).
        above: an exclusive lower bound.
        stages: the stages that read the field (their outputs are redone when it changes);
            by default those of its section (`mimic_keras.stages.SECTION_READERS`).
    """
    metadata = {"help": help, "choices": choices, "min": min, "max": max, "above": above, "stages": stages}
    return field(default=default, metadata=metadata)


def section(factory, help):
    """A nested config section (a dataclass)."""
    return field(default_factory=factory, metadata={"help": help})


def _unwrap_optional(tp):
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        return inner, True
    return tp, False


def _item_type(tp):
    """(item type, is_sequence) of a field type: `tuple[int, ...]` → (int, True)."""
    if typing.get_origin(tp) is tuple:
        return typing.get_args(tp)[0], True
    return tp, False


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _parse_scalar(text, tp, name):
    text = text.strip().strip("'\"")
    if tp is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes"):
            return True
        if lowered in ("0", "false", "no"):
            return False
    elif tp is int:
        if re.fullmatch(r"[+-]?\d+", text):
            return int(text)
    elif tp is float:
        try:
            return float(text)
        except ValueError:
            pass
    elif tp is str:
        return text
    raise ConfigError(f"{name}={text!r}: expected {_TYPE_WORDS[tp]}")


def parse_value(text, tp, name):
    """Parses the text of a `name=text` override into a value of the field's type.

    Sequences take `(1, 2)`, `[1, 2]`, `1,2` or a bare `1`; `()` is empty. Optional fields take
    `none`.

    Raises:
        ConfigError: text that is not a value of that type.
    """
    tp, optional = _unwrap_optional(tp)
    if optional and text.strip().lower() == "none":
        return None
    item, sequence = _item_type(tp)
    if not sequence:
        return _parse_scalar(text, tp, name)
    inner = text.strip()
    if inner[:1] in "([" and inner[-1:] in ")]":
        inner = inner[1:-1]
    parts = [p for p in (p.strip() for p in inner.split(",")) if p]
    return tuple(_parse_scalar(p, item, name) for p in parts)


def _check_type(value, tp, name):
    """The value as the field's type (a list becomes a tuple, an int a float), or ConfigError."""
    tp, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{name}=None: expected {_TYPE_WORDS.get(_item_type(tp)[0], 'a value')}")
    item, sequence = _item_type(tp)
    if sequence:
        if not isinstance(value, (list, tuple)):
            value = (value,)
        return tuple(_check_type(v, item, name) for v in value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(f"{name}={value!r}: expected {_TYPE_WORDS[tp]}")
    return value


def _check_bounds(value, meta, name):
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if v is None:
            continue
        if meta.get("choices") is not None and v not in meta["choices"]:
            choices = ", ".join(str(c) for c in meta["choices"])
            raise ConfigError(f"{name}={v!r} is not one of: {choices}")
        if meta.get("min") is not None and v < meta["min"]:
            raise ConfigError(f"{name}={v!r}: must be at least {meta['min']}")
        if meta.get("max") is not None and v > meta["max"]:
            raise ConfigError(f"{name}={v!r}: must be at most {meta['max']}")
        if meta.get("above") is not None and v <= meta["above"]:
            raise ConfigError(f"{name}={v!r}: must be above {meta['above']}")


def field_types(cls):
    """{field name: resolved type} of a dataclass."""
    return typing.get_type_hints(cls)


def check_fields(obj, prefix=""):
    """Checks (and normalises, in place) every field of a config dataclass tree.

    Raises:
        ConfigError: naming the first field whose value has the wrong type or range.
    """
    hints = field_types(type(obj))
    for f in dataclasses.fields(obj):
        name = f"{prefix}{f.name}"
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            if not isinstance(value, hints[f.name]):
                raise ConfigError(f"{name} must be a section of fields, got {value!r}")
            check_fields(value, f"{name}.")
            continue
        value = _check_type(value, hints[f.name], name)
        _check_bounds(value, f.metadata, name)
        setattr(obj, f.name, value)


def walk(obj, prefix=""):
    """Yields (dotted name, value, field) for every leaf field of a config tree."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from walk(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value, f


def describe(obj):
    """Every leaf field as `name = value  # help [choices]` lines, for `fit config`."""
    rows = []
    for name, value, f in walk(obj):
        note = f.metadata.get("help", "")
        if f.metadata.get("choices"):
            note += f" ({' | '.join(str(c) for c in f.metadata['choices'])})"
        rows.append((f"{name} = {_show(value)}", note))
    width = max(len(left) for left, _ in rows)
    return "\n".join(f"{left:<{width}}  # {note}" for left, note in rows)


def _show(value):
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
