"""Which images a run trains on and where their TFRecords are: the data stage's settings.

Built from flags (``from_flags``) or keywords and validated at once, like the run settings in
``bvae_tf.config`` (which re-exports :class:`DataConfig`); a bad value raises a one-line
:class:`~bvae_tf.errors.UserError` naming the flag.
"""

import dataclasses
import os
from typing import Optional

from bvae_tf.checks import MAX_INT32, MAX_SEED, _check_positive, _check_range, _coerce_numbers, _require
from bvae_tf.data.ground_truth import DATASETS, check_dataset_name


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which dataset's images a run trains on, and where their TFRecords are (see bvae_tf.data)."""

    source: tuple[str, ...] = ("render",)  # dSprites family: a name and at most one path
    subset: int = 50_000  # training images drawn at random; 0 = all not held out
    val_size: int = 5_000
    seed: int = 0  # seed of the subset and split
    shard_size: int = 5_000
    data_dir: Optional[str] = None  # default: derived from the fields above
    dataset: str = "dsprites_full"  # a name of bvae_tf.data.DATASETS
    data_root: Optional[str] = None  # folder of the user's dataset files (default: $BVAE_TF_DATA or data/)

    # Command-line (and config.json) names of the fields.
    FLAGS = {
        "dataset": "dataset",
        "source": "source",
        "subset": "subset",
        "val_size": "val_size",
        "data_seed": "seed",
        "shard_size": "shard_size",
        "data_dir": "data_dir",
        "data_root": "data_root",
    }

    def __post_init__(self):
        _coerce_numbers(self)
        source = (self.source,) if isinstance(self.source, str) else tuple(self.source)
        if len(source) == 1 and " " in source[0]:
            source = tuple(source[0].split())
        object.__setattr__(self, "source", source)
        _require(1 <= len(source) <= 2, f"--source takes a name and at most one path, got {' '.join(source)}")
        check_dataset_name(self.dataset)
        _require(
            source == ("render",) or self.dataset in DSPRITES_FAMILY,
            f"--source applies to the dSprites datasets only; --dataset {self.dataset} reads the user's files "
            "(see --data-root)",
        )
        _check_positive(self, ("shard_size",))
        _check_range(self, ("subset", "val_size"), 0, MAX_INT32)
        _require(0 <= self.seed <= MAX_SEED, f"--data-seed must be between 0 and {MAX_SEED}, got {self.seed}")

    @classmethod
    def from_flags(cls, values, base=None):
        """``base`` (default: the defaults) with the data flags found in ``values`` (a dict) applied."""
        found = {field: values[flag] for flag, field in cls.FLAGS.items() if flag in values}
        return dataclasses.replace(base or cls(), **found)

    def to_flags(self):
        return {
            flag: list(self.source) if field == "source" else getattr(self, field) for flag, field in self.FLAGS.items()
        }

    @property
    def folder(self):
        """``data/dsprites-<source>-...`` for dsprites_full (as before), ``data/<dataset>-<source>-...`` otherwise."""
        name = "dsprites" if self.dataset == "dsprites_full" else self.dataset
        source = self.source[0] if self.dataset in DSPRITES_FAMILY else "files"
        return self.data_dir or os.path.join("data", f"{name}-{source}-n{self.subset}-v{self.val_size}-s{self.seed}")


DSPRITES_FAMILY = tuple(name for name in DATASETS if "dsprites" in name)
