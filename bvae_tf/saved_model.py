"""The one loader of exported models: any SavedModel, by signature name, no model class needed.

Evaluation needs an encoder (``encode``, or disentanglement_lib's ``gaussian_encoder``); the
report also decodes and reconstructs. Signatures are called with numpy arrays whatever their
input is named, and return dicts of numpy arrays.
"""

import functools
import os

from bvae_tf.errors import UserError

ENCODERS = ("encode", "gaussian_encoder")
DECODERS = (("decode", "probs"), ("decoder", "images"))  # (signature, output in [0, 1]): ours, then the reference's


class SavedModel:
    """A loaded SavedModel; raises UserError (naming the folder) when there is none or it is broken."""

    def __init__(self, path):
        import tensorflow as tf  # only here: scoring arrays must not need TensorFlow

        if not tf.saved_model.contains_saved_model(path):
            SavedModel.check(path, found=False)
        try:
            self.loaded = tf.saved_model.load(path)
        except Exception as error:  # a corrupt or incompatible SavedModel
            raise UserError(f"{path}: cannot load the SavedModel ({type(error).__name__}: {error})") from None
        self.path = path
        self.signatures = self.loaded.signatures

    @staticmethod
    def check(path, found=None):
        """UserError unless ``path`` holds a SavedModel (checked without loading TensorFlow)."""
        if found is None:
            found = any(os.path.isfile(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt"))
        if not found:
            raise UserError(
                f"{path}: no SavedModel here (no saved_model.pb); pass a folder written by "
                "tf.saved_model.save, e.g. saved_models/<run>, or score arrays with --codes FILE.npz"
            )

    def require(self, *names):
        missing = [name for name in names if name not in self.signatures]
        if missing:
            raise UserError(
                f"{self.path}: the SavedModel has no `{missing[0]}` signature (export it with bvae_tf.train)"
            )
        return self

    def call(self, signature, array):
        """Call a one-input signature on ``array`` (float32): {output name: numpy array}."""
        import tensorflow as tf

        fn = self.signatures[signature]
        (name,) = fn.structured_input_signature[1]
        return {key: value.numpy() for key, value in fn(**{name: tf.constant(array, tf.float32)}).items()}

    def decoder(self):
        """The decoder as a numpy function of latents [N, L] -> images in [0, 1], or None when the
        SavedModel cannot decode (a model exported elsewhere may only encode)."""
        for name, output in DECODERS:
            fn = self.signatures.get(name)
            if fn is not None and len(fn.structured_input_signature[1]) == 1 and output in fn.structured_outputs:
                return lambda latents, name=name, output=output: self.call(name, latents)[output]
        return None

    def encoder(self, channels=1):
        """The posterior mean as a numpy function of image batches [N, 64, 64, channels] -> [N, L]."""
        import tensorflow as tf

        for name in ENCODERS:
            fn = self.signatures.get(name)
            if fn is None:
                continue
            inputs = fn.structured_input_signature[1]
            if len(inputs) != 1 or "mean" not in fn.structured_outputs:
                continue
            (spec,) = inputs.values()
            if spec.dtype == tf.float32 and spec.shape.is_compatible_with([None, 64, 64, channels]):
                return lambda images, name=name: self.call(name, images)["mean"].reshape(len(images), -1)
        found = ", ".join(self.signatures.keys()) or "none"
        raise UserError(
            f"{self.path}: the SavedModel has no usable signature (found: {found}); export an "
            f"`encode` or `gaussian_encoder` signature taking float32 images [N, 64, 64, {channels}] and "
            "returning a dict with `mean` (or score it on a dataset with its number of channels: --dataset)"
        )


def load(path):
    """The SavedModel at ``path``, loaded once per process: evaluation encodes with it and draws
    its traversal, and a report draws several figures per trial. Loaded again if its
    saved_model.pb was rewritten since. At most a few stay loaded (`forget` drops them)."""
    pb = os.path.join(path, "saved_model.pb")
    return _load(os.path.abspath(path), os.path.getmtime(pb) if os.path.isfile(pb) else None)


@functools.lru_cache(maxsize=4)
def _load(path, modified):
    return SavedModel(path)


def forget():
    """Drop the models `load` holds (a report does at its end, a sweep after each trial)."""
    _load.cache_clear()
