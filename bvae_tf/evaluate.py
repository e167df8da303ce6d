"""Score a representation with the disentanglement metrics: ``python -m bvae_tf.evaluate``.

    python -m bvae_tf.evaluate saved_models/<run> [--preset fast] [--metrics mig,zdiff]
    python -m bvae_tf.evaluate --codes codes.npz

Works on any SavedModel with an ``encode`` or ``gaussian_encoder`` signature (float32 images
[N, 64, 64, C] in [0, 1] -> dict with ``mean``), loaded with `tf.saved_model.load` (no model
class needed), or on precomputed codes. Writes ``metrics.json``, ``matrices.npz``, one CSV per
matrix and the figures into a folder per settings (``<model>/evaluations/<settings>/``,
``<folder of the .npz>/evaluations/<stem>-<settings>/``, or ``--out``) and prints a table.
"""

import dataclasses
import json
import os
import platform
import sys
import time

import numpy as np

import bvae_tf
from bvae_tf import evaluation_figures, saved_model
from bvae_tf.config import EvalSpec, flag_name
from bvae_tf.data import DATASETS, get_dataset
from bvae_tf.encodings import ModelEncodings, model_hash
from bvae_tf.errors import ArgumentParser, UserError, run_cli
from bvae_tf.evaluation_folder import default_out, evaluation_folder
from bvae_tf.files import check_writable_folder, file_sha256
from bvae_tf.layout import ModelFolder
from bvae_tf.metrics import registry, sampling, utils
from bvae_tf.metrics.dci import MODELS as DCI_MODELS
from bvae_tf.progress import Progress, format_seconds

ENCODE_BATCH = 1024  # images per encoder call


def _versions():
    import sklearn

    versions = {
        "bvae_tf": bvae_tf.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
    }
    if "tensorflow" in sys.modules:
        versions["tensorflow"] = sys.modules["tensorflow"].__version__
    return versions


def how_computed(spec):
    """The fields of metrics.json that say how it was computed: two evaluations are comparable
    when these and the metrics agree."""
    return {
        "seed": spec.seed,
        "preset": spec.preset,
        "metric_options": spec.option_values,
        # Only the evaluated metrics' samplers: an evaluation's identity does not change when
        # metrics it does not score (the families' samplers) join the registry.
        "sizes": {k: v for m in _metrics(spec) for k, v in dataclasses.asdict(spec.sizes_of(m.sampler.name)).items()},
        "dataset": spec.dataset,
    }


def code_metrics(defaults=False):
    """The metrics that score one uniform sample of (codes, factors): what `--codes` with factors
    allows; ``defaults``: only those of the default set (what it scores unless --metrics names others)."""
    return [
        name
        for name, metric in registry.METRICS.items()
        if metric.sampler is sampling.CODES and (metric.default or not defaults)
    ]


def build_report(samples, results, score_seconds, spec, dataset):
    """The metrics dict (what `metrics.json` holds) plus ``matrices``: {name: (array, axes)}."""
    uniform = sampling.uniform_codes(samples)
    scores, details, matrices = {}, {}, {}
    for name, result in results.items():
        details[name] = result.scalars()
        scores.update({score.column: details[name][score.field] for score in registry.METRICS[name].scores})
        matrices.update({f"{name}_{k}": v for k, v in result.matrices().items()})
    return {
        "scores": scores,
        "metrics": details,
        "active_latents": int(utils.active_latents(uniform).sum()),
        "num_latents": int(uniform.shape[1]),
        **how_computed(spec),
        "factor_names": list(dataset.factor_names),
        "num_images_drawn": samples.num_drawn,
        "num_images_distinct": samples.num_distinct,
        "time": {
            "encode_s": samples.encode_seconds,
            "score_s": sum(score_seconds.values()),
            "score_per_metric_s": score_seconds,
        },
        "versions": _versions(),
        "matrices": matrices,
    }


