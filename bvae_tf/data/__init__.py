"""The data layer: the ground-truth datasets behind one protocol, sources, sharded TFRecords.

The datasets (``DATASETS``, ``get_dataset``) and the sources need numpy only (the file loaders
import h5py, scipy or Pillow when used); the TFRecord writer and reader (TensorFlow) are
imported on first use, so ``bvae_tf.metrics`` can use the ground truth without TensorFlow.
"""

import importlib

from bvae_tf.data.dsprites import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    NUM_IMAGES,
    DSprites,
    render_dsprites,
)
from bvae_tf.data.ground_truth import DATASETS, GroundTruthData, data_root, get_dataset
from bvae_tf.data.sources import SOURCES, load_source

_TFRECORD = ("make_dataset", "prepare", "prepare_dataset", "read_manifest", "split_indices")

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "NUM_IMAGES",
    "DSprites",
    "render_dsprites",
    "DATASETS",
    "GroundTruthData",
    "data_root",
    "get_dataset",
    "SOURCES",
    "load_source",
    *_TFRECORD,
    "add_data_arguments",
    "prepare_data",
]


def __getattr__(name):
    if name in _TFRECORD:
        return getattr(importlib.import_module("bvae_tf.data.tfrecord"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_data_arguments(parser, seed_flag="--data-seed"):
    """The data flags shared by `bvae_tf.data prepare`, `bvae_tf.train` and `bvae_tf.sweep`
    (their defaults are :class:`bvae_tf.data.config.DataConfig`'s)."""
    from bvae_tf.data.config import DataConfig

    default = DataConfig()
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        default=default.dataset,
        choices=list(DATASETS),
        help="the ground-truth dataset; see docs/datasets.md",
    )
    group.add_argument(
        "--data-root",
        default=default.data_root,
        help="folder of the downloaded dataset files (default $BVAE_TF_DATA, else data/); see docs/datasets.md",
    )
    group.add_argument(
        "--source",
        nargs="+",
        default=list(default.source),
        metavar="NAME [PATH]",
        help="dSprites images: render (embedded renderer, default) | npz PATH | hdf5 PATH | tfds [DATA_DIR]",
    )
    group.add_argument(
        "--subset",
        type=int,
        default=default.subset,
        help="training images drawn at random (seeded); 0 = all not held out",
    )
    group.add_argument("--val-size", type=int, default=default.val_size, help="held-out validation images")
    group.add_argument(seed_flag, type=int, default=default.seed, dest="data_seed", help="seed of the subset and split")
    group.add_argument("--shard-size", type=int, default=default.shard_size, help="records per TFRecord shard")
    group.add_argument(
        "--data-dir",
        default=None,
        help="prepared TFRecord folder (default data/<dataset>-<source>-n<subset>-v<val>-s<seed>)",
    )
    return group


def dataset_of(config):
    """The :class:`GroundTruthData` a :class:`~bvae_tf.data.config.DataConfig` names (its files checked)."""
    return get_dataset(config.dataset, data_root=config.data_root)


def prepare_data(config, progress=True):
    """Prepare (or reuse) the TFRecords a :class:`~bvae_tf.data.config.DataConfig` names; return their folder."""
    from bvae_tf.data.tfrecord import prepare_dataset

    dataset = dataset_of(config)
    source = None
    if dataset.binary:  # the dSprites family: its sprites come from --source
        source = load_source(config.source[0], config.source[1] if len(config.source) == 2 else None)
    prepare_dataset(
        config.folder,
        dataset,
        source,
        subset=config.subset,
        val_size=config.val_size,
        seed=config.seed,
        shard_size=config.shard_size,
        progress=progress,
    )
    return config.folder
