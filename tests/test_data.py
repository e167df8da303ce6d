"""The data layer: renderer against the spec's numbers, ground truth, sources and TFRecords."""

import contextlib
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

import h5py
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from bvae_tf import files
from bvae_tf.data import DSprites, make_dataset, prepare, read_manifest, render_dsprites, sources, split_indices
from bvae_tf.data import __main__ as data_command
from bvae_tf.data.dsprites import FACTOR_SIZES, NUM_IMAGES
from bvae_tf.errors import UserError, run_cli
from tests.helpers import slow
from tests.test_errors import as_other_user
from tests.test_files import dead_pid


def canonical(shape, scale, orientation=0, pos_x=0, pos_y=0):
    return render_dsprites(np.array([[shape, scale, orientation, pos_x, pos_y]]))[0]


class RendererSpecTest(unittest.TestCase):
    """The numbers of docs/dsprites.md that a faithful renderer reproduces."""

    def test_lit_pixels_of_canonical_sprites(self):
        expected = {
            0: [100, 144, 196, 256, 324, 400],
            1: [76, 104, 144, 184, 228, 288],
            2: [58, 84, 108, 140, 182, 222],
        }
        for shape, counts in expected.items():
            for scale, count in enumerate(counts):
                lit = int(canonical(shape, scale).sum())
                self.assertLessEqual(abs(lit - count), 2, f"shape {shape} scale {scale}: {lit} vs {count}")

    def test_bounding_boxes_at_scale_one(self):
        expected = {0: (6, 25, 6, 25), 1: (9, 22, 3, 28), 2: (7, 23, 6, 25)}
        for shape, box in expected.items():
            image = canonical(shape, 5)
            rows, cols = np.nonzero(image.any(1))[0], np.nonzero(image.any(0))[0]
            self.assertEqual((rows.min(), rows.max(), cols.min(), cols.max()), box, f"shape {shape}")

    def test_heart_points_up_and_images_are_binary(self):
        heart = canonical(2, 5)
        self.assertEqual(heart.dtype, np.uint8)
        self.assertEqual(set(np.unique(heart)), {0, 1})
        # Lobes up, tip down: the top half is wider than the bottom rows.
        rows = np.nonzero(heart.any(1))[0]
        self.assertGreater(heart[rows.min() + 3].sum(), heart[rows.max() - 1].sum())

    def test_orientation_39_equals_orientation_0(self):
        classes = DSprites.sample_factors(2000, 1)
        classes[:, 2] = 0
        rotated = classes.copy()
        rotated[:, 2] = 39
        np.testing.assert_array_equal(render_dsprites(classes), render_dsprites(rotated))

    def test_symmetric_shapes_repeat(self):
        square = DSprites.sample_factors(200, 2)
        square[:, 0], square[:, 2] = 0, 0
        quarter = square.copy()
        quarter[:, 2] = 39 // 4  # not exactly pi/2 (39 steps per turn), so compare areas only
        self.assertLess(abs(render_dsprites(square).sum() / render_dsprites(quarter).sum() - 1), 0.1)

    def test_mean_area_by_shape_over_orientations(self):
        expected = {0: 368.7, 1: 289.2, 2: 224.6}
        for shape, area in expected.items():
            classes = np.array([[shape, 5, o, x, y] for o in range(40) for x in (0, 13, 31) for y in (0, 17, 31)])
            self.assertAlmostEqual(render_dsprites(classes).sum(axis=(1, 2)).mean() / area, 1, delta=0.01)

    @slow
    def test_full_set_mean_edges_and_density(self):
        """Renders all 737,280 images once (seconds) and checks the set-wide numbers."""
        total = np.zeros((64, 64), np.int64)
        step = 65_536
        for start in range(0, NUM_IMAGES, step):
            indices = np.arange(start, min(start + step, NUM_IMAGES))
            total += render_dsprites(DSprites.indices_to_classes(indices)).sum(axis=0, dtype=np.int64)
        mean = total.sum() / (NUM_IMAGES * 4096)
        self.assertAlmostEqual(mean / 0.0424944, 1, delta=0.002)
        for edge in (0, 1, 62, 63):
            self.assertEqual(total[edge].sum(), 0)
            self.assertEqual(total[:, edge].sum(), 0)
        lit = np.nonzero(total.any(1))[0]
        self.assertEqual((lit.min(), lit.max()), (2, 61))
        density = total / total.max()

        def box(threshold):
            rows, cols = np.nonzero(density >= threshold)
            return rows.min(), rows.max(), cols.min(), cols.max()

        for got, want in zip(box(0.5), (15, 47, 15, 48)):
            self.assertLessEqual(abs(got - want), 1)
        for got, want in zip(box(0.1), (10, 53, 10, 53)):
            self.assertLessEqual(abs(got - want), 1)


