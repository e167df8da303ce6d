"""bvae_tf: learn and measure disentangled representations with β-VAEs (Keras 3 / TensorFlow)."""

__version__ = "0.1.0"
