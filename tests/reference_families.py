"""disentanglement_lib's definitions of IRS, the unsupervised scores, the downstream task, fairness
and UDR, transcribed as plain loops over its [dims, points] layout (our own transcription, for
tests/test_metric_families.py to compare our scorers with on identical arrays)."""

import numpy as np
import scipy.linalg
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import Lasso, LogisticRegressionCV
from sklearn.metrics import mutual_info_score
from sklearn.model_selection import KFold


def discretize(target, num_bins=20):
    """The reference's histogram discretizer on [dims, points] (1-based bins, kept as floats)."""
    out = np.zeros_like(target, dtype=np.float64)
    for i in range(target.shape[0]):
        out[i] = np.digitize(target[i], np.histogram(target[i], num_bins)[1][:-1])
    return out


def irs(mus, ys, diff_quantile=0.99):
    """mus [L, N] codes, ys [K, N] factors -> (IRS, kept latents, scores, IRS matrix)."""
    ys = discretize(ys)
    keep = [l for l in range(mus.shape[0]) if mus[l].var() > 0]
    if not keep:
        return 0.0, 0, None, None
    z = mus[keep].T  # [N, kept]
    g = ys.T
    max_dev = np.zeros(len(keep))
    for l in range(len(keep)):
        max_dev[l] = max(abs(z[n, l] - z[:, l].mean()) for n in range(len(z)))
    cum = np.zeros((len(keep), g.shape[1]))
    for i in range(g.shape[1]):
        values = sorted(set(g[:, i]))
        for v in values:
            rows = z[g[:, i] == v]
            for l in range(len(keep)):
                cum[l, i] += np.percentile(np.abs(rows[:, l] - rows[:, l].mean()), diff_quantile * 100)
        cum[:, i] /= len(values)
    matrix = 1.0 - cum / max_dev[:, None]
    scores = matrix.max(axis=1)
    avg = np.average(scores, weights=max_dev) if max_dev.sum() > 0 else scores.mean()
    return avg, len(keep), scores, matrix


def unsupervised(mus):
    """mus [L, N] -> dict of the four scores, as the reference computes them."""
    num = mus.shape[0]
    cov = np.cov(mus)
    total = 0.5 * (sum(np.log(cov[l, l]) for l in range(num)) - np.linalg.slogdet(cov)[1])
    scaled = np.array([[cov[a, b] * cov[a, a] for b in range(num)] for a in range(num)])
    wasserstein = 2 * np.trace(cov) - 2 * np.trace(scipy.linalg.sqrtm(scaled))
    discrete = discretize(mus)
    mi = np.zeros((num, num))
    for a in range(num):
        for b in range(num):
            mi[a, b] = mutual_info_score(discrete[b], discrete[a])
    np.fill_diagonal(mi, 0)
    return {
        "gaussian_total_correlation": total,
        "gaussian_wasserstein_correlation": np.real(wasserstein),
        "gaussian_wasserstein_correlation_norm": np.real(wasserstein) / np.trace(cov),
        "mutual_info_score": mi.sum() / (num**2 - num),
        "mutual_info": mi,
    }


def predictor(name, seed):
    # The reference's models are unseeded; ours take ``seed``, so the fixture passes it too.
    if name == "gbt":
        return GradientBoostingClassifier(random_state=seed)
    return LogisticRegressionCV(Cs=10, cv=KFold(n_splits=5), random_state=seed)


def downstream(x_train, y_train, x_test, y_test, name, seed):
    """x [L, N], y [K, N] -> per-factor (train accuracies, test accuracies)."""
    train, test = [], []
    for i in range(y_train.shape[0]):
        model = predictor(name, seed).fit(x_train.T, y_train[i])
        train.append(np.mean(model.predict(x_train.T) == y_train[i]))
        test.append(np.mean(model.predict(x_test.T) == y_test[i]))
    return np.array(train), np.array(test)


def inter_group_fairness(counts):
    """Mean and max TV, in float32 as the reference."""
    overall = np.sum(counts, axis=1, dtype=np.float32)
    overall /= overall.sum()
    per_class = np.sum(counts, axis=0)
    tvs = []
    for c in range(counts.shape[1]):
        column = np.array(counts[:, c], dtype=np.float32) / per_class[c]
        tvs.append(sum(abs(column[k] - overall[k]) for k in range(counts.shape[0])) / 2.0)
    mean = sum(tvs[c] * per_class[c] for c in range(len(tvs))) / per_class.sum()
    return mean, max(tvs)


def fairness(data, representation, random_state, num_train, num_per_class, batch_size, name, seed):
    """The reference's loop -> ([target, sensitive] mean TV, max TV)."""
    sizes = data.factors_num_values
    mus, ys, done = [], [], 0
    while done < num_train:
        n = min(num_train - done, batch_size)
        f, obs = data.sample(n, random_state)
        ys.append(f)
        mus.append(representation(obs))
        done += n
    mus, ys = np.vstack(mus), np.vstack(ys)
    mean_tv = np.zeros((len(sizes), len(sizes)))
    max_tv = np.zeros((len(sizes), len(sizes)))
    for i in range(len(sizes)):
        model = predictor(name, seed).fit(mus, ys[:, i])
        for j in range(len(sizes)):
            if i == j:
                continue
            original = data.sample_factors(num_per_class, random_state)
            counts = np.zeros((sizes[i], sizes[j]), dtype=np.int64)
            for c in range(sizes[j]):
                f = np.copy(original)
                f[:, j] = c
                obs = data.sample_observations_from_factors(f, random_state)
                codes = np.vstack([representation(obs[s : s + batch_size]) for s in range(0, len(obs), batch_size)])
                counts[:, c] = np.bincount(model.predict(codes), minlength=sizes[i])
            mean_tv[i, j], max_tv[i, j] = inter_group_fairness(counts)
    return mean_tv, max_tv


def relative_strength(corr):
    def side(maxes, sums):
        return np.nanmean(np.nan_to_num(np.power(maxes, 2) / sums))

    with np.errstate(divide="ignore", invalid="ignore"):
        return (side(corr.max(axis=0), corr.sum(axis=0)) + side(corr.max(axis=1), corr.sum(axis=1))) / 2


def udr(reps, kls, correlation, seed):
    """reps: list of [N, L], kls: list of [L] -> (model scores, pairwise [M, M] with 0 diagonal)."""
    reps = [r.copy() for r in reps]
    masks = []
    for m in range(len(reps)):
        for l in range(reps[m].shape[1]):
            column = reps[m][:, l]
            std = column.std()
            reps[m][:, l] = (column - column.mean()) / (std if std > 0 else 1.0) * (kls[m][l] > 0.01)
        masks.append(kls[m] > 0.01)
    num = len(reps)
    pairwise = np.zeros((num, num))
    for i in range(num):
        for j in range(num):
            if i == j:
                continue
            if correlation == "lasso":
                corr = np.abs(Lasso(alpha=0.1, random_state=seed).fit(reps[i], reps[j]).coef_).T
            else:
                size = reps[i].shape[1]
                corr = np.zeros((size, size))
                for a in range(size):
                    for b in range(size):
                        with np.errstate(divide="ignore", invalid="ignore"):
                            corr[a, b] = abs(scipy.stats.spearmanr(reps[i][:, a], reps[j][:, b], nan_policy="omit")[0])
            pairwise[i, j] = relative_strength(corr[masks[i]][:, masks[j]])
    scores = [np.median([pairwise[j, i] for j in range(num) if j != i]) for i in range(num)]
    return np.array(scores), pairwise
