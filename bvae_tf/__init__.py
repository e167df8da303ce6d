"""bvae_tf: learn and measure disentangled representations with β-VAEs (Keras 3 / TensorFlow)."""

from bvae_tf.console import quiet_tensorflow_import

__version__ = "0.1.0"

quiet_tensorflow_import()  # TensorFlow's start-up notes off the console (see bvae_tf.console)
