"""The datasets behind one protocol: reference draws, file loaders on small official-format files, TFRecords.

The reference fixtures below transcribe disentanglement_lib's sampling (data/ground_truth/*.py)
as plain loops over a ``RandomState``; our classes must give the same numbers bit for bit.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import tracemalloc
import unittest
from unittest import mock

import h5py
import numpy as np
import scipy.io
from PIL import Image

from bvae_tf.data import DATASETS, DSprites, get_dataset, make_dataset, read_manifest, render_dsprites
from bvae_tf.data.config import DataConfig
from bvae_tf.data.files import mpi3d
from bvae_tf.data.tfrecord import prepare_dataset
from bvae_tf.errors import UserError

# --- reference transcriptions -------------------------------------------------------------------

DSPRITES_FULL_SIZES = [1, 3, 6, 40, 32, 32]  # the reference's, color first


def reference_sample(sizes, latent, num, rs, lookup):
    """SplitDiscreteStateSpace: latent factors, then the other ones, in index order; ``lookup`` the images."""
    factors = np.zeros((num, len(latent)), dtype=np.int64)
    for pos, i in enumerate(latent):
        factors[:, pos] = rs.randint(sizes[i], size=num)
    all_factors = np.zeros((num, len(sizes)), dtype=np.int64)
    all_factors[:, latent] = factors
    for i in range(len(sizes)):
        if i not in latent:
            all_factors[:, i] = rs.randint(sizes[i], size=num)
    return factors, lookup(all_factors)


def reference_dsprites(all_factors):
    bases = np.prod(DSPRITES_FULL_SIZES) / np.cumprod(DSPRITES_FULL_SIZES)
    indices = np.array(np.dot(all_factors, bases), dtype=np.int64)
    classes = np.stack(np.unravel_index(indices, (3, 6, 40, 32, 32)), axis=1)
    return np.expand_dims(render_dsprites(classes).astype(np.float32), axis=3)


def reference_color(obs, rs):
    obs = np.repeat(obs, 3, axis=3)
    color = np.repeat(
        np.repeat(rs.uniform(0.5, 1, [obs.shape[0], 1, 1, 3]), obs.shape[1], axis=1), obs.shape[2], axis=2
    )
    return obs * color


def reference_noise(obs, rs):
    obs = np.repeat(obs, 3, axis=3)
    return np.minimum(obs + rs.uniform(0, 1, [obs.shape[0], 64, 64, 3]), 1.0)


def reference_scream(obs, rs, scream):
    obs = np.repeat(obs, 3, axis=3)
    for i in range(obs.shape[0]):
        x_crop = rs.randint(0, scream.shape[0] - 64)
        y_crop = rs.randint(0, scream.shape[1] - 64)
        background = (scream[x_crop : x_crop + 64, y_crop : y_crop + 64] + rs.uniform(0, 1, size=3)) / 2.0
        mask = obs[i] == 1
        background[mask] = 1 - background[mask]
        obs[i] = background
    return obs


def reference_dsprites_family(name, num, seed, scream=None):
    rs = np.random.RandomState(seed)
    latent = [2, 3, 4, 5] if name == "dsprites_noshape" else [1, 2, 3, 4, 5]
    factors, obs = reference_sample(DSPRITES_FULL_SIZES, latent, num, rs, reference_dsprites)
    transform = {
        "color_dsprites": reference_color,
        "noisy_dsprites": reference_noise,
        "scream_dsprites": lambda o, r: reference_scream(o, r, scream),
    }.get(name, lambda o, r: o)
    return factors, transform(obs, rs)


def write_scream(folder, seed=0):
    """A synthetic 'painting' of 500 x 400 pixels, saved as JPEG like the real one."""
    os.makedirs(os.path.join(folder, "scream"), exist_ok=True)
    path = os.path.join(folder, "scream", "scream.jpg")
    pixels = np.random.RandomState(seed).randint(0, 256, size=(400, 500, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(path)
    return path


class DSpritesFamilyTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def assert_same_draws(self, name, expected_factors, expected_obs, dataset, num, seed):
        factors, obs = dataset.sample(num, np.random.RandomState(seed))
        np.testing.assert_array_equal(factors, expected_factors)
        self.assertEqual(factors.dtype, np.int64)
        self.assertEqual(obs.dtype, np.float32)
        self.assertEqual(list(obs.shape), [num, *dataset.observation_shape])
        # Bit for bit: the reference's float64 results rounded once to float32.
        np.testing.assert_array_equal(obs, expected_obs.astype(np.float32), err_msg=name)

    def test_reference_draws_of_each_variant(self):
        for name in ("dsprites_full", "dsprites_noshape", "color_dsprites", "noisy_dsprites"):
            with self.subTest(name):
                expected = reference_dsprites_family(name, 12, seed=3)
                self.assert_same_draws(name, *expected, get_dataset(name), 12, 3)

    def test_scream_reference_draws(self):
        path = write_scream(self.tmp)
        with Image.open(path) as image:
            image.thumbnail((350, 274))
            scream = np.array(image) * 1.0 / 255.0
        self.assertEqual(scream.shape, (274, 342, 3))
        dataset = get_dataset("scream_dsprites", data_root=self.tmp)
        self.assertTrue(dataset.stochastic)
        expected = reference_dsprites_family("scream_dsprites", 10, seed=5, scream=scream)
        self.assert_same_draws("scream", *expected, dataset, 10, 5)

    def test_protocol_names_and_shapes(self):
        full, noshape, color = (get_dataset(n) for n in ("dsprites_full", "dsprites_noshape", "color_dsprites"))
        self.assertEqual(full.factors_num_values, [3, 6, 40, 32, 32])
        self.assertEqual(noshape.factors_num_values, [6, 40, 32, 32])
        self.assertEqual(noshape.factor_names, ["scale", "orientation", "posX", "posY"])
        self.assertEqual((full.num_factors, noshape.num_factors), (5, 4))
        self.assertEqual(full.observation_shape, [64, 64, 1])
        self.assertEqual(color.observation_shape, [64, 64, 3])
        self.assertEqual(color.image_shape, [64, 64, 1])
        self.assertEqual([get_dataset(n).stochastic for n in ("dsprites_full", "noisy_dsprites")], [False, True])
        indices = np.array([0, 737279, 4097])
        np.testing.assert_array_equal(full.index_of(full.classes_of(indices)), indices)
        np.testing.assert_array_equal(full.images(indices)[..., 0], render_dsprites(full.classes_of(indices)))

    def test_dsprites_full_keeps_its_api(self):
        legacy = DSprites.sample_factors(6, 7)
        rng = np.random.default_rng(7)
        np.testing.assert_array_equal(legacy, np.stack([rng.integers(0, s, 6) for s in (3, 6, 40, 32, 32)], axis=1))
        self.assertEqual(DSprites().images(legacy).shape, (6, 64, 64))

    def test_registry_and_unknown_names(self):
        self.assertEqual(len(DATASETS), 11)
        with self.assertRaisesRegex(UserError, "--dataset must be one of dsprites_full, .*cars3d, got 'mnist'"):
            get_dataset("mnist")
        with self.assertRaisesRegex(UserError, "dataset color_dsprites does not take option.* scream_path"):
            get_dataset("color_dsprites", scream_path="x.jpg")
        with self.assertRaisesRegex(UserError, r"scream\.jpg not found at .*scream/scream\.jpg.*--data-root"):
            get_dataset("scream_dsprites", data_root=self.tmp)


# --- the user's files, written small in the official formats ---------------------------------------


def write_shapes3d(path, sizes=(2, 2, 2, 2, 2, 3), seed=0):
    n = int(np.prod(sizes))
    images = np.random.RandomState(seed).randint(0, 256, size=(n, 64, 64, 3)).astype(np.uint8)
    grid = np.stack(np.unravel_index(np.arange(n), sizes), axis=1)
    labels = grid * 0.1 + 0.05  # float values, one per class
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images, chunks=(4, 64, 64, 3), compression="gzip")
        f.create_dataset("labels", data=labels)
    return images


def write_norb_matrix(path, array):
    magic = {np.dtype(np.uint8): 507333717, np.dtype(np.int32): 507333716}[array.dtype]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    with open(path, "wb") as f:
        f.write(np.array([magic, array.ndim, *dims], "<i4").tobytes())
        f.write(array.astype(array.dtype.newbyteorder("<")).tobytes())


def write_smallnorb(folder, seed=0):
    """32 images (category 2 x instance 2 x elevation 2 x azimuth 2 x lighting 2), split in two files, shuffled."""
    rs = np.random.RandomState(seed)
    grid = np.stack(np.unravel_index(np.arange(32), (2, 2, 2, 2, 2)), axis=1)
    grid = grid[rs.permutation(32)]
    os.makedirs(folder, exist_ok=True)
    images = rs.randint(0, 256, size=(32, 2, 96, 96)).astype(np.uint8)
    parts = ("5x46789x9x18x6x2x96x96-training", "5x01235x9x18x6x2x96x96-testing")
    for part, rows in zip(parts, (slice(0, 16), slice(16, 32))):
        g = grid[rows]
        info = np.column_stack([g[:, 1], g[:, 2], g[:, 3] * 2, g[:, 4]]).astype(np.int32)
        write_norb_matrix(os.path.join(folder, f"smallnorb-{part}-dat.mat"), images[rows])
        write_norb_matrix(os.path.join(folder, f"smallnorb-{part}-cat.mat"), g[:, 0].astype(np.int32))
        write_norb_matrix(os.path.join(folder, f"smallnorb-{part}-info.mat"), info)
    return [os.path.join(folder, f"smallnorb-{p}-{k}.mat") for p in parts for k in ("dat", "cat", "info")]


def reference_norb_images(paths):
    """norb.py: read each part, resize the first image of each pair, features (cat, info), azimuth / 2."""
    images, features = [], []
    for dat, cat, info in (paths[:3], paths[3:]):
        read = []
        for path in (dat, cat, info):
            with open(path, "rb") as f:
                s = f.read()
            magic, ndim = int(np.frombuffer(s, "int32", 1)[0]), int(np.frombuffer(s, "int32", 1, 4)[0])
            dims = np.frombuffer(s, "int32", max(3, ndim), 8)[:ndim]
            dtype = {507333717: "uint8", 507333716: "int32"}[magic]
            read.append(np.frombuffer(s, dtype, offset=8 + max(3, ndim) * 4).reshape(tuple(dims)))
        resized = np.zeros((len(read[0]), 64, 64))
        for i in range(len(read[0])):
            resized[i] = Image.fromarray(read[0][i, 0]).resize((64, 64), Image.LANCZOS)
        images.append(resized / 255.0)
        features.append(np.column_stack((read[1], read[2])))
    features = np.concatenate(features)
    features[:, 3] = features[:, 3] / 2
    return np.concatenate(images), features


def write_cars(folder, names, seed=0):
    os.makedirs(folder, exist_ok=True)
    rs = np.random.RandomState(seed)
    for name in names:
        im = rs.randint(0, 256, size=(128, 128, 3, 24, 4)).astype(np.uint8)
        scipy.io.savemat(os.path.join(folder, name), {"im": im})


class FileLoaderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def assert_no_new_files(self, before):
        after = sorted(os.path.join(d, f) for d, _, fs in os.walk(self.tmp) for f in fs)
        self.assertEqual(after, before)

    def test_shapes3d_reference_draws_and_tfds_manual_folder(self):
        path = os.path.join(self.tmp, "3dshapes", "3dshapes.h5")
        images = write_shapes3d(path)
        dataset = get_dataset("shapes3d", data_root=self.tmp)
        self.assertEqual(dataset.factors_num_values, [2, 2, 2, 2, 2, 3])
        self.assertEqual(dataset.observation_shape, [64, 64, 3])
        sizes = dataset.factors_num_values
        bases = np.prod(sizes) / np.cumprod(sizes)
        lookup = lambda f: images[np.array(np.dot(f, bases), dtype=np.int64)].astype(np.float32) / 255.0  # noqa: E731
        expected = reference_sample(sizes, list(range(6)), 20, np.random.RandomState(1), lookup)
        factors, obs = dataset.sample(20, np.random.RandomState(1))
        np.testing.assert_array_equal(factors, expected[0])
        np.testing.assert_array_equal(obs, expected[1])
        np.testing.assert_array_equal(dataset.images([5, 2, 5]), images[[5, 2, 5]])
        manual = os.path.join(self.tmp, "tfds", "downloads", "manual")
        os.makedirs(manual)
        shutil.move(path, os.path.join(manual, "3dshapes.h5"))
        with mock.patch.dict(os.environ, {"TFDS_DATA_DIR": os.path.join(self.tmp, "tfds")}):
            self.assertEqual(get_dataset("shapes3d", data_root=self.tmp).path, os.path.join(manual, "3dshapes.h5"))

    def test_shapes3d_missing_and_wrong_files(self):
        before = []
        with mock.patch.dict(os.environ, {"TFDS_DATA_DIR": self.tmp}):
            with self.assertRaisesRegex(
                UserError, r"^shapes3d: 3dshapes\.h5 not found .*267,573,662 bytes.*--data-root"
            ):
                get_dataset("shapes3d", data_root=self.tmp)
            path = os.path.join(self.tmp, "3dshapes.h5")
            with open(path, "w") as f:
                f.write("not hdf5")
            with self.assertRaisesRegex(UserError, "3dshapes.h5 is not the official file .*HDF5.*480000"):
                get_dataset("shapes3d", path=path)
            with h5py.File(path, "w") as f:
                f["images"] = np.zeros((4, 64, 64, 3), np.uint8)
                f["labels"] = np.zeros((4, 6))
            with self.assertRaisesRegex(UserError, "labels do not enumerate the factor grid"):
                get_dataset("shapes3d", path=path)
        self.assert_no_new_files([os.path.join(self.tmp, "3dshapes.h5")] + before)

    def test_mpi3d_stored_and_compressed_members_and_sizes_from_n(self):
        self.assertEqual(mpi3d.derived_sizes(460_800), (4, 4, 2, 3, 3, 40, 40))
        self.assertEqual(mpi3d.derived_sizes(1_036_800), (6, 6, 2, 3, 3, 40, 40))
        self.assertIsNone(mpi3d.derived_sizes(1000))
        sizes = (2, 1, 2, 1, 1, 3, 2)
        images = np.random.RandomState(0).randint(0, 256, size=(24, 64, 64, 3)).astype(np.uint8)
        for save in (np.savez, np.savez_compressed):
            folder = os.path.join(self.tmp, save.__name__, "mpi3d_real")
            os.makedirs(folder)
            save(os.path.join(folder, "mpi3d_real.npz"), images=images)
            dataset = get_dataset("mpi3d_real", data_root=os.path.dirname(folder), factor_sizes=sizes)
            self.assertEqual(dataset.factors_num_values, list(sizes))
            self.assertEqual(dataset._offset is None, save is np.savez_compressed)
            np.testing.assert_array_equal(dataset.images([23, 0, 7]), images[[23, 0, 7]])
            factors, obs = dataset.sample(9, np.random.RandomState(2))
            lookup = lambda f: images[np.ravel_multi_index(f.T, sizes)] / 255.0  # noqa: E731
            expected = reference_sample(sizes, list(range(7)), 9, np.random.RandomState(2), lookup)
            np.testing.assert_array_equal(factors, expected[0])
            np.testing.assert_array_equal(obs, expected[1].astype(np.float32))
        with self.assertRaisesRegex(UserError, r"mpi3d_real: .*24 images do not fill the factor grid.*1,036,800"):
            get_dataset("mpi3d_real", data_root=os.path.join(self.tmp, "savez"))
        with self.assertRaisesRegex(UserError, r"^mpi3d_toy: mpi3d_toy\.npz not found .*460,800.*--data-root"):
            get_dataset("mpi3d_toy", data_root=self.tmp)

    def test_mpi3d_decompression_is_chunked(self):
        images = np.tile(np.arange(64, dtype=np.uint8)[None, :, None, None], (800, 1, 64, 3))  # 9.8 MB
        folder = os.path.join(self.tmp, "mpi3d_toy")
        os.makedirs(folder)
        np.savez_compressed(os.path.join(folder, "mpi3d_toy.npz"), images=images)
        dataset = get_dataset("mpi3d_toy", data_root=self.tmp, factor_sizes=(2, 2, 2, 5, 1, 2, 10))
        out = np.empty(images.shape, np.uint8)
        tracemalloc.start()
        dataset._decompress(out, chunk=50)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self.assertLess(peak, 3_000_000)  # 50 images are 0.6 MB (read, then unzipped); the member is 9.8 MB
        np.testing.assert_array_equal(out, images)

    def test_smallnorb_reference_draws(self):
        folder = os.path.join(self.tmp, "small_norb")
        paths = write_smallnorb(folder)
        dataset = get_dataset("smallnorb", data_root=self.tmp)
        self.assertEqual(dataset.factors_num_values, [2, 2, 2, 2])
        self.assertEqual(dataset.factor_names, ["category", "elevation", "azimuth", "lighting"])
        self.assertEqual(dataset.observation_shape, [64, 64, 1])
        ref_images, features = reference_norb_images(paths)
        sizes = [2, 2, 2, 2, 2]
        bases = np.prod(sizes) / np.cumprod(sizes)
        table = np.zeros(32, np.int64)
        table[np.array(np.dot(features, bases), dtype=np.int64)] = np.arange(32)
        lookup = lambda f: np.expand_dims(ref_images[table[np.dot(f, bases).astype(np.int64)]].astype(np.float32), 3)  # noqa: E731
        expected = reference_sample(sizes, [0, 2, 3, 4], 16, np.random.RandomState(4), lookup)
        factors, obs = dataset.sample(16, np.random.RandomState(4))
        np.testing.assert_array_equal(factors, expected[0])
        np.testing.assert_array_equal(obs, expected[1])
        self.assertTrue(os.path.isfile(os.path.join(folder, "bvae_tf-smallnorb-64x64.npy")))
        with open(paths[4], "r+b") as f:  # a testing -cat file cut short
            f.truncate(30)
        with self.assertRaisesRegex(UserError, r"smallnorb: .*testing-cat\.mat is not the official file .*bytes"):
            get_dataset("smallnorb", data_root=self.tmp)
        os.remove(paths[0])
        with self.assertRaisesRegex(UserError, r"training-dat\.mat not found .*norb-v1\.0-small"):
            get_dataset("smallnorb", data_root=self.tmp)

    def test_cars3d_sorted_objects_and_reference_images(self):
        folder = os.path.join(self.tmp, "cars")
        write_cars(folder, ["car_b.mat", "car_a.mat"])
        dataset = get_dataset("cars3d", data_root=self.tmp)
        self.assertEqual(dataset.factors_num_values, [4, 24, 2])
        sizes = [4, 24, 2]
        ref = np.zeros((4 * 24 * 2, 64, 64, 3))
        for i, name in enumerate(sorted(os.listdir(folder))):
            mesh = np.einsum("abcde->deabc", scipy.io.loadmat(os.path.join(folder, name))["im"])
            flat = mesh.reshape((-1,) + mesh.shape[2:])
            rescaled = np.zeros((flat.shape[0], 64, 64, 3))
            for k in range(flat.shape[0]):
                pic = Image.fromarray(flat[k])
                pic.thumbnail((64, 64), Image.LANCZOS)
                rescaled[k] = np.array(pic)
            all_factors = np.transpose([np.tile(np.arange(4), 24), np.repeat(np.arange(24), 4), np.tile(i, 96)])
            ref[np.ravel_multi_index(all_factors.T, sizes)] = rescaled / 255.0
        lookup = lambda f: ref[np.ravel_multi_index(f.T, sizes)].astype(np.float32)  # noqa: E731
        expected = reference_sample(sizes, [0, 1, 2], 30, np.random.RandomState(6), lookup)
        factors, obs = dataset.sample(30, np.random.RandomState(6))
        np.testing.assert_array_equal(factors, expected[0])
        np.testing.assert_array_equal(obs, expected[1])

    def test_cars3d_missing_and_wrong_files_write_nothing(self):
        with self.assertRaisesRegex(UserError, r"^cars3d: no \.mat files in .*cars.*nips2015-analogy-data"):
            get_dataset("cars3d", data_root=self.tmp)
        folder = os.path.join(self.tmp, "cars")
        os.makedirs(folder)
        scipy.io.savemat(os.path.join(folder, "car.mat"), {"im": np.zeros((64, 64, 3, 24, 4), np.uint8)})
        with self.assertRaisesRegex(
            UserError, r"car\.mat is not the official file \(im has shape \(64, 64, 3, 24, 4\)"
        ):
            get_dataset("cars3d", data_root=self.tmp).images([0])
        self.assertEqual(os.listdir(folder), ["car.mat"])


# --- TFRecords -------------------------------------------------------------------------------------


class PreparedDatasetTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def read(self, folder, batch_size=16, **kwargs):
        batches = make_dataset(folder, "train", batch_size, shuffle=False, with_factors=True, **kwargs)
        images, factors = zip(*[(i.numpy(), f.numpy()) for i, f in batches])
        return np.concatenate(images), np.concatenate(factors)

    def test_color_dsprites_stateless_colours(self):
        folder = os.path.join(self.tmp, "color")
        manifest = prepare_dataset(folder, "color_dsprites", subset=40, val_size=8, shard_size=20, progress=False)
        self.assertEqual(manifest["dataset"], "color_dsprites")
        self.assertEqual(manifest["layout"]["variant"], "color")
        images, factors = self.read(folder)
        self.assertEqual(images.shape, (40, 64, 64, 3))
        sprites = DSprites().images(factors)[..., None].astype(np.float32)
        np.testing.assert_array_equal(self.read(folder, augment=False)[0], sprites)
        np.testing.assert_array_equal(images == 0, np.repeat(sprites, 3, axis=3) == 0)  # background stays black
        colours = images.max(axis=(1, 2))
        self.assertTrue(np.all((colours >= 0.5) & (colours <= 1.0)))
        self.assertGreater(len(np.unique(colours.round(4), axis=0)), 35)  # one colour per image
        np.testing.assert_array_equal(self.read(folder, batch_size=7)[0], images)  # same keys, same images
        other = self.read(folder, epoch=1)[0]
        self.assertFalse(np.any(np.all(other.max(axis=(1, 2)) == colours, axis=1)))  # another epoch: new colours

    def test_noisy_and_scream_are_transformed_on_reading(self):
        noisy = os.path.join(self.tmp, "noisy")
        prepare_dataset(noisy, "noisy_dsprites", subset=16, val_size=0, shard_size=16, progress=False)
        images, factors = self.read(noisy)
        sprites = np.repeat(DSprites().images(factors)[..., None], 3, axis=3)
        self.assertTrue(np.all(images[sprites == 1] == 1.0))
        background = images[sprites == 0]
        self.assertAlmostEqual(float(background.mean()), 0.5, delta=0.02)
        write_scream(self.tmp)
        scream = os.path.join(self.tmp, "scream-prepared")
        dataset = get_dataset("scream_dsprites", data_root=self.tmp)
        manifest = prepare_dataset(scream, dataset, subset=8, val_size=0, shard_size=8, progress=False)
        self.assertEqual([f["file"] for f in manifest["files"]], ["scream.jpg"])
        images, factors = self.read(scream)
        self.assertEqual(images.shape, (8, 64, 64, 3))
        self.assertTrue(np.all((images >= 0) & (images <= 1)))
        painting = np.load(os.path.join(scream, "painting.npy"))
        np.testing.assert_array_equal(painting, dataset.painting)

    def test_shapes3d_round_trip_and_manifest_hash(self):
        path = os.path.join(self.tmp, "3dshapes", "3dshapes.h5")
        stored = write_shapes3d(path)
        folder = os.path.join(self.tmp, "prepared")
        dataset = get_dataset("shapes3d", data_root=self.tmp)
        manifest = prepare_dataset(folder, dataset, subset=30, val_size=10, shard_size=16, progress=False)
        self.assertEqual(manifest["files"][0]["sha256"], common_sha(path))
        images, factors = self.read(folder)
        indices = np.ravel_multi_index(factors.T, dataset.factors_num_values)
        np.testing.assert_array_equal(images, stored[indices].astype(np.float32) / 255.0)
        self.assertEqual(read_manifest(folder)["counts"], {"train": 30, "validation": 10})

    def test_prepare_command_without_the_shapes3d_file(self):
        env = dict(os.environ, BVAE_TF_DATA=self.tmp, TFDS_DATA_DIR=self.tmp, TF_CPP_MIN_LOG_LEVEL="3")
        out = os.path.join(self.tmp, "out")
        result = subprocess.run(
            [sys.executable, "-m", "bvae_tf.data", "prepare", "--dataset", "shapes3d", "--out", out, "--quiet"],
            capture_output=True,
            text=True,
            env=env,
        )
        self.assertEqual(result.returncode, 2, result.stderr)
        last = result.stderr.strip().splitlines()[-1]
        self.assertRegex(last, r"^error: shapes3d: 3dshapes\.h5 not found .*3dshapes/3dshapes\.h5.*--data-root")
        self.assertNotIn("Traceback", result.stderr)
        self.assertFalse(os.path.exists(out))


def common_sha(path):
    from bvae_tf.data.ground_truth import file_sha256

    return file_sha256(path)


class DataConfigTest(unittest.TestCase):
    def test_dataset_field_flags_and_folder(self):
        from bvae_tf.config import DataConfig as ReExported

        self.assertIs(ReExported, DataConfig)
        self.assertEqual(DataConfig().folder, os.path.join("data", "dsprites-render-n50000-v5000-s0"))
        config = DataConfig.from_flags({"dataset": "shapes3d", "data_root": "/d", "subset": 10})
        self.assertEqual(config.folder, os.path.join("data", "shapes3d-files-n10-v5000-s0"))
        self.assertEqual(DataConfig.from_flags(config.to_flags()), config)
        self.assertEqual(
            DataConfig(dataset="color_dsprites").folder, os.path.join("data", "color_dsprites-render-n50000-v5000-s0")
        )
        with self.assertRaisesRegex(UserError, "--dataset must be one of .*got 'x'"):
            DataConfig(dataset="x")
        with self.assertRaisesRegex(UserError, "--source applies to the dSprites datasets only"):
            DataConfig(dataset="cars3d", source=("npz", "f.npz"))


if __name__ == "__main__":
    unittest.main()


class KeyedUniformTest(unittest.TestCase):
    """The counter-based generator behind the on-the-fly colour, noise and background."""

    def test_each_image_depends_on_its_key_only_and_is_uniform(self):
        import tensorflow as tf

        from bvae_tf.data.augment import keyed_uniform

        keys = tf.constant([[7, 2, i] for i in range(3000)], tf.int64)
        batch = keyed_uniform(keys, [64, 64, 3], 1).numpy()
        alone = keyed_uniform(keys[1234:1235], [64, 64, 3], 1).numpy()
        np.testing.assert_array_equal(alone[0], batch[1234])  # whatever batch it is in
        flat = batch.ravel()
        self.assertTrue(0.0 <= flat.min() and flat.max() < 1.0)
        self.assertAlmostEqual(flat.mean(), 0.5, delta=0.002)
        self.assertAlmostEqual(flat.std(), 1 / np.sqrt(12), delta=0.002)
        counts = np.histogram(flat, 20, (0, 1))[0] / flat.size
        np.testing.assert_allclose(counts, 0.05, atol=0.001)
        self.assertLess(abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]), 0.01)  # neighbouring pixels
        other_epoch = keyed_uniform(tf.constant([[7, 3, 1234]], tf.int64), [64, 64, 3], 1).numpy()
        other_stream = keyed_uniform(keys[1234:1235], [64, 64, 3], 2).numpy()
        for other in (other_epoch, other_stream):
            self.assertLess(abs(np.corrcoef(alone.ravel(), other.ravel())[0, 1]), 0.05)
        colour = keyed_uniform(keys, [1, 1, 3], 0, 0.5, 1.0).numpy()
        self.assertTrue(0.5 <= colour.min() and colour.max() < 1.0)


class KeyedTwinsTest(unittest.TestCase):
    """Training (TensorFlow) and evaluation (numpy) draw bit-identical colours, noise and backgrounds."""

    def test_tensorflow_and_numpy_give_the_same_observations(self):
        import tensorflow as tf

        from bvae_tf.data import augment, keyed

        rng = np.random.default_rng(0)
        sprites = rng.integers(0, 2, (16, 64, 64, 1)).astype(np.float32)
        keys = np.stack([np.full(16, 3), np.full(16, 2**33 + 5), rng.integers(0, 737_280, 16)], axis=1)
        painting = rng.integers(0, 256, (120, 90, 3)).astype(np.uint8)
        for variant in ("color", "noise", "scream"):
            with self.subTest(variant):
                ours = keyed.keyed_observe(variant, sprites, keys, painting)
                theirs = augment.augment(tf.constant(sprites), tf.constant(keys), variant, tf.constant(painting))
                np.testing.assert_array_equal(ours, theirs.numpy())
                self.assertEqual(ours.shape, (16, 64, 64, 3))
        np.testing.assert_array_equal(
            keyed.keyed_randint(keys, 26, keyed.CROP_X),
            augment.keyed_randint(tf.constant(keys), tf.constant(26), keyed.CROP_X).numpy(),
        )
