"""Pieces every scorer shares: input checks, the 20-bin discretization, discrete MI and entropy,
active latents, and a result type that splits into JSON scalars and matrices.

Follows `disentanglement_lib/evaluation/metrics/utils.py` (Locatello et al., 2019).
"""

import contextlib
import dataclasses
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

NUM_BINS = 20
ACTIVE_STD = 0.05  # a latent whose std over the sample is below this is collapsed (inactive)


def matrix(*axes):
    """A result field holding an array; ``axes`` names its dimensions ("latent", "factor")."""
    return dataclasses.field(metadata={"axes": axes})


@dataclasses.dataclass
class Result:
    """Base of every scorer's result: numbers go to `metrics.json`, arrays to `.npz`/`.csv`."""

    def scalars(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if "axes" not in f.metadata}

    def matrices(self):
        """``{name: (array, axes)}``."""
        return {
            f.name: (getattr(self, f.name), f.metadata["axes"])
            for f in dataclasses.fields(self)
            if "axes" in f.metadata
        }


@dataclasses.dataclass(frozen=True)
class Binning:
    """The option of the metrics that discretize codes: equal-width histogram bins per latent."""

    num_bins: int = NUM_BINS


def check_codes(codes, name="codes"):
    """Codes as float64 [N, L]; raises ValueError on a wrong shape, dtype or non-finite values."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array [N, L], got shape {codes.shape}")
    if not (np.issubdtype(codes.dtype, np.floating) or np.issubdtype(codes.dtype, np.integer)):
        raise ValueError(f"{name} must hold numbers, got dtype {codes.dtype}")
    codes = codes.astype(np.float64)
    if not np.isfinite(codes).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return codes


def check_factors(factors, num, name="factors"):
    """Factors as int64 [N, K] of non-negative class indices matching ``num`` rows."""
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[0] != num or factors.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D array [{num}, K] of class indices, got shape {factors.shape}")
    if not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {factors.dtype}")
    if factors.min() < 0:
        raise ValueError(f"{name} must be class indices >= 0, got {factors.min()}")
    return factors.astype(np.int64)


def check_features(train_features, train_labels, eval_features, eval_labels):
    """The batch-feature scorers' inputs (Z-diff, Z-min): features float64 [P, L], labels int [P]."""
    x_train = check_codes(train_features, "train_features")
    x_eval = check_codes(eval_features, "eval_features")
    y_train = check_factors(np.reshape(train_labels, (-1, 1)), len(x_train), "train_labels")[:, 0]
    y_eval = check_factors(np.reshape(eval_labels, (-1, 1)), len(x_eval), "eval_labels")[:, 0]
    return x_train, y_train, x_eval, y_eval


def check_split(train_codes, train_factors, test_codes, test_factors):
    """Check a train/test pair of (codes, factors) that must agree in L and K."""
    train_codes = check_codes(train_codes, "train_codes")
    test_codes = check_codes(test_codes, "test_codes")
    train_factors = check_factors(train_factors, len(train_codes), "train_factors")
    test_factors = check_factors(test_factors, len(test_codes), "test_factors")
    if train_codes.shape[1] != test_codes.shape[1] or train_factors.shape[1] != test_factors.shape[1]:
        raise ValueError("train and test arrays must have the same number of latents and of factors")
    return train_codes, train_factors, test_codes, test_factors


def histogram_discretize(codes, num_bins=NUM_BINS):
    """Each latent into ``num_bins`` equal-width bins over its own min-max range (0-based bins)."""
    out = np.empty(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], num_bins)[1]
        out[:, i] = np.digitize(codes[:, i], edges[:-1]) - 1
    return out


def discrete_entropy(factors):
    """Empirical entropy (nats) of each column of an int array [N, K]."""
    entropies = []
    for column in factors.T:
        p = np.bincount(column) / len(column)
        p = p[p > 0]
        entropies.append(-np.sum(p * np.log(p)))
    return np.array(entropies)


def mutual_info_matrix(discrete_codes, factors):
    """MI (nats) between every discrete latent and factor, [L, K], from joint contingency tables.

    Equal to `sklearn.metrics.mutual_info_score` on each pair, computed with one bincount.
    """
    n = len(factors)
    mi = np.zeros((discrete_codes.shape[1], factors.shape[1]))
    for i, z in enumerate(discrete_codes.T):
        nz = np.bincount(z)
        for j, y in enumerate(factors.T):
            ny = np.bincount(y)
            joint = np.bincount(z * len(ny) + y, minlength=len(nz) * len(ny)).reshape(len(nz), len(ny))
            rows, cols = np.nonzero(joint)
            p = joint[rows, cols] / n
            mi[i, j] = max(0.0, np.sum(p * np.log(p * n * n / (nz[rows] * ny[cols]))))
    return mi


def active_latents(codes, threshold=ACTIVE_STD):
    """Boolean mask of latents whose std over the sample is at least ``threshold``."""
    return np.std(codes, axis=0) >= threshold


def top_two_gap(matrix):
    """Per column: largest minus second largest entry (the largest itself when there is one row)."""
    ordered = np.sort(matrix, axis=0)[::-1]
    second = ordered[1] if len(ordered) > 1 else np.zeros(matrix.shape[1])
    return ordered[0] - second


def standardize(train, test):
    """Scale both by the train mean and std; a constant latent keeps std 1 instead of dividing by 0."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


@contextlib.contextmanager
def quiet_fit():
    """Silence convergence warnings: the reference uses sklearn defaults, warnings and all."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield
