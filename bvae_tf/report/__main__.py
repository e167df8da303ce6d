"""``python -m bvae_tf.report sweeps/<name>``: see :mod:`bvae_tf.report`."""

from bvae_tf.errors import run_cli
from bvae_tf.report import main

if __name__ == "__main__":
    run_cli(main)
