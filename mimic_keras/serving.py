"""Requests for a TF Serving model server: a REST `:predict` body and a gRPC `PredictRequest`.

TF Serving loads `<base>/<name>/<version>/` (what `mimic_keras.export` writes) and serves each
signature under its name. These build the two kinds of request a client sends; nothing here
talks to a server.

Example:
```python
body = rest_body("serving_default", images=np.zeros([1, 32, 32, 3], np.uint8))
requests.post("http://localhost:8501/v1/models/cifar10-quick:predict", json=body)

request = grpc_request("cifar10-quick", "serving_default", images=np.zeros([1, 32, 32, 3], np.uint8))
stub.Predict(request, timeout=10.0)  # a prediction_service_pb2_grpc.PredictionServiceStub
```
"""

import numpy as np


def rest_body(signature, **inputs):
    """The JSON body (a dict) of a REST `:predict` call, in the columnar `inputs` form.

    Args:
        signature: the signature's name (`serving_default`, `serving_utterance`, ...).
        **inputs: the signature's named inputs, as arrays.
    """
    return {"signature_name": signature, "inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()}}


def grpc_request(model_name, signature, version=None, **inputs):
    """A `tensorflow_serving.apis.predict_pb2.PredictRequest` for the gRPC `Predict` call.

    Args:
        model_name: the served model's name (`--model_name`).
        signature: the signature's name.
        version: a version number; None lets the server take its newest.
        **inputs: the signature's named inputs, as arrays of its dtypes.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    return request
