"""Benchmark the data layer; prints JSON.

  python tools/bench_data.py [--subset 50000] [--skip-full-render]

Measures: seconds to render all 737,280 images, TFRecord write time and size for the subset,
and the reader's images/s (full pass over the training split, after one warm-up pass).
"""

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np

from bvae_tf.data import NUM_IMAGES, DSprites, make_dataset, prepare, render_dsprites
from bvae_tf.data.sources import render_source


def render_all():
    start = time.perf_counter()
    lit = 0
    for begin in range(0, NUM_IMAGES, 65_536):
        classes = DSprites.indices_to_classes(np.arange(begin, min(begin + 65_536, NUM_IMAGES)))
        lit += int(render_dsprites(classes).sum(dtype=np.int64))
    return time.perf_counter() - start, lit / (NUM_IMAGES * 4096)


def read_rate(folder, batch_size):
    dataset = make_dataset(folder, "train", batch_size=batch_size, seed=0)
    for _ in dataset:  # warm-up pass: file cache, tf.data autotuning
        pass
    start, count = time.perf_counter(), 0
    for images in dataset:
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=50_000)
    parser.add_argument("--skip-full-render", action="store_true")
    args = parser.parse_args()
    result = {"cpus": os.cpu_count()}
    if not args.skip_full_render:
        seconds, mean = render_all()
        result.update(
            render_all_seconds=round(seconds, 2),
            render_images_per_s=round(NUM_IMAGES / seconds),
            full_set_mean_pixel=round(mean, 7),
        )
    tmp = tempfile.mkdtemp()
    try:
        folder = os.path.join(tmp, "d")
        start = time.perf_counter()
        manifest = prepare(folder, render_source(), subset=args.subset, val_size=5_000, seed=0, progress=False)
        write_seconds = time.perf_counter() - start
        records = sum(manifest["counts"].values())
        size = sum(s["bytes"] for s in manifest["shards"])
        result.update(
            write_records=records,
            write_seconds=round(write_seconds, 2),
            tfrecord_mb=round(size / 2**20, 2),
            raw_uint8_mb=round(records * 4096 / 2**20, 2),
            size_ratio_raw_over_tfrecord=round(records * 4096 / size, 2),
            read_images_per_s_batch32=round(read_rate(folder, 32)),
            read_images_per_s_batch256=round(read_rate(folder, 256)),
        )
    finally:
        shutil.rmtree(tmp)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