class GroundTruthTest(unittest.TestCase):
    def test_official_order(self):
        self.assertEqual(DSprites.classes_to_indices([[0, 0, 0, 0, 1]]).tolist(), [1])
        self.assertEqual(DSprites.classes_to_indices([[0, 0, 0, 1, 0]]).tolist(), [32])
        self.assertEqual(DSprites.classes_to_indices([[2, 5, 39, 31, 31]]).tolist(), [NUM_IMAGES - 1])
        indices = np.random.default_rng(0).integers(0, NUM_IMAGES, 1000)
        np.testing.assert_array_equal(DSprites.classes_to_indices(DSprites.indices_to_classes(indices)), indices)

    def test_values_and_official_latents(self):
        values = DSprites.classes_to_values(np.array([[2, 5, 39, 31, 0]]))[0]
        np.testing.assert_allclose(values, [3.0, 1.0, 2 * np.pi, 1.0, 0.0])
        latents_classes, latents_values = DSprites.latents(np.array([[1, 2, 3, 4, 5]]))
        np.testing.assert_array_equal(latents_classes, [[0, 1, 2, 3, 4, 5]])
        self.assertEqual(latents_values[0, 0], 1.0)
        self.assertAlmostEqual(latents_values[0, 2], 0.7)

    def test_sampling_is_seeded_and_uniform(self):
        a, b = DSprites.sample_factors(20_000, 3), DSprites.sample_factors(20_000, 3)
        np.testing.assert_array_equal(a, b)
        self.assertFalse(np.array_equal(a, DSprites.sample_factors(20_000, 4)))
        for k, size in enumerate(FACTOR_SIZES):
            self.assertEqual(a[:, k].min(), 0)
            self.assertEqual(a[:, k].max(), size - 1)

    def test_images_render_or_look_up(self):
        classes = DSprites.sample_factors(50, 5)
        rendered = DSprites().images(classes)
        lookup = np.zeros((NUM_IMAGES, 64, 64), np.uint8)
        lookup[DSprites.classes_to_indices(classes)] = rendered
        np.testing.assert_array_equal(DSprites(lookup).images(classes), rendered)

    def test_out_of_range_classes_are_rejected(self):
        with self.assertRaisesRegex(ValueError, "orientation"):
            render_dsprites(np.array([[0, 0, 40, 0, 0]]))


def official_arrays(indices):
    """Arrays in the official file's layout, built from our renderer (the tests' stand-in)."""
    classes = DSprites.indices_to_classes(indices)
    latents_classes, latents_values = DSprites.latents(classes)
    return render_dsprites(classes), latents_classes, latents_values


def read_split(folder, split):
    images, factors = [], []
    for batch_images, batch_factors in make_dataset(folder, split, batch_size=256, shuffle=False, with_factors=True):
        images.append(batch_images.numpy())
        factors.append(batch_factors.numpy())
    return np.concatenate(images), np.concatenate(factors)


class TFRecordTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def assert_records_match_renderer(self, folder, counts):
        for split, count in counts.items():
            images, factors = read_split(folder, split)
            self.assertEqual(images.shape, (count, 64, 64, 1))
            self.assertEqual(images.dtype, np.float32)
            np.testing.assert_array_equal(images[..., 0], render_dsprites(factors).astype(np.float32))

    def test_prepare_read_round_trip(self):
        folder = os.path.join(self.tmp, "d")
        manifest = prepare(
            folder, sources.render_source(), subset=1200, val_size=300, seed=7, shard_size=500, progress=False
        )
        self.assertEqual(manifest["counts"], {"train": 1200, "validation": 300})
        self.assertEqual(len([s for s in manifest["shards"] if s["split"] == "train"]), 3)
        self.assert_records_match_renderer(folder, manifest["counts"])
        _, validation_factors = read_split(folder, "validation")
        train_factors = read_split(folder, "train")[1]
        overlap = set(DSprites.classes_to_indices(train_factors)) & set(DSprites.classes_to_indices(validation_factors))
        self.assertEqual(overlap, set())
        with open(os.path.join(folder, "dataset.json")) as f:
            on_disk = json.load(f)
        self.assertEqual(on_disk["seed"], 7)
        self.assertEqual(on_disk["format_version"], 1)
        # Bit-packed: 512 bytes of image per record plus a small header.
        self.assertLess(sum(s["bytes"] for s in on_disk["shards"]) / 1500, 700)

    def test_same_seed_same_subset_and_order(self):
        a, b, c = (os.path.join(self.tmp, n) for n in "abc")
        for folder, seed in ((a, 1), (b, 1), (c, 2)):
            prepare(folder, sources.render_source(), subset=300, val_size=50, seed=seed, progress=False)
        self.assertEqual(read_manifest(a)["indices_sha256"], read_manifest(b)["indices_sha256"])
        self.assertNotEqual(read_manifest(a)["indices_sha256"], read_manifest(c)["indices_sha256"])

        def first_batch(folder, seed):
            return next(iter(make_dataset(folder, batch_size=64, seed=seed, with_factors=True)))[1].numpy()

        np.testing.assert_array_equal(first_batch(a, 3), first_batch(a, 3))
        self.assertFalse(np.array_equal(first_batch(a, 3), first_batch(a, 4)))

    def test_reuse_matching_folder_and_reject_foreign_one(self):
        folder = os.path.join(self.tmp, "d")
        first = prepare(folder, sources.render_source(), subset=200, val_size=20, progress=False)
        mtime = os.path.getmtime(os.path.join(folder, "dataset.json"))
        self.assertEqual(prepare(folder, sources.render_source(), subset=200, val_size=20, progress=False), first)
        self.assertEqual(os.path.getmtime(os.path.join(folder, "dataset.json")), mtime)
        with self.assertRaisesRegex(UserError, "differs in: seed"):
            prepare(folder, sources.render_source(), subset=200, val_size=20, seed=1, progress=False)
        foreign = os.path.join(self.tmp, "foreign")
        os.makedirs(foreign)
        open(os.path.join(foreign, "notes.txt"), "w").close()
        with self.assertRaisesRegex(UserError, "dataset.json is missing"):
            prepare(foreign, sources.render_source(), subset=200, val_size=20, progress=False)

    def test_interrupted_prepare_leaves_nothing(self):
        source = sources.render_source()
        calls = []

        def failing(indices):
            calls.append(1)
            if len(calls) > 1:
                raise KeyboardInterrupt
            return render_dsprites(DSprites.indices_to_classes(indices))

        source.images = failing
        folder = os.path.join(self.tmp, "d")
        with self.assertRaises(KeyboardInterrupt):
            prepare(folder, source, subset=200, val_size=20, shard_size=100, progress=False)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_npz_hdf5_and_tfds_sources_match_the_renderer(self):
        indices = np.sort(np.random.default_rng(0).choice(NUM_IMAGES, 400, replace=False))
        imgs, latents_classes, latents_values = official_arrays(indices)
        npz = os.path.join(self.tmp, "d.npz")
        np.savez_compressed(npz, imgs=imgs, latents_classes=latents_classes, latents_values=latents_values)
        hdf5 = os.path.join(self.tmp, "d.hdf5")
        with h5py.File(hdf5, "w") as f:
            f["imgs"] = imgs
            f["latents/classes"] = latents_classes
            f["latents/values"] = latents_values

        def as_dataset(builder, *args, **kwargs):
            labels = ["label_shape", "label_scale", "label_orientation", "label_x_position", "label_y_position"]
            examples = {"image": imgs[..., None]}
            examples.update({name: latents_classes[:, k + 1] for k, name in enumerate(labels)})
            examples.update(
                {
                    name.replace("label", "value"): latents_values[:, k + 1].astype(np.float32)
                    for k, name in enumerate(labels)
                }
            )
            return tf.data.Dataset.from_tensor_slices(examples)

        with (
            tfds.testing.mock_data(as_dataset_fn=as_dataset),
            mock.patch.object(sources, "network_available", return_value=True),
        ):
            tfds_source = sources.load_source("tfds", self.tmp)
        loaded = [sources.load_source("npz", npz), sources.load_source("hdf5", hdf5), tfds_source]
        records = []
        for source in loaded:
            np.testing.assert_array_equal(source.indices, indices)
            folder = os.path.join(self.tmp, source.name)
            manifest = prepare(folder, source, subset=0, val_size=40, seed=3, progress=False)
            self.assertEqual(manifest["counts"], {"train": 360, "validation": 40})
            self.assert_records_match_renderer(folder, manifest["counts"])
            records.append(read_split(folder, "train"))
        for images, factors in records[1:]:
            np.testing.assert_array_equal(images, records[0][0])
            np.testing.assert_array_equal(factors, records[0][1])

    def test_tfds_offline_without_file_fails_at_once(self):
        start = time.time()
        with mock.patch.object(sources, "network_available", return_value=False):
            with self.assertRaisesRegex(UserError, "downloads/manual"):
                sources.load_source("tfds", os.path.join(self.tmp, "tfds"))
        self.assertLess(time.time() - start, 10)

    def test_bad_official_files(self):
        good = official_arrays(np.arange(10))
        cases = {
            "lacks key": dict(imgs=good[0], latents_classes=good[1]),
            "0/1": dict(imgs=good[0] * 255, latents_classes=good[1], latents_values=good[2]),
            r"\[N, 64, 64\]": dict(imgs=good[0][:, :32], latents_classes=good[1], latents_values=good[2]),
            "must be in": dict(imgs=good[0], latents_classes=good[1] + 40, latents_values=good[2]),
        }
        for message, arrays in cases.items():
            path = os.path.join(self.tmp, "bad.npz")
            np.savez(path, **arrays)
            with self.assertRaisesRegex(UserError, message):
                sources.load_source("npz", path)
        with h5py.File(os.path.join(self.tmp, "bad.hdf5"), "w") as f:
            f["imgs"] = good[0]
        with self.assertRaisesRegex(UserError, "latents/classes"):
            sources.load_source("hdf5", os.path.join(self.tmp, "bad.hdf5"))


