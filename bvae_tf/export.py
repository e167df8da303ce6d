"""Export a trained BetaVAE as a SavedModel any TensorFlow program can load, with a model card.

Signatures take and return float32 (also under mixed precision) and return dicts, so every
output has a name:

- ``encode(images [N,64,64,C]) -> {mean, logvar}`` (C: the dataset's channels); ``decode(latents [N,z]) -> {logits, probs}``;
  ``reconstruct(images) -> {probs}`` (decoded from the posterior mean).
- The names of disentanglement_lib's TF-Hub modules, so tools written for that library can load
  our models: ``gaussian_encoder(images) -> {mean, logvar}``,
  ``decoder(latent_vectors) -> {images}`` and ``reconstructions(images) -> {images}``
  (probabilities).
"""

import json
import os
import shutil

import keras
import tensorflow as tf

from bvae_tf.files import make_temp_dir
from bvae_tf.layout import ModelFolder


def _endpoints(model):
    """name -> (function, input signature) for every exported signature."""
    images = [tf.TensorSpec((None, *model.image_shape), tf.float32, name="images")]
    latents = [tf.TensorSpec((None, model.latent_dim), tf.float32, name="latent_vectors")]

    def encode(images):
        mean, logvar = model.encoder(images)
        return {"mean": tf.cast(mean, tf.float32), "logvar": tf.cast(logvar, tf.float32)}

    def decode(latent_vectors):
        logits = tf.cast(model.decoder(latent_vectors), tf.float32)
        return {"logits": logits, "probs": tf.sigmoid(logits)}

    def reconstruct(images):
        return {"probs": decode(encode(images)["mean"])["probs"]}

    return {
        "encode": (encode, images),
        "decode": (decode, latents),
        "reconstruct": (reconstruct, images),
        "gaussian_encoder": (encode, images),
        "decoder": (lambda latent_vectors: {"images": decode(latent_vectors)["probs"]}, latents),
        "reconstructions": (lambda images: {"images": reconstruct(images)["probs"]}, images),
    }


def export_model(model, path, card=None):
    """Write ``model`` as a SavedModel at ``path`` and ``card`` (a dict) as ``model_card.json``
    inside it. Written to a temporary folder beside ``path`` and renamed, so ``path`` never
    holds half an export; an existing export at ``path`` is replaced. The folder gets the mode
    the umask gives (readable by others under the usual 022). Returns ``path``."""
    path = os.path.abspath(path)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, signature) in _endpoints(model).items():
        archive.add_endpoint(name, fn, input_signature=signature)
    # Named after this process, so the next export into the same folder removes it if we are
    # killed; made with the umask's mode (not 0700), so other users can load the model.
    staging = make_temp_dir(path)
    try:
        archive.write_out(staging, verbose=False)
        with open(ModelFolder(staging).card, "w") as f:
            json.dump(card or {}, f, indent=2, default=str)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