def _spec(spec, options):
    """An EvalSpec, given or built from `EvalSpec.create`'s keywords (metrics, preset, seed, sizes, options, dci_model)."""
    if spec is not None and options:
        raise TypeError("pass either spec or its options, not both")
    return spec if spec is not None else EvalSpec.create(**options)


def _metrics(spec):
    return [registry.METRICS[name] for name in spec.metrics]


def dataset_of(spec, dataset=None):
    """The ground truth an evaluation draws from: ``dataset`` (a `bvae_tf.data.GroundTruthData`)
    if given, else ``spec.dataset``'s (files found under the default data root)."""
    if dataset is None:
        return get_dataset(spec.dataset)
    if dataset.name != spec.dataset:
        raise ValueError(f"the dataset given is {dataset.name} but the spec names {spec.dataset}")
    return dataset


def evaluate_representation(represent, spec=None, progress=False, dataset=None, **options):
    """Sample, encode and score a representation; returns the metrics dict (see `build_report`).

    Args:
      represent: image indices (the dataset's order; for a stochastic dataset also the draws'
        keys) -> codes [n, L]; build it with `bvae_tf.metrics.from_images(encode, dataset)`
        (encode: float32 observations [n, 64, 64, C] -> codes), `from_factors(fn, dataset)` or
        `from_grid(codes, dataset)`.
      spec: an `EvalSpec`; or its options as keywords: ``metrics`` (names from
        `bvae_tf.metrics.METRICS`, default all), ``preset`` ("reference" or "fast"), ``sizes`` (a
        dict overriding any of the preset's sizes, e.g. ``num_train``), ``seed`` (same seed, same
        numbers), ``options`` ({metric: {option: value}}, e.g. ``{"dci": {"model": "fast"}}``:
        each metric's own options; ``dci_model`` is short for that one).
      progress: show progress (a `bvae_tf.progress.Progress`, or True for a bar on a terminal
        and plain lines elsewhere, on stderr); default quiet.
      dataset: the `bvae_tf.data.GroundTruthData` named by the spec's ``dataset`` (default: built
        from its name).
    """
    spec = _spec(spec, options)
    dataset = dataset_of(spec, dataset)
    progress = Progress.of(progress)
    start = time.perf_counter()
    metrics = _metrics(spec)
    samples = sampling.sample(represent, metrics, spec.sizes, spec.seed, progress, dataset)
    results, seconds = sampling.score(samples, metrics, spec, progress)
    report = build_report(samples, results, seconds, spec, dataset)
    report["time"]["total_s"] = time.perf_counter() - start
    return report


def evaluate_model(path, spec=None, encode_batch=ENCODE_BATCH, cache=True, progress=False, dataset=None, **options):
    """`evaluate_representation` of a SavedModel's encoder mean; adds ``model`` and ``encodings``
    to the dict.

    ``cache``: keep every code the encoder returns in ``<path>/encodings.npz`` and encode only
    the images not in it (`bvae_tf.encodings`; same numbers either way); False: encode
    everything, read and write nothing. ``encodings`` in the dict says what it did: images
    ``from_cache`` and ``encoded``, the cache's ``status`` before this evaluation (``missing``,
    ``valid``, ``stale`` or ``corrupt``: the last two are rebuilt, never used; ``off``).
    ``progress``: as in `evaluate_representation`.
    """
    spec = _spec(spec, options)
    dataset = dataset_of(spec, dataset)
    progress = Progress.of(progress)
    represent = ModelEncodings(
        saved_model.load(path), batch_size=encode_batch, cache=cache, progress=progress, dataset=dataset
    )
    on = "" if dataset.name == "dsprites_full" else f" on {dataset.name}"
    progress.note(f"evaluating {path}{on}: {', '.join(spec.metrics)}; preset {spec.preset}, seed {spec.seed}")
    report = evaluate_representation(represent, spec, progress, dataset)
    report["model"] = os.path.abspath(path)
    report["encodings"] = dict(represent.stats, batch_size=encode_batch)
    return report


