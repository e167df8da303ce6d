"""The per-model encoding cache: hits, misses, partial hits, stale and corrupt files, kills, same numbers."""

import io
import json
import os
import shutil
import tempfile
import unittest
from unittest import mock

import numpy as np
import tensorflow as tf

from bvae_tf import encodings, evaluate
from bvae_tf.config import EvalSpec
from bvae_tf.data.dsprites import DSprites
from bvae_tf.encodings import EncodingCache, ModelEncodings, model_hash
from bvae_tf.layout import ModelFolder
from bvae_tf.metrics import METRICS, sampling
from bvae_tf.progress import Progress
from bvae_tf.saved_model import SavedModel

SIZES = dict(num_train=300, num_test=150, num_points_train=60, num_points_eval=30, batch_size=16, num_variance=300)
QUICK = ["mig", "zdiff", "zmin", "sap"]  # the cheap scorers: these tests are about encoding


class Encoder(tf.Module):
    """A tiny random encoder (a matmul and a tanh) standing in for a trained model."""

    def __init__(self, seed=0, latents=6):
        self.w = tf.Variable(np.random.default_rng(seed).normal(0, 0.05, (64 * 64, latents)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 64, 64, 1], tf.float32, name="images")])
    def encode(self, images):
        mean = tf.tanh(tf.reshape(images, [-1, 64 * 64]) @ self.w)
        return {"mean": mean, "logvar": tf.zeros_like(mean)}


def save_model(path, seed=0):
    module = Encoder(seed)
    tf.saved_model.save(module, path, signatures={"encode": module.encode})
    return path


def drawn_indices(metrics, seed, sizes=SIZES):
    spec = EvalSpec.create(metrics=metrics, preset="fast", seed=seed, sizes=sizes)
    drawn = [
        classes
        for sampler in sampling.samplers_of([METRICS[m] for m in spec.metrics])
        for classes in sampler.draw(spec.sizes_of(sampler.name), seed, DSprites())[0].values()
    ]
    return set(np.concatenate([DSprites.classes_to_indices(c.reshape(-1, 5)) for c in drawn]).tolist())


class Recorder:
    """Patches the image representation to record which images are rendered (= encoded) and
    how many encoder calls are made."""

    def __init__(self):
        self.rendered, self.calls, self.batch_sizes = [], 0, []
        render, encode_images = sampling.ImageRepresentation.render, sampling.ImageRepresentation.encode_images
        recorder = self

        def recording_render(representation, indices, keys=None):
            recorder.rendered.extend(np.asarray(indices).tolist())
            return render(representation, indices, keys)

        def counting_encode_images(representation, images):
            original = representation.encode

            def encode(batch):
                recorder.calls += 1
                recorder.batch_sizes.append(len(batch))
                return original(batch)

            representation.encode = encode
            try:
                return encode_images(representation, images)
            finally:
                representation.encode = original

        self.patches = [
            mock.patch.object(sampling.ImageRepresentation, "render", recording_render),
            mock.patch.object(sampling.ImageRepresentation, "encode_images", counting_encode_images),
        ]

    def __enter__(self):
        for patch in self.patches:
            patch.start()
        return self

    def __exit__(self, *exc):
        for patch in self.patches:
            patch.stop()


def comparable(report):
    """metrics.json without what may differ between runs: times and what the cache did."""
    report = json.loads(
        json.dumps({k: v for k, v in report.items() if k not in ("time", "encodings", "matrices")}, default=float)
    )
    return report


