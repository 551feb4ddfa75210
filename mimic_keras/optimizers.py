"""SGD and Adam whose TensorFlow update is one fused kernel per variable.

Keras 3 writes an optimizer's update as a chain of element-wise ops (SGD with Nesterov
momentum: six; Adam: about ten), and TensorFlow without oneDNN runs each as its own pass over
the variable. On the conv mimic's bottleneck (32,768 × 1,200 = 39M weights, 157 MB) those
passes cost more CPU per step than the bottleneck's forward matmul. TensorFlow's training
kernels (`ResourceApplyKerasMomentum`, `ResourceApplyAdam`) do the same arithmetic in one pass:
`FusedSGD` and `FusedAdam` call them and are otherwise Keras's `SGD` and `Adam` (same
arguments, config and state; learning-rate schedules, clipping, weight decay and loss scaling
all happen before `update_step`).

The kernels compute Keras's formulas term for term:

    SGD   m ← μ·m − η·g;  w ← w + m            (Nesterov: w ← w + μ·m − η·g)
    Adam  α ← η·√(1 − β₂ᵗ)/(1 − β₁ᵗ);  m ← m + (g − m)(1 − β₁);  v ← v + (g² − v)(1 − β₂);
          w ← w − α·m/(√v + ε)

On other backends, and for what the kernels do not cover (sparse gradients, AMSGrad), the
update is Keras's own.

Example:
```python
distiller.compile(optimizer=FusedSGD(0.01, momentum=0.9, nesterov=True))
```
"""

import keras

_FUSABLE_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _tf_dense(gradient, variable):
    """The TensorFlow module when this update can run as one kernel, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    if isinstance(gradient, tf.IndexedSlices) or variable.dtype.name not in _FUSABLE_DTYPES:
        return None
    return tf


def _handle(variable):
    # A Keras variable wraps a tf.Variable; under a distribution strategy's update this resolves
    # to the component variable on the device being updated.
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


@keras.saving.register_keras_serializable(package="mimic_keras")
class FusedSGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose momentum update is one TensorFlow kernel per variable."""

    def update_step(self, gradient, variable, learning_rate):
        tf = _tf_dense(gradient, variable)
        if tf is None or self.momentum == 0:  # plain SGD is already one pass
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=_handle(variable),
            accum=_handle(self.momentums[self._get_variable_index(variable)]),
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype),
            use_nesterov=self.nesterov,
        )


@keras.saving.register_keras_serializable(package="mimic_keras")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose update is one TensorFlow kernel per variable."""

    def update_step(self, gradient, variable, learning_rate):
        tf = _tf_dense(gradient, variable)
        if tf is None or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )
