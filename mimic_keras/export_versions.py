"""The versions of an exported model: `<base>/<name>/<version>/`, each with its metadata and fingerprint.

TF Serving serves the highest integer version folder of a model. A new version is written only
when its fingerprint (architecture, weights, metadata) differs from the newest one's.
"""

import hashlib
import json
import os

import keras
import numpy as np


METADATA = os.path.join("assets", "mimic_keras.json")


def read_metadata(version_dir):
    """The `METADATA` of an export's version folder ({} for exports made before it existed)."""
    try:
        with open(os.path.join(version_dir, METADATA)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def fingerprint(model, metadata):
    """sha256 over the model's architecture, weights and the export's metadata."""
    digest = hashlib.sha256(json.dumps(model.get_config(), sort_keys=True, default=str).encode())
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    digest.update(json.dumps(metadata, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def newest_version(model_dir):
    """The newest integer version folder under `model_dir`, or None."""
    version = next_version(model_dir) - 1
    return os.path.join(model_dir, str(version)) if version else None


def unchanged(base_dir, name, fp):
    """The newest version's folder when it holds the export with fingerprint `fp`, else None."""
    newest = newest_version(os.path.join(base_dir, name))
    return newest if newest and read_metadata(newest).get("fingerprint") == fp else None


def next_version(model_dir):
    """1 + the highest integer version folder under `model_dir` (1 when there is none)."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1
