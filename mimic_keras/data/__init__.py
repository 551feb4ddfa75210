"""tf.data input layers: TFRecord specs, CIFAR-10 and TIMIT readers, features."""
