"""A toy metric for the registry test, written as a user would add one: this file and one
`register` call. Score: the mean over factors of the largest |correlation| with any latent."""

import dataclasses

import numpy as np

from bvae_tf.metrics import utils
from bvae_tf.metrics.registry import Metric, Score
from bvae_tf.metrics.sampling import CODES


@dataclasses.dataclass
class ToyResult(utils.Result):
    score: float
    correlation: np.ndarray = utils.matrix("latent", "factor")


def toy(codes, factors):
    codes, factors = utils.check_codes(codes), utils.check_factors(factors, len(codes))
    both = np.corrcoef(np.concatenate([codes, factors], axis=1), rowvar=False)
    correlation = np.nan_to_num(np.abs(both[: codes.shape[1], codes.shape[1] :]))
    return ToyResult(score=float(correlation.max(axis=0).mean()), correlation=correlation)


def _score(samples, options, seed):
    return toy(samples.codes["train"], samples.factors["train"])


METRIC = Metric("toy", CODES, _score, (Score("score", "toy_score", "Toy score"),))
