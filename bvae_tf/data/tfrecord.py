"""Sharded TFRecords of any ground-truth dataset: prepare once (seeded subset + validation split), read fast.

Each record holds an image, the classes of all its factors and the image index. Binary images
(the dSprites family) are bit-packed (``np.packbits``: 512 bytes instead of 4,096, unpacked on
the fly by the reader) with the official 6-column latents (classes and values, color first);
other images are stored as raw uint8. The stochastic dSprites variants store the binary sprites
and get their colour, noise or background when read (``bvae_tf.data.augment``, keyed by seed,
epoch and image index). ``dataset.json`` beside the shards describes the request (dataset,
source and the SHA-256 of the user's files, subset, seed) and lists every shard with its record
count, size and SHA-256, so a prepared folder is reused only when it matches and a damaged one
is reported by file name.
"""

import hashlib
import json
import os
import shutil

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from bvae_tf.data import dsprites
from bvae_tf.data.ground_truth import get_dataset
from bvae_tf.data.sources import Source
from bvae_tf.errors import UserError
from bvae_tf.files import file_sha256, make_temp_dir, write_json

FORMAT_VERSION = 1
MANIFEST = "dataset.json"
PAINTING = "painting.npy"  # scream_dsprites: the painting's thumbnail, so the folder is self-contained
SPLITS = ("train", "validation")
# What manifests written before datasets other than dSprites existed mean by the keys they lack.
LEGACY = {"dataset": "dsprites_full", "files": []}


def split_indices(available, subset, val_size, seed):
    """Seeded random validation and training indices drawn without overlap from ``available``.

    ``subset=0`` trains on everything that is not held out for validation.
    """
    if subset < 0 or val_size < 0:
        raise UserError(f"--subset and --val-size must be >= 0, got {subset} and {val_size}")
    total = len(available)
    room = total - val_size  # what is left for training once validation is held out
    if room <= 0 or subset > room:
        problem = (
            f"--val-size {val_size} leaves none of the {total} images of the source for training"
            if room <= 0
            else f"--subset {subset} plus --val-size {val_size} exceeds the {total} images of the source"
        )
        raise UserError(f"{problem}; {_split_advice(total, subset, val_size)}")
    order = np.random.default_rng(seed).permutation(len(available))
    validation = available[order[:val_size]]
    train = available[order[val_size : val_size + subset] if subset else order[val_size:]]
    return {"train": train, "validation": validation}


def _split_advice(total, subset, val_size):
    """Settings that fit ``total`` images, each of which :func:`split_indices` accepts."""
    if total == 0:
        return "the source holds no image"
    if val_size < total:  # validation fits: shrink the training subset (0 = all the rest)
        advice = f"use at most --subset {total - val_size} (or --subset 0 for all {total - val_size} not held out)"
        if 0 < subset < total:
            advice += f", or at most --val-size {total - subset}"
        return advice
    if 0 < subset < total:  # validation alone takes everything: shrink it
        return f"use at most --val-size {total - subset}"
    return f"use at most --val-size {total - 1} (with --subset 0: all the rest for training)"


def _indices_hash(indices):
    return hashlib.sha256(np.asarray(indices, dtype="<i8").tobytes()).hexdigest()


def _serialize(image, index, latents_classes, latents_values, binary):
    data = np.packbits(image).tobytes() if binary else np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
        "index": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(index)])),
        "latents_classes": tf.train.Feature(int64_list=tf.train.Int64List(value=latents_classes)),
    }
    if latents_values is not None:
        feature["latents_values"] = tf.train.Feature(float_list=tf.train.FloatList(value=latents_values))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def record_latents(dataset, indices):
    """The factor columns a record stores: dSprites' official 6 (classes and values), else all classes."""
    if dataset.binary:
        return dsprites.DSprites.latents(dsprites.DSprites.indices_to_classes(indices))
    return dataset.classes_of(indices), None