def evaluate_codes(codes, factors=None, spec=None, progress=False, dataset=None, **options):
    """Score precomputed codes: either codes for every image of the dataset in its order (for
    dSprites 737,280; every metric), or ``codes`` with their ``factors`` [N, F] (the metrics of one uniform sample: MIG,
    modularity, DCI, SAP; a seeded split takes num_train + num_test points, or two thirds / one
    third when N is smaller). ``spec``/``options`` as in `evaluate_representation`; without
    ``metrics``, codes with factors get every metric they can. ``progress`` as in
    `evaluate_representation`. No cache: the codes are given."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.floating) or not np.isfinite(codes).all():
        raise UserError(f"codes must be a finite float array [N, L], got {codes.dtype} {codes.shape}")
    if codes.shape[1] == 0:
        raise UserError(f"codes have no latent dimension (shape {codes.shape}): pass codes [N, L] with L >= 1")
    if factors is None:
        spec = _spec(spec, options)
        dataset = dataset_of(spec, dataset)
        if len(codes) != dataset.num_images or dataset.stochastic:
            raise UserError(
                f"codes without factors must cover the whole grid: [{dataset.num_images}, L] in {dataset.name}'s "
                f"order (of a deterministic dataset), got {codes.shape}; or also pass factors [N, {dataset.num_factors}]"
            )
        return evaluate_representation(sampling.from_grid(codes, dataset), spec, progress, dataset)
    scorable = code_metrics()
    if spec is None and options.get("metrics") is None:
        options["metrics"] = code_metrics(defaults=True)
    spec = _spec(spec, options)
    dataset = dataset_of(spec, dataset)
    factors = np.asarray(factors)
    names, sizes = dataset.factor_names, np.array(dataset.factors_num_values)
    if factors.shape != (len(codes), len(names)) or not np.issubdtype(factors.dtype, np.integer):
        raise UserError(
            f"factors must be integer class indices [{len(codes)}, {len(names)}] "
            f"({', '.join(names)}), got {factors.dtype} {factors.shape}"
        )
    bad = [k for k in range(len(names)) if factors[:, k].min() < 0 or factors[:, k].max() >= sizes[k]]
    if bad:
        k = bad[0]
        raise UserError(f"factors out of range: {names[k]} must be in [0, {sizes[k] - 1}] ({dataset.name})")
    needs_grid = [m for m in spec.metrics if m not in scorable]
    if needs_grid:
        raise UserError(
            f"{', '.join(needs_grid)} need codes for the whole factor grid ([{dataset.num_images}, L], "
            f"no factors); with codes + factors choose from {','.join(scorable)}"
        )
    start, sizes = time.perf_counter(), spec.sizes_of(sampling.CODES.name)
    order = np.random.default_rng(spec.seed).permutation(len(codes))
    if len(codes) >= sizes.num_train + sizes.num_test:
        train, test = order[: sizes.num_train], order[sizes.num_train : sizes.num_train + sizes.num_test]
    else:
        train, test = order[len(codes) // 3 :], order[: len(codes) // 3]
    if len(test) < 2:
        raise UserError(f"need at least 6 points to score codes with factors, got {len(codes)}")
    codes = codes.astype(np.float64)
    samples = sampling.Samples(
        {"train": factors[train], "test": factors[test]},
        {"train": codes[train], "test": codes[test]},
        {},
        sampling.CODES.uniform,
        len(codes),
        len(codes),
        0.0,
    )
    results, seconds = sampling.score(samples, _metrics(spec), spec, progress)
    split = dataclasses.replace(sizes, num_train=len(train), num_test=len(test))
    spec = dataclasses.replace(spec, sizes={**spec.sizes, sampling.CODES.name: split})
    report = build_report(samples, results, seconds, spec, dataset)
    report["time"]["total_s"] = time.perf_counter() - start
    return report


def identity(spec, source=None, with_sizes=True):
    """What must agree for an evaluation to replace another in one folder: the metrics, how they
    were computed, and the input (``source``: the model's or the codes file's digest)."""
    found = {"metrics": sorted(spec.metrics), **how_computed(spec), "source": source}
    if not with_sizes:  # codes with factors set their own split sizes
        del found["sizes"]
    return found


def model_source(path):
    """An evaluation's input when it scores a SavedModel: the digest of its weights."""
    return {"model_sha256": model_hash(path)}


