"""Where every artefact of a run, a SavedModel (with its scores) and a sweep lives.

The one owner of file and folder names: every command reads and writes through these classes,
so a name changes here or nowhere. Folders are plain paths; nothing is created here.

    runs/<run>/            config.json, history.csv, logs/{train,validation}, checkpoints/, backup/,
                           result.json (a sweep trial's row)
    saved_models/<run>/    the SavedModel (what tf.saved_model.load reads), model_card.json,
                           evaluations/: encodings.npz (cached encoder means) and one folder per
                           evaluation settings, e.g. evaluations/fast-seed0/: metrics.json,
                           matrices.npz, <metric>_<matrix>.csv, matrices.png, traversal.png
    sweeps/<sweep>/        sweep.json, results.csv, runs/<trial>/, saved_models/<trial>/, hparams/<trial>/, tuner/,
                           report/ (figures, summary.csv, summary.md, report.html)
"""

import dataclasses
import os


def trial_name(model, hyperparameter, value, seed):
    """The default name of a run, and the name of a sweep's trial, e.g. ``beta_vae_beta5_seed0``."""
    return f"{model}_{hyperparameter}{value:g}_seed{seed}"


def run_name(beta, seed):
    """The name of a β-VAE run from before the model zoo (``beta5_seed0``): older sweeps use it."""
    return f"beta{beta:g}_seed{seed}"


@dataclasses.dataclass(frozen=True)
class RunFolder:
    """A training run: settings, per-epoch history, TensorBoard logs, checkpoints."""

    path: str

    @property
    def config(self):
        return os.path.join(self.path, "config.json")

    @property
    def history(self):
        return os.path.join(self.path, "history.csv")

    @property
    def logs(self):
        return os.path.join(self.path, "logs")

    @property
    def checkpoints(self):
        return os.path.join(self.path, "checkpoints")

    @property
    def checkpoint(self):
        return os.path.join(self.checkpoints, "latest.weights.h5")

    @property
    def backup(self):
        """Keras BackupAndRestore's state, for --resume."""
        return os.path.join(self.path, "backup")

    @property
    def result(self):
        """A finished sweep trial's row of results.csv."""
        return os.path.join(self.path, "result.json")


@dataclasses.dataclass(frozen=True)
class ScoresFolder:
    """An evaluation's outputs: the scores, the factor x latent matrices and their figures."""

    path: str

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def metrics(self):
        return os.path.join(self.path, "metrics.json")

    @property
    def matrices(self):
        return os.path.join(self.path, "matrices.npz")

    def matrix_csv(self, name):
        return os.path.join(self.path, f"{name}.csv")


@dataclasses.dataclass(frozen=True)
class ModelFolder:
    """An exported SavedModel, its model card, and its evaluations (a folder per settings)."""

    path: str

    @property
    def card(self):
        return os.path.join(self.path, "model_card.json")

    @property
    def evaluations(self):
        return os.path.join(self.path, "evaluations")

    def evaluation(self, name):
        """The evaluation folder of one settings name (`bvae_tf.evaluation_folder.settings_name`)."""
        return ScoresFolder(os.path.join(self.evaluations, name))

    @property
    def encodings(self):
        """The encoder means of the dSprites images encoded so far (`bvae_tf.encodings`)."""
        return os.path.join(self.evaluations, "encodings.npz")


@dataclasses.dataclass(frozen=True)
class SweepFolder:
    """A sweep: its settings, the results table, one run and one SavedModel per trial, the report."""

    path: str

    @property
    def config(self):
        return os.path.join(self.path, "sweep.json")

    @property
    def results(self):
        return os.path.join(self.path, "results.csv")

    @property
    def runs(self):
        return os.path.join(self.path, "runs")

    @property
    def saved_models(self):
        return os.path.join(self.path, "saved_models")

    tuner_project = "tuner"  # keras-tuner's state: <sweep>/tuner/

    @property
    def report(self):
        return os.path.join(self.path, "report")

    def run(self, trial):
        return RunFolder(os.path.join(self.runs, trial))

    def model(self, trial):
        return ModelFolder(os.path.join(self.saved_models, trial))

    def hparams(self, trial):
        """The trial's session of TensorBoard's HParams dashboard (its settings and final numbers)."""
        return os.path.join(self.path, "hparams", trial)


@dataclasses.dataclass(frozen=True)
class ReportFolder:
    """A sweep's report: PNG figures, Table 1 (CSV and Markdown) and one HTML page."""

    path: str

    def figure(self, name):
        return os.path.join(self.path, name)

    @property
    def summary_csv(self):
        return os.path.join(self.path, "summary.csv")

    @property
    def summary_md(self):
        return os.path.join(self.path, "summary.md")

    @property
    def html(self):
        return os.path.join(self.path, "report.html")