class Cache(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.original = save_model(os.path.join(cls.tmp.name, "original"))
        cls.other = save_model(os.path.join(cls.tmp.name, "other"), seed=1)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def model(self, source=None):
        """A fresh copy of a model (no cache yet)."""
        path = tempfile.mkdtemp(dir=self.tmp.name)
        shutil.rmtree(path)
        shutil.copytree(source or self.original, path)
        return path

    def evaluate(self, path, seed=0, metrics=QUICK, **kwargs):
        with Recorder() as recorder:
            report = evaluate.evaluate_model(
                path, metrics=metrics, preset="fast", seed=seed, sizes=SIZES, encode_batch=256, **kwargs
            )
        return report, recorder

    def test_miss_hit_and_partial_hit_encode_each_image_once(self):
        path = self.model()
        first, rec = self.evaluate(path, seed=0)
        seed0 = drawn_indices(QUICK, 0)
        self.assertEqual(first["encodings"]["status"], "missing")
        self.assertEqual((first["encodings"]["from_cache"], first["encodings"]["encoded"]), (0, len(seed0)))
        self.assertEqual(sorted(rec.rendered), sorted(seed0))
        self.assertEqual(set(rec.batch_sizes), {256})  # every call gets a full batch (the last one padded)
        self.assertTrue(os.path.exists(ModelFolder(path).encodings))

        again, rec = self.evaluate(path, seed=0)
        self.assertEqual(again["encodings"]["status"], "valid")
        self.assertEqual((again["encodings"]["from_cache"], again["encodings"]["encoded"]), (len(seed0), 0))
        self.assertEqual((rec.rendered, rec.calls), ([], 0))
        self.assertEqual(again["scores"], first["scores"])

        other_seed, rec = self.evaluate(path, seed=1)
        seed1 = drawn_indices(QUICK, 1)
        new = seed1 - seed0
        self.assertTrue(new and seed1 & seed0)
        self.assertEqual(sorted(rec.rendered), sorted(new))  # only the images not encoded yet
        self.assertEqual(rec.calls, -(-len(new) // 256))
        self.assertEqual(other_seed["encodings"]["from_cache"], len(seed1 & seed0))
        self.assertEqual(other_seed["encodings"]["encoded"], len(new))
        indices, codes, status = self.cache(path).load()
        self.assertEqual(status.state, "valid")
        self.assertEqual(set(indices.tolist()), seed0 | seed1)
        self.assertEqual(codes.dtype, np.float32)  # exactly what the encoder returned

        # Another metric set (zmin's batches) with seed 1: nothing new to encode.
        _, rec = self.evaluate(path, seed=1, metrics=["zmin"])
        self.assertEqual(rec.rendered, [])

    def cache(self, path):
        model = SavedModel(path)
        return EncodingCache(ModelFolder(path).encodings, ModelEncodings(model, batch_size=256).key())

    def test_same_metrics_json_with_and_without_the_cache(self):
        path = self.model()
        options = dict(metrics=QUICK)  # every metric needs minutes; any code's last bit moves these
        off, _ = self.evaluate(path, cache=False, **options)
        self.assertFalse(os.path.exists(ModelFolder(path).encodings))
        self.assertEqual(off["encodings"]["status"], "off")
        self.evaluate(path, seed=3, metrics=["zdiff", "mig"])  # the cache filled by another evaluation first
        cold, _ = self.evaluate(path, **options)  # partly from that cache, partly encoded
        warm, rec = self.evaluate(path, **options)
        self.assertGreater(cold["encodings"]["from_cache"], 0)
        self.assertGreater(cold["encodings"]["encoded"], 0)
        self.assertEqual(rec.calls, 0)
        written = []
        for i, report in enumerate((off, cold, warm)):
            out = os.path.join(self.tmp.name, f"same_{i}")
            evaluate.write_report(report, out, EvalSpec.create(**options), overwrite=True)
            with open(os.path.join(out, "metrics.json")) as f:
                written.append(comparable(json.load(f)))
            with np.load(os.path.join(out, "matrices.npz")) as m:
                written[-1]["matrices"] = {k: m[k].tolist() for k in m.files}
        self.assertEqual(written[0], written[1])
        self.assertEqual(written[0], written[2])
        for name in off["scores"]:  # bit for bit, not just as printed
            self.assertEqual(np.float64(off["scores"][name]).tobytes(), np.float64(warm["scores"][name]).tobytes())

    def test_another_models_cache_is_stale_and_rebuilt(self):
        first = self.model()
        self.evaluate(first)  # a cache of the original weights
        path = self.model(self.other)  # other weights in another folder: a retrained, re-exported model
        os.makedirs(ModelFolder(path).evaluations, exist_ok=True)
        shutil.copy(ModelFolder(first).encodings, ModelFolder(path).encodings)
        reference, _ = self.evaluate(path, cache=False)
        stale, rec = self.evaluate(path)
        self.assertEqual(stale["encodings"]["status"], "stale")
        self.assertEqual(stale["encodings"]["reason"], "made for another model")
        self.assertEqual(stale["encodings"]["from_cache"], 0)
        self.assertEqual(len(rec.rendered), stale["num_images_distinct"])
        self.assertEqual(stale["scores"], reference["scores"])
        self.assertEqual(self.cache(path).load()[2].state, "valid")  # rebuilt for this model

    def test_corrupt_or_truncated_cache_is_rebuilt(self):
        path = self.model()
        good, _ = self.evaluate(path)
        file = ModelFolder(path).encodings
        with open(file, "rb") as f:
            content = f.read()
        flipped = bytearray(content)
        flipped[len(content) // 2] ^= 0x01  # one bit inside the codes: the checksum catches it

        def truncate(f):
            f.write(content[: len(content) // 2])

        cases = {
            "truncated": truncate,
            "garbage": lambda f: f.write(b"not a zip file"),
            "flipped bit": lambda f: f.write(bytes(flipped)),
            "empty": lambda f: None,
        }
        for name, damage in cases.items():
            with self.subTest(name):
                with open(file, "wb") as f:
                    damage(f)
                report, rec = self.evaluate(path)
                self.assertEqual(report["encodings"]["status"], "corrupt", report["encodings"])
                self.assertEqual(report["encodings"]["from_cache"], 0)
                self.assertEqual(len(rec.rendered), report["num_images_distinct"])
                self.assertEqual(report["scores"], good["scores"])
                self.assertEqual(self.cache(path).load()[2].state, "valid")

    def test_a_killed_evaluation_leaves_a_valid_cache_of_what_it_encoded(self):
        path = self.model()
        represent = ModelEncodings(SavedModel(path), batch_size=64, checkpoint_s=0.0)
        indices = np.array(sorted(drawn_indices(QUICK, 0)))
        calls = []
        original = represent.images.encode

        def dies_in_the_third_chunk(batch):
            calls.append(1)
            if len(calls) > 2 * 8:  # chunks are 8 batches of 64
                raise KeyboardInterrupt
            return original(batch)

        represent.images.encode = dies_in_the_third_chunk
        with self.assertRaises(KeyboardInterrupt):
            represent(indices)
        self.assertFalse([f for f in os.listdir(path) if ".tmp" in f])
        saved, codes, status = EncodingCache(ModelFolder(path).encodings, represent.key()).load()
        self.assertEqual(status.state, "valid")
        self.assertEqual(saved.tolist(), indices[: 2 * 8 * 64].tolist())  # the two finished chunks, exactly
        fresh = ModelEncodings(SavedModel(path), batch_size=64, cache=False)
        np.testing.assert_array_equal(codes, fresh(saved).astype(np.float32))
        # The next evaluation encodes only the rest.
        again = ModelEncodings(SavedModel(path), batch_size=64)
        with Recorder() as rec:
            again(indices)
        self.assertEqual(sorted(rec.rendered), indices[2 * 8 * 64 :].tolist())

    def test_a_failed_write_keeps_the_previous_file(self):
        path = self.model()
        self.evaluate(path, seed=0)
        file = ModelFolder(path).encodings
        with open(file, "rb") as f:
            before = f.read()

        def half_then_fail(f, **arrays):
            f.write(b"PK\x03\x04 half a zip")
            raise OSError("disk full")

        with mock.patch.object(encodings.np, "savez", half_then_fail):
            report, _ = self.evaluate(path, seed=1, progress=Progress(stream=io.StringIO(), tty=False))
        with open(file, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertFalse([f for f in os.listdir(path) if ".tmp" in f])
        self.assertEqual(report["encodings"]["encoded"], len(drawn_indices(QUICK, 1) - drawn_indices(QUICK, 0)))
        self.assertRegex(report["encodings"]["cache_error"], "^cannot write: .*disk full")

    def test_key_batch_size_and_model_hash(self):
        path = self.model()
        hash_ = model_hash(path)
        os.utime(os.path.join(path, "saved_model.pb"), (0, 0))  # times do not count
        self.assertEqual(model_hash(path), hash_)
        self.assertNotEqual(model_hash(self.other), hash_)
        model = SavedModel(path)
        a, b = ModelEncodings(model, batch_size=256).key(), ModelEncodings(model, batch_size=128).key()
        self.assertEqual(a["signature"], "encode")
        self.assertEqual({k for k in a if a[k] != b[k]}, {"batch_size"})
        EncodingCache(ModelFolder(path).encodings, a).save(np.array([1, 5]), np.zeros((2, 6), np.float32))
        self.assertEqual(EncodingCache(ModelFolder(path).encodings, a).load()[2].state, "valid")
        status = EncodingCache(ModelFolder(path).encodings, b).load()[2]
        self.assertEqual((status.state, status.reason), ("stale", "made for another batch_size"))

    def test_no_cache_reads_and_writes_nothing_and_progress_lines(self):
        path = self.model()
        stream = io.StringIO()
        report, rec = self.evaluate(path, cache=False, progress=Progress(stream=stream, tty=False))
        self.assertFalse(os.path.exists(ModelFolder(path).encodings))
        self.assertEqual(report["encodings"]["encoded"], report["num_images_distinct"])
        lines = stream.getvalue().splitlines()
        self.assertTrue(lines[0].startswith(f"evaluating {path}: mig, zdiff, zmin, sap; preset fast, seed 0"), lines)
        self.assertRegex(
            stream.getvalue(),
            rf"encoding: done, {report['num_images_distinct']:,}/"
            rf"{report['num_images_distinct']:,} images in ",
        )
        for i, name in enumerate(QUICK, 1):
            self.assertIn(f"scoring {name} ({i}/4) ...", lines)
            self.assertTrue(any(line.startswith(f"scoring {name} ({i}/4): ") for line in lines))
        # With the cache, the progress says how much came from it.
        stream = io.StringIO()
        self.evaluate(path, progress=Progress(stream=stream, tty=False))
        self.evaluate(path, progress=Progress(stream=stream, tty=False))
        self.assertIn(
            f"encodings: {report['num_images_distinct']:,} of {report['num_images_distinct']:,} images "
            "from the cache, 0 to encode",
            stream.getvalue(),
        )
        # Quiet by default in Python.
        with mock.patch("sys.stderr", io.StringIO()) as stderr:
            self.evaluate(path)
        self.assertEqual(stderr.getvalue(), "")


class BatchIndependence(unittest.TestCase):
    def test_an_images_code_does_not_depend_on_the_other_images_in_its_batch(self):
        """What makes cached codes reusable: with full (padded) batches, the exported bvae_tf
        encoder gives an image the same code, bit for bit, whatever else is encoded with it."""
        import keras

        from bvae_tf.export import export_model
        from bvae_tf.model import BetaVAE

        keras.utils.set_random_seed(0)
        model = BetaVAE(latent_dim=10)
        model.build()
        with tempfile.TemporaryDirectory() as tmp:
            encode = SavedModel(export_model(model, os.path.join(tmp, "model"))).encoder()
        represent = sampling.ImageRepresentation(encode, batch_size=256)
        rng = np.random.default_rng(0)
        a, b = rng.choice(737_280, 600, replace=False), rng.choice(737_280, 300, replace=False)
        np.testing.assert_array_equal(represent(a), represent(np.concatenate([b, a]))[300:])


if __name__ == "__main__":
    unittest.main()