def codes_source(path):
    return {"codes_sha256": file_sha256(path)}


def evaluation_files(report, model=None, dataset=None):
    """(metrics.json's dict, {file name: write(path)}): ``matrices.npz``, one
    ``<metric>_<matrix>.csv`` per matrix, ``matrices.png`` and, for a SavedModel folder
    ``model``, ``traversal.png``."""
    import pandas as pd

    report = dict(report)
    matrices = report.pop("matrices")
    factor_names = report["factor_names"]
    labels = {"latent": [f"z{i}" for i in range(report["num_latents"])], "factor": list(factor_names)}

    def dump_npz(path):
        with open(path, "wb") as f:  # a file object, so savez keeps the name given
            np.savez(f, **{k: v for k, (v, _) in matrices.items()})

    def dump_csv(name, array, axes):
        rows = labels[axes[0]][: array.shape[0]]
        if array.ndim == 1:
            frame = pd.DataFrame({name: array}, index=rows)
        else:
            frame = pd.DataFrame(array, index=rows, columns=labels[axes[1]][: array.shape[1]])
        return lambda path: frame.to_csv(path)

    files = {"matrices.npz": dump_npz}
    files.update({f"{name}.csv": dump_csv(name, array, axes) for name, (array, axes) in matrices.items()})
    arrays = {name: array for name, (array, _) in matrices.items()}
    title = f"{os.path.basename(str(model or report.get('codes', 'codes')).rstrip(os.sep))}: {report['preset']}, seed {report['seed']}"
    figure = evaluation_figures.matrices_figure(arrays, factor_names, title)
    if figure is not None:
        files["matrices.png"] = evaluation_figures.png_writer(figure)
    if model is not None:
        saved = saved_model.load(model)
        if saved.decoder() is not None:  # a model exported elsewhere may only encode
            files["traversal.png"] = _traversal_writer(
                saved, model, arrays, title, dataset or get_dataset(report["dataset"])
            )
    return report, files


def _traversal_writer(saved, model, matrices, title, dataset):
    """traversal.png of a SavedModel (rows by the KL in its model card, when it has one)."""
    card = read_card(model)
    kl = np.asarray(card.get("kl_per_latent") or [], np.float64) if card else np.zeros(0)
    image = sampling.example_observations(dataset, 1)[0]
    if kl.size == 0 or not np.isfinite(kl).all():
        kl = np.zeros(saved.encoder(image.shape[-1])(image[None]).shape[1])
    figure = evaluation_figures.traversal_figure(
        saved,
        image,
        kl,
        dataset.factor_names,
        f"{title}: latent traversal, rows by KL",
        matrices.get("mig_normalized_mutual_info"),
    )
    return evaluation_figures.png_writer(figure)


def read_card(model):
    """The SavedModel's model_card.json, or None (a model exported elsewhere has none)."""
    try:
        with open(ModelFolder(model).card) as f:
            card = json.load(f)
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None


def write_report(report, out_dir, spec, source=None, overwrite=False, model=None, with_sizes=True, dataset=None):
    """Write an evaluation into ``out_dir`` as one unit (`bvae_tf.evaluation_folder`): locked,
    checked against what the folder holds, nothing of the user's removed. ``model``: the
    SavedModel folder scored (for its traversal figure); ``with_sizes``: False for codes with
    factors (their split sets the sizes)."""
    with evaluation_folder(out_dir, identity(spec, source, with_sizes), overwrite) as write:
        write(*evaluation_files(report, model, dataset))


