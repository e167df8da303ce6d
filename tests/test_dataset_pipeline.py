"""The dataset as a parameter of the whole pipeline: training data keyed per epoch, a colour model
trained, exported, evaluated on its own dataset, and refused on another."""

import contextlib
import io
import json
import os
import tempfile
import unittest

import numpy as np

from bvae_tf import evaluate
from bvae_tf.data.tfrecord import make_dataset, prepare_dataset
from bvae_tf.errors import UserError
from bvae_tf.layout import ModelFolder
from bvae_tf.saved_model import SavedModel
from bvae_tf.train import train

TINY_SIZES = ["--num-train", "200", "--num-test", "100", "--num-points-train", "20", "--num-points-eval", "10",
              "--batch-size", "8", "--num-variance", "200"]  # fmt: skip


class TrainingStreamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.folder = os.path.join(tempfile.mkdtemp(), "color")
        prepare_dataset(cls.folder, "color_dsprites", subset=64, val_size=0, shard_size=32, progress=False)

    def batches(self, epochs):
        data = make_dataset(self.folder, "train", 16, shuffle=True, seed=3, with_factors=True, epochs=epochs)
        return [(images.numpy(), factors.numpy()) for images, factors in data]

    def test_each_epoch_its_own_order_and_colours_and_a_resumed_stream_equals_the_whole(self):
        whole = self.batches((0, 2))
        self.assertEqual(len(whole), 8)  # 64 images, batches of 16, two epochs
        self.assertEqual(whole[0][0].shape, (16, 64, 64, 3))
        later = self.batches((1, 2))
        for (a, fa), (b, fb) in zip(whole[4:], later):  # epoch 2 alone is epoch 2 of the whole run
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(fa, fb)
        first = np.concatenate([f for _, f in whole[:4]])
        second = np.concatenate([f for _, f in whole[4:]])
        self.assertFalse(np.array_equal(first, second))  # a new order
        colour = {}  # the colour of each sprite (factor vector) per epoch: a lit pixel's RGB
        for epoch, batches in enumerate((whole[:4], whole[4:])):
            for images, factors in batches:
                for image, factor in zip(images, factors):
                    lit = image[image.max(axis=2) > 0]
                    colour[(epoch, tuple(factor))] = lit[0]
        keys = {key for (_, key) in colour}
        changed = [not np.allclose(colour[(0, k)], colour[(1, k)]) for k in keys]
        self.assertTrue(all(changed))  # new colours each epoch
        values = np.stack(list(colour.values()))
        self.assertTrue(((values >= 0.5) & (values < 1.0)).all())


class ColourModelTest(unittest.TestCase):
    def test_trained_exported_evaluated_on_its_dataset_and_refused_on_another(self):
        tmp = tempfile.mkdtemp()
        with contextlib.redirect_stdout(io.StringIO()):  # the epoch's summary line
            run = train(
                dataset="color_dsprites",
                subset=64,
                val_size=32,
                epochs=1,
                latent_dim=3,
                verbose=0,
                runs_dir=f"{tmp}/runs",
                saved_models_dir=f"{tmp}/sm",
                data_dir=f"{tmp}/data",
            )
        model = SavedModel(run.saved_model)
        self.assertEqual(model.call("encode", np.zeros((2, 64, 64, 3)))["mean"].shape, (2, 3))
        self.assertEqual(model.call("decode", np.zeros((2, 3)))["probs"].shape, (2, 64, 64, 3))
        with open(ModelFolder(run.saved_model).card) as f:
            self.assertEqual(json.load(f)["dataset"], "color_dsprites")
        args = [run.saved_model, "--preset", "fast", "--metrics", "mig,zdiff", "--quiet", *TINY_SIZES]
        with contextlib.redirect_stdout(io.StringIO()) as out:
            report = evaluate.main(args)
        self.assertEqual(report["dataset"], "color_dsprites")
        (name,) = [n for n in os.listdir(ModelFolder(run.saved_model).evaluations) if n != "encodings.npz"]
        self.assertRegex(name, r"^color_dsprites-fast-seed0-mig\+zdiff-[0-9a-f]{8}$")  # sizes changed: a digest
        folder = ModelFolder(run.saved_model).evaluation(name)
        self.assertTrue(os.path.isfile(folder.metrics))
        self.assertTrue(os.path.isfile(folder.file("traversal.png")))
        self.assertEqual(report["num_images_drawn"], report["num_images_distinct"])  # every draw its own
        self.assertEqual(report["encodings"]["status"], "off")
        self.assertIn("mig", out.getvalue())
        with self.assertRaisesRegex(UserError, "was trained on color_dsprites.*--allow-other-dataset"):
            evaluate.main([*args, "--dataset", "dsprites_full"])


if __name__ == "__main__":
    unittest.main()