class FaultTest(unittest.TestCase):
    """Bad files and interrupted or shared use (issue 11): one clear error, nothing left behind."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        os.chmod(self.tmp, 0o755)  # so another user can reach what we prepare here
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_truncated_official_files_say_download_again(self):
        imgs, latents_classes, latents_values = official_arrays(np.arange(0, NUM_IMAGES, 3001))
        npz = os.path.join(self.tmp, "d.npz")
        np.savez_compressed(npz, imgs=imgs, latents_classes=latents_classes, latents_values=latents_values)
        hdf5 = os.path.join(self.tmp, "d.hdf5")
        with h5py.File(hdf5, "w") as f:
            f["imgs"], f["latents/classes"], f["latents/values"] = imgs, latents_classes, latents_values
        for name, path in (("npz", npz), ("hdf5", hdf5)):
            with open(path, "rb") as f:
                data = f.read()
            for label, damaged in (
                ("first half", data[: len(data) // 2]),
                ("empty", b""),
                (
                    "flipped byte",
                    data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :],
                ),
            ):
                if name == "hdf5" and label == "flipped byte":
                    continue  # HDF5 has no checksum over raw data: a flipped pixel reads fine
                part = os.path.join(self.tmp, f"part.{name}")
                with open(part, "wb") as f:
                    f.write(damaged)
                expected = rf"^--source {name} {part}: not a complete \.{name} file \(.+\); download it again$"
                with self.subTest(name=name, damage=label), self.assertRaisesRegex(UserError, expected):
                    sources.load_source(name, part)
        not_npz = os.path.join(self.tmp, "notes.npz")
        with open(not_npz, "w") as f:
            f.write("not an archive")
        with self.assertRaisesRegex(UserError, r"not a \.npz file"):
            sources.load_source("npz", not_npz)

    def test_oversized_val_size_advice_works(self):
        """Every "use at most ..." the error gives is accepted (it used to advise --subset 0, which failed)."""
        for total, subset, val_size in [
            (100, 50, 100),
            (100, 0, 100),
            (100, 0, 150),
            (100, 80, 30),
            (100, 150, 30),
            (100, 150, 150),
            (1, 0, 1),
            (NUM_IMAGES, 50_000, 800_000),
        ]:
            available = np.arange(total)
            with self.assertRaises(UserError) as caught:
                split_indices(available, subset, val_size, 0)
            message = str(caught.exception)
            advice = re.findall(r"at most --(subset|val-size) (\d+)", message)
            self.assertTrue(advice, message)
            for flag, value in advice:
                fixed = {"subset": subset, "val-size": val_size, flag: int(value)}
                if "with --subset 0" in message:
                    fixed["subset"] = 0
                with self.subTest(total=total, subset=subset, val_size=val_size, advice=fixed):
                    split = split_indices(available, fixed["subset"], fixed["val-size"], 0)
                    self.assertGreater(len(split["train"]), 0)
        with self.assertRaisesRegex(UserError, "use at most --val-size 687280"):
            split_indices(np.arange(NUM_IMAGES), 50_000, 800_000, 0)

    def test_prepared_folder_has_the_umasks_mode_and_others_can_read_it(self):
        folder = os.path.join(self.tmp, "d")
        previous = os.umask(0o022)
        try:
            prepare(folder, sources.render_source(), subset=60, val_size=10, shard_size=50, progress=False)
        finally:
            os.umask(previous)
        self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode), 0o755)  # tempfile.mkdtemp made it 0700
        for name in os.listdir(folder):
            self.assertEqual(stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode), 0o644, name)
        with as_other_user():
            manifest = read_manifest(folder)  # was "dataset.json is missing" for another user
        self.assertEqual(manifest["counts"], {"train": 60, "validation": 10})

    def test_unreadable_folder_says_permission_denied(self):
        folder = os.path.join(self.tmp, "d")
        prepare(folder, sources.render_source(), subset=60, val_size=10, progress=False)
        os.chmod(folder, 0o700 if os.geteuid() == 0 else 0o000)  # root reads anything: test as nobody
        self.addCleanup(os.chmod, folder, 0o755)
        for call in (
            lambda: read_manifest(folder),
            lambda: prepare(folder, sources.render_source(), subset=60, val_size=10, progress=False),
        ):
            with as_other_user(), self.assertRaisesRegex(UserError, "dataset.json: permission denied"):
                call()

    def test_next_prepare_removes_a_killed_prepares_temporary_folder(self):
        # What `kill -9` during prepare leaves: its temporary folder, named after its (now dead) process.
        with mock.patch.object(files.os, "getpid", return_value=dead_pid()):
            killed = files.make_temp_dir(os.path.join(self.tmp, "big"))
        open(os.path.join(killed, "train-00000-of-00044.tfrecord"), "w").close()
        # One of a prepare still running (a sweep worker): never touched.
        live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.addCleanup(live.wait)
        self.addCleanup(live.kill)
        with mock.patch.object(files.os, "getpid", return_value=live.pid):
            running = files.make_temp_dir(os.path.join(self.tmp, "big"))
        prepare(os.path.join(self.tmp, "small"), sources.render_source(), subset=50, val_size=10, progress=False)
        self.assertFalse(os.path.exists(killed))
        self.assertTrue(os.path.isdir(running))
        self.assertEqual(sorted(os.listdir(self.tmp)), sorted([os.path.basename(running), "small"]))


def run_data_cli(*args):
    return subprocess.run([sys.executable, "-m", "bvae_tf.data", *args], capture_output=True, text=True)


@slow
class DataCommandTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def assert_user_error(self, result, message):
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertRegex(result.stderr.strip().splitlines()[-1], f"^(error: |usage: ).*{message}")

    def test_prepare_then_detect_truncated_shard(self):
        out = os.path.join(self.tmp, "d")
        result = run_data_cli("prepare", "--subset", "300", "--val-size", "30", "--seed", "1", "--out", out, "--quiet")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["counts"], {"train": 300, "validation": 30})
        shard = os.path.join(out, "train-00000-of-00001.tfrecord")
        with open(shard, "r+b") as f:
            f.truncate(os.path.getsize(shard) // 2)
        self.assert_user_error(run_data_cli("check", out), "train-00000-of-00001.tfrecord is corrupted")
        self.assert_user_error(
            run_data_cli("prepare", "--subset", "300", "--val-size", "30", "--seed", "1", "--out", out, "--quiet"),
            "corrupted",
        )

    def test_bad_input_writes_nothing(self):
        out = os.path.join(self.tmp, "d")
        missing = os.path.join(self.tmp, "missing.npz")
        wrong_keys = os.path.join(self.tmp, "wrong.npz")
        np.savez(wrong_keys, images=np.zeros((2, 64, 64), np.uint8))
        for args, message in [
            (["--source", "npz", missing], "does not exist"),
            (["--source", "npz", wrong_keys], "lacks key"),
            (["--subset", "800000"], "exceeds the 737280 images"),
            (["--subset", "-5"], "--subset must be (>= 0|between 0 and)"),
            (["--source", "zip"], "must be one of"),
        ]:  # in-process: what the command runs (run_cli), without a TensorFlow start-up each
            stderr = io.StringIO()
            with contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
                run_cli(data_command.main, ["prepare", *args, "--out", out, "--quiet"])
            self.assert_user_error(
                subprocess.CompletedProcess(args, exit_.exception.code, "", stderr.getvalue()), message
            )
            self.assertFalse(os.path.exists(out))
        self.assertEqual(sorted(os.listdir(self.tmp)), ["wrong.npz"])

    def test_prepare_killed_with_sigkill_is_cleaned_up_by_the_next_one(self):
        args = ["--subset", "20000", "--val-size", "10", "--shard-size", "500", "--quiet"]
        child = subprocess.Popen(
            [sys.executable, "-m", "bvae_tf.data", "prepare", *args, "--out", os.path.join(self.tmp, "big")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.time() + 120
            while time.time() < deadline and child.poll() is None:
                temps = [n for n in os.listdir(self.tmp) if n.startswith(".big.tmp-")]
                if temps and os.listdir(os.path.join(self.tmp, temps[0])):  # a shard is being written
                    break
                time.sleep(0.2)
            self.assertIsNone(child.poll(), "prepare finished before it could be killed")
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        self.assertEqual(len([n for n in os.listdir(self.tmp) if n.startswith(".big.tmp-")]), 1)
        result = run_data_cli(
            "prepare", "--subset", "50", "--val-size", "10", "--quiet", "--out", os.path.join(self.tmp, "small")
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(os.listdir(self.tmp), ["small"])


if __name__ == "__main__":
    unittest.main()