def layout(dataset):
    """How the reader decodes a record of ``dataset`` (stored in the manifest)."""
    offset = 1 if dataset.binary else 0  # the official dSprites latents start with the constant color
    return {
        "encoding": "bits" if dataset.binary else "uint8",
        "image_shape": dataset.image_shape,
        "record_factors": len(dataset.all_factor_sizes) + offset,
        "latent_columns": [offset + i for i in dataset.latent_factor_indices],
        "variant": getattr(dataset, "variant", None),
    }


def dataset_source(dataset):
    """A :class:`Source` of every image of a dataset read from the user's files."""
    return Source(dataset.name, np.arange(dataset.num_images), dataset.images)


def write_records(folder, source, splits, shard_size, progress=True, dataset=None):
    """Write each split's images into ``<split>-0000k-of-0000n.tfrecord`` shards; return shard info."""
    dataset = dataset or dsprites.DSprites()
    shards = []
    total = sum(len(indices) for indices in splits.values())
    with tqdm(total=total, unit="img", desc="writing TFRecords", disable=not progress) as bar:
        for split, indices in splits.items():
            count = max(1, -(-len(indices) // shard_size))
            for k in range(count):
                chunk = indices[k * shard_size : (k + 1) * shard_size]
                name = f"{split}-{k:05d}-of-{count:05d}.tfrecord"
                path = os.path.join(folder, name)
                latents_classes, latents_values = record_latents(dataset, chunk)
                images = source.images(chunk)
                with tf.io.TFRecordWriter(path) as writer:
                    for row in range(len(chunk)):
                        values = None if latents_values is None else latents_values[row]
                        writer.write(_serialize(images[row], chunk[row], latents_classes[row], values, dataset.binary))
                shards.append(
                    {
                        "split": split,
                        "file": name,
                        "records": len(chunk),
                        "bytes": os.path.getsize(path),
                        "sha256": file_sha256(path),
                    }
                )
                bar.update(len(chunk))
    return shards


def request(source, subset, val_size, seed, shard_size, dataset=None):
    """The part of the manifest that decides whether a prepared folder can be reused."""
    dataset = dataset or dsprites.DSprites()
    return {
        "format_version": FORMAT_VERSION,
        "dataset": dataset.name,
        "files": dataset.describe()["files"],
        "source": source.describe(),
        "subset": subset,
        "val_size": val_size,
        "seed": seed,
        "shard_size": shard_size,
    }


def prepare(out_dir, source, subset=50_000, val_size=5_000, seed=0, shard_size=5_000, progress=True, dataset=None):
    """Write (or reuse) the TFRecords for ``source`` under ``out_dir``; return the manifest.

    ``dataset`` (a :class:`~bvae_tf.data.ground_truth.GroundTruthData`, default dsprites_full)
    decides the factors and the encoding; ``source`` gives its images (for datasets of the
    user's files, :func:`dataset_source`).

    The folder is built under a temporary name and renamed at the end, so an interrupted run
    leaves nothing that looks complete; the temporary folder of a killed run is removed by the
    next prepare into the same parent folder (`bvae_tf.files.make_temp_dir`).
    """
    if shard_size <= 0:
        raise UserError(f"--shard-size must be positive, got {shard_size}")
    dataset = dataset or dsprites.DSprites()
    wanted = request(source, subset, val_size, seed, shard_size, dataset)
    if os.path.isdir(out_dir) and _listdir_or_none(out_dir) == []:
        os.rmdir(out_dir)  # an empty folder (made by the user) is no prepared dataset: fill it
    if os.path.exists(out_dir):
        manifest = read_manifest(out_dir)
        found = {key: manifest.get(key, LEGACY.get(key)) for key in wanted}
        if found != wanted:
            differs = ", ".join(key for key in wanted if found[key] != wanted[key])
            raise UserError(
                f"{out_dir} holds a prepared dataset for another request (differs in: {differs}); "
                "choose another output folder or delete it"
            )
        return manifest
    splits = split_indices(source.indices, subset, val_size, seed)
    # Named after this process (a later prepare removes it if we are killed), with the umask's mode.
    tmp = make_temp_dir(out_dir)
    try:
        shards = write_records(tmp, source, splits, shard_size, progress, dataset)
        if getattr(dataset, "painting", None) is not None:
            np.save(os.path.join(tmp, PAINTING), dataset.painting)
        manifest = dict(
            wanted,
            layout=layout(dataset),
            source_path=source.path,
            counts={split: int(len(indices)) for split, indices in splits.items()},
            indices_sha256={split: _indices_hash(indices) for split, indices in splits.items()},
            shards=shards,
        )
        write_json(os.path.join(tmp, MANIFEST), manifest)
        os.replace(tmp, out_dir)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not os.path.isfile(os.path.join(out_dir, MANIFEST)):
            raise
        # Another process (a sweep worker) prepared the same folder meanwhile: check and reuse it.
        return prepare(out_dir, source, subset, val_size, seed, shard_size, progress, dataset)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def read_manifest(folder, verify=True):
    """Load ``dataset.json``; with ``verify``, check every shard's size and checksum."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isdir(folder):
        raise UserError(f"data folder {folder} does not exist; run `python -m bvae_tf.data prepare --out {folder}`")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except PermissionError:
        raise UserError(_permission_denied(folder, path)) from None
    except (FileNotFoundError, IsADirectoryError):
        raise UserError(f"{folder} is not a prepared bvae_tf dataset: {MANIFEST} is missing") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{path} is not a valid manifest: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION or "shards" not in manifest:
        raise UserError(f"{path} is not a bvae_tf dataset manifest of format version {FORMAT_VERSION}")
    if verify:
        for shard in manifest["shards"]:
            shard_path = os.path.join(folder, shard["file"])
            if not os.path.isfile(shard_path):
                raise UserError(
                    f"shard {shard_path} listed in {MANIFEST} is missing; delete {folder} and prepare again"
                )
            try:
                damaged = os.path.getsize(shard_path) != shard["bytes"] or file_sha256(shard_path) != shard["sha256"]
            except PermissionError:
                raise UserError(_permission_denied(folder, shard_path)) from None
            if damaged:
                raise UserError(
                    f"shard {shard_path} is corrupted (size or checksum differs from {MANIFEST}); "
                    f"delete {folder} and prepare again"
                )
    return manifest


def _listdir_or_none(folder):
    """The folder's entries; None when we may not list it (read_manifest then says so)."""
    try:
        return os.listdir(folder)
    except PermissionError:
        return None


def _permission_denied(folder, path):
    return (
        f"{path}: permission denied: the data folder {folder} is not readable by you "
        f"(its owner can run `chmod -R a+rX {folder}`, or prepare your own copy in another folder)"
    )


def _layout(manifest):
    """The manifest's record layout (a manifest from before other datasets: dsprites_full's)."""
    return manifest.get("layout") or layout(dsprites.DSprites())


def _decoder(layout):
    """A function parsing a batch of serialized records into (float32 images [B, 64, 64, C], latent classes, indices)."""
    features = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "index": tf.io.FixedLenFeature([], tf.int64),
        "latents_classes": tf.io.FixedLenFeature([layout["record_factors"]], tf.int64),
    }
    height, width, channels = layout["image_shape"]

    def decode(batch):
        parsed = tf.io.parse_example(batch, features)
        raw = tf.io.decode_raw(parsed["image"], tf.uint8)
        if layout["encoding"] == "bits":  # [B, 512] bytes -> [B, 64, 64, 1] of 0/1; np.packbits is big-endian
            shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.uint8)
            bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(raw[:, :, None], shifts), 1)
            images = tf.cast(tf.reshape(bits, [-1, height, width, channels]), tf.float32)
        else:
            images = tf.cast(tf.reshape(raw, [-1, height, width, channels]), tf.float32) / 255.0
        return images, tf.gather(parsed["latents_classes"], layout["latent_columns"], axis=1), parsed["index"]

    return decode