def _options_text(report):
    """ ", mig.num_bins=20, dci.model=reference": the options the metrics were scored with."""
    options = report.get("metric_options", {})
    return "".join(f", {m}.{k}={v}" for m, values in options.items() for k, v in values.items())


def format_table(report, spec=None):
    """A readable table of the scores (with each score's range, direction and what a perfect and
    a random code score), then what was not scored and why, sizes and timings."""
    points = registry.reference_points() if report.get("dataset", "dsprites_full") == "dsprites_full" else {}
    perfect, random = points.get("perfect", {}), points.get("random", {})
    scores = {score.column: score for metric in registry.METRICS.values() for score in metric.scores}
    not_run = [name for name, value in report["scores"].items() if value != value]  # NaN: e.g. a size not asked for
    width = max([28, *(len(name) + 2 for name in report["scores"] if name not in not_run)])
    lines = [f"{'metric':<{width}}{'value':>9}  {'range':<9}{'perfect':>8}{'random':>8}"]
    for name, value in report["scores"].items():
        if name in not_run:
            continue
        score = scores.get(name)
        span = f"[{score.low:g}, {'∞' if score.high is None else f'{score.high:g}'}]" if score else ""
        arrow = ("↑" if score.higher_is_better else "↓") if score else ""
        reference = "".join(f"{p[name]:>8.3f}" if name in p else f"{'':>8}" for p in (perfect, random))
        lines.append(f"{name:<{width}}{value:>9.4f}  {arrow}{span:<8}{reference}")
    if not_run:
        lines.append(f"not run ({len(not_run)} columns, NaN in metrics.json): {', '.join(not_run)}")
    lines.append(
        "↑: higher is better. perfect: the factors as codes; random: noise (dsprites_full, tools/reference_points.py)."
    )
    skipped = [m for m in registry.default_metrics() if m not in report["metrics"]]
    if skipped and "codes" in report and spec is not None and set(spec.metrics) == set(code_metrics(defaults=True)):
        lines.append(
            f"not scored: {', '.join(skipped)}: they need codes for the whole factor grid "
            f"(one code per image of {report['dataset']}, in its order); codes with factors allow "
            f"{', '.join(code_metrics())}"
        )
    t = report["time"]
    encodings = report.get("encodings")
    if encodings and encodings.get("cache"):
        images = (
            f"{report['num_images_distinct']} images ({report['num_images_drawn']} drawn): "
            f"{encodings['encoded']} encoded, {encodings['from_cache']} from the cache"
        )
    else:
        images = f"{report['num_images_distinct']} images encoded ({report['num_images_drawn']} drawn)"
    lines += [
        f"{'active latents':<{width}}{report['active_latents']:>6} / {report['num_latents']}",
        f"preset {report['preset']}, seed {report['seed']}{_options_text(report)}, "
        f"{images}; encode {t['encode_s']:.1f} s, score {t['score_s']:.1f} s",
    ]
    if report.get("diverged"):
        lines.append("WARNING: this model's training stopped on NaN: these are not a trained model's scores")
    return "\n".join(lines)


def _npz_arrays(path):
    if not os.path.isfile(path):
        raise UserError(f"--codes {path}: no such file; pass an .npz holding `codes` (and `factors`)")
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as error:
        raise UserError(f"--codes {path}: not a readable .npz file ({type(error).__name__})") from None
    if "codes" not in arrays:
        raise UserError(
            f"--codes {path}: no `codes` array (found: {', '.join(arrays) or 'none'}); "
            "save codes [N, L] (and factors [N, 5]) with np.savez"
        )
    return arrays["codes"], arrays.get("factors")


