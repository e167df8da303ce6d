"""Images per second of `make_dataset` for dsprites_full, color_dsprites and noisy_dsprites (JSON on stdout).

Prepares small rendered folders (once, under --out) and times full passes over their training
split: the cost of the on-the-fly colour / noise against plain binary sprites.

    python tools/data_throughput.py [--subset 5000] [--batch-size 64] [--passes 3] [--out /tmp/throughput]
"""

import argparse
import json
import os
import time

from bvae_tf.data.tfrecord import make_dataset, prepare_dataset

DATASETS = ("dsprites_full", "color_dsprites", "noisy_dsprites")


def images_per_second(folder, batch_size, passes):
    dataset = make_dataset(folder, "train", batch_size, shuffle=True, seed=0)
    for _ in dataset.take(5):  # warm up: tracing, first reads
        pass
    count, start = 0, time.perf_counter()
    for epoch in range(passes):
        for images in make_dataset(folder, "train", batch_size, shuffle=True, seed=0, epoch=epoch):
            count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--out", default=os.path.join("/tmp", "bvae_tf-throughput"))
    args = parser.parse_args()
    result = {"subset": args.subset, "batch_size": args.batch_size, "images_per_second": {}}
    for name in DATASETS:
        folder = os.path.join(args.out, f"{name}-n{args.subset}")
        prepare_dataset(folder, name, subset=args.subset, val_size=0, shard_size=1000, progress=False)
        result["images_per_second"][name] = round(images_per_second(folder, args.batch_size, args.passes))
    base = result["images_per_second"]["dsprites_full"]
    result["ratio_to_dsprites_full"] = {k: round(v / base, 3) for k, v in result["images_per_second"].items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
