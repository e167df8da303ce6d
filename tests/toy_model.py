"""A toy model for the model-registry test, written as a user would add one: this file and one
`register` call. Objective: β-VAE's KL plus an L1 penalty on the posterior means (``sparsity``)."""

from keras import ops

from bvae_tf.model import VAE
from bvae_tf.model_registry import Hyperparameter, ModelSpec


class SparseVAE(VAE):
    """recon + kl + sparsity · mean |μ|."""

    terms = ("l1",)
    model_name = "sparse_vae"

    def __init__(self, latent_dim=10, sparsity=None, **kwargs):
        super().__init__(latent_dim, **kwargs)
        self.sparsity = float(self.given_or_default("sparsity", sparsity))

    def regularizer(self, kl, mean, logvar, z):
        l1 = ops.mean(ops.sum(ops.abs(mean), axis=-1))
        return kl + self.sparsity * l1, {"l1": l1}


SPEC = ModelSpec(
    "sparse_vae",
    "Sparse VAE",
    "a test's toy",
    "recon + kl + s·|μ|",
    SparseVAE,
    (Hyperparameter("sparsity", 0.5, "weight of the L1 penalty on the means", "s"),),
    "sparsity",
    (0.1, 1.0),
)