def add_metric_option_arguments(parser):
    """--metric-option METRIC.OPTION=VALUE (each metric's own options) and its DCI shortcut."""
    options = [
        f"{name}.{field}"
        for name, options in EvalSpec().options.items()
        if options
        for field in dataclasses.asdict(options)
    ]
    parser.add_argument(
        "--metric-option",
        action="append",
        default=[],
        metavar="METRIC.OPTION=VALUE",
        help=f"one metric's option, e.g. dci.model=fast (repeatable; options: {', '.join(options)})",
    )
    parser.add_argument(
        "--dci-model",
        choices=sorted(DCI_MODELS),
        help="short for --metric-option dci.model=...: reference = sklearn GradientBoostingClassifier defaults "
        "(the spec's); fast = 20 stages, about 5x faster but approximate (default reference)",
    )


def parse_metric_options(items):
    """{"metric.option": "value"} of --metric-option items; UserError on a malformed one."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or "." not in key or not value:
            raise UserError(f"--metric-option takes METRIC.OPTION=VALUE (e.g. dci.model=fast), got {item!r}")
        options[key] = value
    return options


def main(argv=None):
    parser = ArgumentParser(prog="python -m bvae_tf.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", help="SavedModel folder, e.g. saved_models/<run>")
    parser.add_argument("--codes", help=".npz with `codes` [N, L] + `factors` [N, 5], or `codes` for the whole grid")
    parser.add_argument(
        "--out",
        help="output folder (default: <model>/evaluations/<settings>/, or <the .npz's folder>/evaluations/<stem>-<settings>/)",
    )
    parser.add_argument(
        "--metrics", default=None, help=f"comma-separated, from {','.join(registry.METRICS)} (default: all)"
    )
    parser.add_argument(
        "--preset",
        default="reference",
        choices=sorted(registry.PRESETS),
        help="sample sizes: reference = the spec's, fast = a quick look",
    )
    parser.add_argument("--seed", type=int, default=0, help="same seed, same numbers")
    reference = EvalSpec().flat_sizes
    for name in registry.size_fields():
        parser.add_argument(
            flag_name(name), type=int, dest=name, help=f"override the preset (reference: {reference[name]})"
        )
    add_metric_option_arguments(parser)
    parser.add_argument("--encode-batch", type=int, default=ENCODE_BATCH, help="images per encoder call")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="encode every image; neither read nor extend the model's encodings.npz cache",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr (only the table)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an evaluation with other settings in the output folder"
    )
    parser.add_argument(
        "--dataset",
        choices=list(DATASETS),
        help="the ground truth to score on (default: the one the model was trained on, from its model card; "
        "dsprites_full for --codes)",
    )
    parser.add_argument("--data-root", help="folder of the dataset's files (default $BVAE_TF_DATA or data/)")
    parser.add_argument(
        "--allow-other-dataset",
        action="store_true",
        help="score a model on another dataset than it was trained on (refused by default)",
    )
    parser.add_argument(
        "--allow-diverged",
        action="store_true",
        help="score a model whose training stopped on NaN (flagged in metrics.json); refused by default",
    )
    args = parser.parse_args(argv)
    if (args.model is None) == (args.codes is None):
        raise UserError("pass either a SavedModel folder or --codes FILE.npz (exactly one)")
    if args.encode_batch < 1:
        raise UserError(f"--encode-batch must be >= 1, got {args.encode_batch}")
    options = dict(
        metrics=args.metrics.split(",") if args.metrics else None,
        preset=args.preset,
        seed=args.seed,
        sizes={name: getattr(args, name) for name in registry.size_fields()},
        options=parse_metric_options(args.metric_option),
        dci_model=args.dci_model,
        dataset=args.dataset if args.codes else check_dataset(args.model, args.dataset, args.allow_other_dataset),
    )
    if args.codes:
        codes, factors = _npz_arrays(args.codes)
        default_metrics = None if factors is None else code_metrics(defaults=True)
        spec = EvalSpec.create(**{**options, "metrics": options["metrics"] or default_metrics})
        source, with_sizes = codes_source(args.codes), factors is None
    else:
        spec = EvalSpec.create(**options)
        saved_model.SavedModel.check(args.model)
        check_model(args.model, args.allow_diverged)
        source, with_sizes = model_source(args.model), True
    dataset = get_dataset(spec.dataset, data_root=args.data_root)  # a missing file: one line, before any work
    check_memory(spec, args.encode_batch)
    out = args.out or default_out(spec, model=args.model, codes=args.codes)
    check_writable_folder(out, "--out" if args.out else f"--out (default {out})")
    with evaluation_folder(out, identity(spec, source, with_sizes), args.overwrite) as write:
        if args.codes:
            report = evaluate_codes(codes, factors, spec, progress=not args.quiet, dataset=dataset)
            report["codes"] = os.path.abspath(args.codes)
        else:
            report = evaluate_model(
                args.model, spec, args.encode_batch, cache=not args.no_cache, progress=not args.quiet, dataset=dataset
            )
        report["source"] = source
        if args.allow_diverged and diverged(args.model):
            report["diverged"] = True
        write(*evaluation_files(report, args.model, dataset))
    if not args.quiet:
        print(f"evaluated in {format_seconds(report['time']['total_s'])}", file=sys.stderr, flush=True)
    print(format_table(report, spec))
    print(f"wrote {out}/ (metrics.json, matrices.npz, figures)")
    return report


def trained_on(model):
    """The dataset a SavedModel was trained on, from its model card (dsprites_full without one)."""
    card = read_card(model) or {}
    return card.get("dataset") or "dsprites_full"


def check_dataset(model, asked, allow_other):
    """The dataset to score ``model`` on: the one it was trained on unless ``asked`` names another,
    which is refused unless ``allow_other`` (its codes would be of images it never saw)."""
    trained = trained_on(model)
    if asked is None or asked == trained:
        return trained
    if not allow_other:
        raise UserError(
            f"--dataset {asked}: {model} was trained on {trained} (model_card.json); "
            "pass --allow-other-dataset to score it on another dataset anyway"
        )
    return asked


def diverged(model):
    """The epoch in which the model's training stopped on NaN, from its model card (None if it did not)."""
    card = read_card(model) or {}
    return card.get("stopped_on_nan_in_epoch")


