"""Configs written by older versions, read into today's layout.

Two layouts changed: the data section was one flat section for every dataset (now each dataset
has its own fields), and the export settings were top-level `export_*` keys (now the `export`
section). Both old forms still load: `from_dict` passes what it reads through these functions
first.
"""

from mimic_keras.config_schema import ConfigError, field_types

# Fields of the one flat data section of configs written before datasets had their own
# sections, with their old defaults: an old config.json keeps loading when the other dataset's
# fields hold these values.
_LEGACY_DATA_DEFAULTS = {
    "val_size": 5000, "views": 0, "mixup": 0, "mixup_alpha": 1.0, "transfer_views": None, "context": 7,
    "perturb": [], "transfer_perturb": None, "transfer_unlabelled": None, "full_test": False,
}


def migrate_data(data, cls):
    """An old flat data section as the fields of data class `cls`.

    The other datasets' old fields are dropped while they hold their old defaults; a set one
    is refused, as it would be ignored.
    """
    known = field_types(cls)
    kept = {}
    for key, value in data.items():
        if key in known or key not in _LEGACY_DATA_DEFAULTS:
            kept[key] = value
        elif (list(value) if isinstance(value, tuple) else value) != _LEGACY_DATA_DEFAULTS[key]:
            raise ConfigError(f"data.{key}={value!r} does not apply to dataset {data.get('dataset', 'cifar10')!r}")
    return kept


# Top-level keys of configs (and overrides) written before the `export` section.
LEGACY_KEYS = {"export_teacher": "export.teacher", "export_dir": "export.dir"}


def migrate_keys(data):
    """A config dict with its top-level `export_*` keys moved into the `export` section."""
    if not isinstance(data, dict) or not any(k in data for k in LEGACY_KEYS):
        return data
    data = dict(data)
    export = dict(data.get("export") or {})
    for old, new in LEGACY_KEYS.items():
        if old in data:
            export.setdefault(new.split(".", 1)[1], data.pop(old))
    data["export"] = export
    return data
