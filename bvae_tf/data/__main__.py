"""`python -m bvae_tf.data prepare`: write the sharded TFRecords of a dataset (or check a prepared folder)."""

import json
import os

from bvae_tf.data import add_data_arguments, prepare_data, read_manifest
from bvae_tf.data.config import DataConfig
from bvae_tf.errors import ArgumentParser, UserError, run_cli


def build_parser():
    parser = ArgumentParser(prog="python -m bvae_tf.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="write sharded TFRecords of a seeded subset of a dataset (--dataset)")
    group = add_data_arguments(prepare, seed_flag="--seed")
    group.add_argument("--out", dest="data_dir", default=None, help="output folder (default: derived from the flags)")
    prepare.add_argument("--quiet", action="store_true", help="no progress bar")
    check = commands.add_parser("check", help="verify a prepared folder's shards against its manifest")
    check.add_argument("folder")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.command == "prepare":
        config = DataConfig.from_flags(vars(args))
        if os.path.isfile(config.folder):  # else read as a dataset: "does not exist; run prepare --out ..."
            raise UserError(f"--out: {config.folder} is a file, not a folder; choose a folder")
        folder = prepare_data(config, progress=not args.quiet)
    else:
        folder = args.folder
    manifest = read_manifest(folder)
    print(
        json.dumps(
            {
                "folder": folder,
                "dataset": manifest.get("dataset", "dsprites_full"),
                "source": manifest["source"],
                "counts": manifest["counts"],
                "shards": len(manifest["shards"]),
            }
        )
    )
    return 0


def cli(argv=None):
    run_cli(main, argv)


if __name__ == "__main__":
    cli()