def check_model(model, allow_diverged):
    """A diverged model's weights are not a trained model's: refuse to score them unless asked."""
    epoch = diverged(model)
    if epoch is not None and not allow_diverged:
        raise UserError(
            f"{model}: its training stopped on NaN in epoch {epoch} (model_card.json), so these weights are not a "
            "trained model's; retrain it, or pass --allow-diverged to score it anyway (flagged in metrics.json)"
        )


def check_memory(spec, encode_batch):
    """UserError before any work when the sizes cannot fit in this machine's memory: the drawn
    factor classes and their float64 codes, and one chunk of rendered images per encoder call."""
    points = sum(
        sampler_points(spec.sizes_of(s.name))
        for s in registry.samplers()
        if any(registry.METRICS[m].sampler is s for m in spec.metrics)
    )
    needed = points * (5 * 8 + 64 * 8) + 2 * 8 * encode_batch * 64 * 64 * 4
    available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if needed > available:
        raise UserError(
            f"these sizes need about {needed / 2**30:,.0f} GiB of memory ({points:,} sampled images, "
            f"--encode-batch {encode_batch}); this machine has {available / 2**30:,.0f} GiB: lower the sizes"
        )


def sampler_points(sizes):
    """How many images a sampler with these sizes draws (its sizes multiplied where they nest)."""
    values = dataclasses.asdict(sizes)
    batch = values.pop("batch_size", 1)
    variance = values.pop("num_variance", 0)
    return sum(values.values()) * batch * 2 + variance


if __name__ == "__main__":
    run_cli(main)
