"""Where an evaluation's files go, and how they are written so that nothing is lost or mixed.

A SavedModel's evaluations live in ``<model>/evaluations/<settings>/``, one folder per settings
(`settings_name`), so two settings never collide and the SavedModel folder stays what
``tf.saved_model.load`` reads. Codes given as a file are scored into
``<folder of the file>/evaluations/<file stem>-<settings>/``, keyed to their input.

An evaluation is written as one unit (`EvaluationWriter`): the output folder is locked for the
whole evaluation (a second one into it is refused), its settings are checked before the work
and again before writing; every file is first written into a temporary folder inside it (a full
disk fails there, with nothing of the previous evaluation touched), then renamed into place,
``metrics.json`` last. ``metrics.json`` lists the files the evaluation wrote; only files listed
by the evaluation being replaced are ever removed, never a user's file that shares the folder.
"""

import contextlib
import hashlib
import json
import os
import shutil

import numpy as np

from bvae_tf.errors import UserError
from bvae_tf.files import make_temp_dir, write_json
from bvae_tf.layout import ModelFolder, ScoresFolder
from bvae_tf.locks import folder_lock
from bvae_tf.metrics import registry


def settings_name(spec):
    """``fast-seed0`` for every default metric at a preset's sizes and the reference options on
    dSprites; ``color_dsprites-fast-seed0`` on another dataset; ``fast-seed0-mig+sap`` for some
    metrics; ``-<8 hex>`` added when sizes or options differ."""
    name = f"{spec.preset}-seed{spec.seed}"
    if spec.dataset != "dsprites_full":
        name = f"{spec.dataset}-{name}"
    if set(spec.metrics) != set(registry.default_metrics()):
        name += "-" + "+".join(spec.metrics)
    changed = {"sizes": spec.size_overrides, "options": spec.changed_options}
    if any(changed.values()):
        name += "-" + hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:8]
    return name


def default_out(spec, model=None, codes=None):
    """The evaluation folder of a SavedModel or of a codes file, for ``spec``'s settings."""
    if model is not None:
        return ModelFolder(model).evaluation(settings_name(spec)).path
    stem = os.path.splitext(os.path.basename(codes))[0]
    return os.path.join(os.path.dirname(os.path.abspath(codes)), "evaluations", f"{stem}-{settings_name(spec)}")


def read_previous(out_dir):
    """The ``metrics.json`` of the evaluation in ``out_dir``, or None if there is none. A file of
    that name that is not an evaluation's (empty, not JSON, not an object) is a UserError: it
    may be the user's, and is neither read as ours nor replaced."""
    path = ScoresFolder(out_dir).metrics
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            previous = json.load(f)
    except (OSError, ValueError):
        previous = None
    if not isinstance(previous, dict) or not isinstance(previous.get("metrics"), dict):
        raise UserError(
            f"--out: {path} is not an evaluation's metrics.json (empty, unreadable or another format); "
            "move it away or choose another --out"
        )
    return previous


def previous_files(previous, out_dir):
    """The files an earlier evaluation in ``out_dir`` wrote: listed in its metrics.json, or (written
    before the list existed) metrics.json, matrices.npz and one CSV per matrix its matrices.npz holds."""
    if previous is None:
        return set()
    if isinstance(previous.get("files"), list):
        return {name for name in previous["files"] if isinstance(name, str) and os.sep not in name}
    try:
        with np.load(ScoresFolder(out_dir).matrices) as data:
            matrices = list(data.files)
    except (OSError, ValueError):
        matrices = []
    return {"metrics.json", "matrices.npz"} | {f"{name}.csv" for name in matrices}


def check_replaceable(out_dir, identity, overwrite):
    """UserError if ``out_dir`` holds an evaluation with other settings or another input than
    ``identity`` (unless ``overwrite``); returns the previous metrics.json (or None)."""
    previous = read_previous(out_dir)
    if previous is None or overwrite:
        return previous
    found = {key: sorted(previous["metrics"]) if key == "metrics" else previous.get(key) for key in identity}
    differs = [key for key in identity if found[key] != identity[key]]
    if differs:
        raise UserError(
            f"--out: {out_dir} holds an evaluation with other settings or input ({', '.join(differs)} differ); "
            "pass another --out to keep both, or --overwrite to replace it"
        )
    return previous


@contextlib.contextmanager
def evaluation_folder(out_dir, identity, overwrite):
    """Lock ``out_dir`` for an evaluation and check it may be written (before the work); yields a
    function ``write(report, files)`` that checks again and writes the evaluation as one unit:
    ``report`` (metrics.json's dict) and ``files`` {name: write(temp_path)}."""
    with folder_lock(out_dir, "evaluation folder"):
        check_replaceable(out_dir, identity, overwrite)

        def write(report, files):
            # Read before anything is replaced (an older evaluation's list comes from its matrices.npz).
            stale = previous_files(check_replaceable(out_dir, identity, overwrite), out_dir)
            names = sorted({*files, "metrics.json"})
            temp = make_temp_dir(os.path.join(out_dir, "evaluation"))
            try:
                for name, dump in files.items():
                    try:
                        dump(os.path.join(temp, name))
                    except OSError as error:  # a full disk's error names no file: name the one asked for
                        if error.filename is None or str(error.filename).startswith(temp):
                            error.filename = os.path.join(out_dir, name)
                        raise
                write_json(os.path.join(temp, "metrics.json"), {**report, "files": names})
                for name in [*files, "metrics.json"]:  # metrics.json last: it says the rest is there
                    os.replace(os.path.join(temp, name), os.path.join(out_dir, name))
            finally:
                shutil.rmtree(temp, ignore_errors=True)
            for name in stale - set(names):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(out_dir, name))

        yield write
