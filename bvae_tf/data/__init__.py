"""The dSprites data layer: ground truth and renderer, sources, sharded TFRecords."""

import os

from bvae_tf.data.dsprites import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    NUM_IMAGES,
    DSprites,
    render_dsprites,
)
from bvae_tf.data.sources import SOURCES, load_source
from bvae_tf.data.tfrecord import make_dataset, prepare, read_manifest, split_indices
from bvae_tf.errors import UserError

__all__ = [
    "FACTOR_NAMES", "FACTOR_SIZES", "NUM_IMAGES", "DSprites", "render_dsprites", "SOURCES",
    "load_source", "make_dataset", "prepare", "read_manifest", "split_indices",
    "add_data_arguments", "prepare_from_args",
]


def add_data_arguments(parser, seed_flag="--data-seed"):
    """The data flags shared by `bvae_tf.data prepare`, `bvae_tf.train` and `bvae_tf.sweep`."""
    group = parser.add_argument_group("data")
    group.add_argument("--source", nargs="+", default=["render"], metavar="NAME [PATH]",
                       help="render (embedded renderer, default) | npz PATH | hdf5 PATH | tfds [DATA_DIR]")
    group.add_argument("--subset", type=int, default=50_000,
                       help="training images drawn at random (seeded); 0 = all not held out (default 50000)")
    group.add_argument("--val-size", type=int, default=5_000, help="held-out validation images (default 5000)")
    group.add_argument(seed_flag, type=int, default=0, dest="data_seed",
                       help="seed of the subset and split (default 0)")
    group.add_argument("--shard-size", type=int, default=5_000, help="records per TFRecord shard (default 5000)")
    group.add_argument("--data-dir", default=None,
                       help="prepared TFRecord folder (default data/dsprites-<source>-n<subset>-v<val>-s<seed>)")
    return group


def default_data_dir(args):
    return os.path.join("data", f"dsprites-{args.source[0]}-n{args.subset}-v{args.val_size}-s{args.data_seed}")


def prepare_from_args(args, progress=True):
    """Validate the data flags, prepare (or reuse) the TFRecords and return their folder."""
    if len(args.source) > 2:
        raise UserError(f"--source takes a name and at most one path, got {' '.join(args.source)}")
    name, path = args.source[0], (args.source[1] if len(args.source) == 2 else None)
    folder = args.data_dir or default_data_dir(args)
    prepare(folder, load_source(name, path), subset=args.subset, val_size=args.val_size,
            seed=args.data_seed, shard_size=args.shard_size, progress=progress)
    return folder
