"""The README's serving requests, built and run through the exported signatures.

No model server can be installed here; each test decodes a request's tensors the way TF
Serving does (the REST columnar `inputs` as the signature's dtypes, the gRPC `TensorProto`s
with `tf.make_ndarray`) and calls the SavedModel's signature with them.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import serving, timit_layout
from mimic_keras.config import MimicConfig
from mimic_keras.export import export_frame_classifier, export_image_classifier
from mimic_keras.models.mimics import build_mimic
from tests.helpers import toy_images


def _rest_call(version_dir, body):
    body = json.loads(json.dumps(body))  # what goes over the wire
    fn = tf.saved_model.load(version_dir).signatures[body["signature_name"]]
    specs = fn.structured_input_signature[1]
    return fn(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in body["inputs"].items()})


def _grpc_call(version_dir, request):
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # over the wire
    fn = tf.saved_model.load(version_dir).signatures[request.model_spec.signature_name]
    return fn(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})


@pytest.fixture(scope="module")
def image_export(tmp_path_factory):
    model = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16))
    return model, export_image_classifier(model, str(tmp_path_factory.mktemp("sm")), "cifar10-quick")


def test_rest_and_grpc_image_requests_give_the_keras_probabilities(image_export):
    pytest.importorskip("tensorflow_serving")
    model, path = image_export
    images, _ = toy_images(2)
    expected = tf.nn.softmax(model.predict(images, verbose=0)).numpy()
    rest = _rest_call(path, serving.rest_body("serving_default", images=images))
    request = serving.grpc_request("cifar10-quick", "serving_default", version=1, images=images)
    assert (request.model_spec.name, request.model_spec.version.value) == ("cifar10-quick", 1)
    grpc = _grpc_call(path, request)
    for out in (rest, grpc):
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)


def test_rest_and_grpc_utterance_requests_give_frame_posteriors(tmp_path):
    pytest.importorskip("tensorflow_serving")
    model = build_mimic(MimicConfig(conv_filters=0, bottleneck=8, hidden=16), 183,
                        input_shape=(timit_layout.input_dim(),))
    path = export_frame_classifier(model, str(tmp_path), "timit-quick")
    features = np.random.default_rng(0).normal(size=(30, timit_layout.FEATURE_DIM)).astype(np.float32)
    rest = _rest_call(path, serving.rest_body("serving_utterance", features=features))
    grpc = _grpc_call(path, serving.grpc_request("timit-quick", "serving_utterance", features=features))
    np.testing.assert_allclose(rest["logits"].numpy(), grpc["logits"].numpy(), atol=1e-5)
    assert rest["probabilities"].shape == (30, 183) and grpc["classes"].shape == (30,)