def _augmenter(variant, seed, epoch_of, painting):
    """The stateless transformation of a stochastic variant for the ``position``-th batch, keyed
    per image by (seed, ``epoch_of(position)``, index)."""
    from bvae_tf.data.augment import augment

    def apply(position, batch):
        images, factors, index = batch
        fill = tf.ones_like(index)
        keys = tf.stack([fill * tf.cast(seed, tf.int64), fill * tf.cast(epoch_of(position), tf.int64), index], axis=1)
        return position, (augment(images, keys, variant, painting), factors, index)

    return apply


def make_dataset(
    folder,
    split="train",
    batch_size=32,
    shuffle=True,
    seed=0,
    with_factors=False,
    drop_remainder=False,
    verify=False,
    epoch=0,
    augment=True,
    epochs=None,
):
    """A ``tf.data`` pipeline over a prepared folder.

    Yields float32 images [B, 64, 64, C] in [0, 1], or ``(images, factors)`` with the latent
    factor classes int64 [B, num_factors] when ``with_factors``. Shards are read in parallel
    (interleave), records are shuffled with ``seed`` (a new, reproducible order every epoch),
    batched and then parsed a batch at a time, which is much faster than parsing record by record.

    ``epochs=(first, stop)``: the batches of epochs ``first`` .. ``stop - 1`` one after another
    (the records shuffled anew each epoch, reproducibly: epoch k's order is the same whether or
    not the epochs before it were skipped), as training reads them; default: one epoch, ``epoch``.

    The stochastic dSprites variants (colour, noise, scream) are transformed here, statelessly:
    each image's random numbers are keyed by ``(seed, epoch, image index)``, the same keys giving
    the same images; ``augment=False`` gives the stored binary sprites instead.
    """
    if split not in SPLITS:
        raise UserError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    manifest = read_manifest(folder, verify=verify)
    files = [os.path.join(folder, s["file"]) for s in manifest["shards"] if s["split"] == split and s["records"]]
    if not files:
        raise UserError(f"{folder} has no {split} records")
    record_layout = _layout(manifest)
    painting = None
    if record_layout.get("variant") == "scream" and augment:
        painting = tf.constant(np.load(os.path.join(folder, PAINTING)))
    ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 4),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if shuffle:
        ds = ds.shuffle(10_000, seed=seed)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(_decoder(record_layout), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if epochs is None:
        ds = ds.enumerate()
        epoch_of = lambda position: epoch  # noqa: E731
    else:
        first, stop = epochs
        records = sum(s["records"] for s in manifest["shards"] if s["split"] == split)
        steps = records // batch_size if drop_remainder else -(-records // batch_size)
        ds = ds.repeat(stop).enumerate().skip(first * steps)  # the shuffle runs again on each repetition
        epoch_of = lambda position: position // steps  # noqa: E731
    if augment and record_layout.get("variant"):  # keyed per image (see bvae_tf.data.augment)
        apply = _augmenter(record_layout["variant"], seed, epoch_of, painting)
        ds = ds.map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.map(lambda position, batch: (batch[0], batch[1]) if with_factors else batch[0])
    return ds.prefetch(tf.data.AUTOTUNE)


def prepare_dataset(out_dir, dataset, source=None, **options):
    """Prepare the TFRecords of ``dataset`` (a name or a GroundTruthData); ``source`` (dSprites
    family only) defaults to the renderer, else the dataset's own files. ``options``: those of
    :func:`prepare`."""
    from bvae_tf.data.sources import render_source

    dataset = get_dataset(dataset) if isinstance(dataset, str) else dataset
    if source is None:
        source = render_source() if dataset.binary else dataset_source(dataset)
    return prepare(out_dir, source, dataset=dataset, **options)
