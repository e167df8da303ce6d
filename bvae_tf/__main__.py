"""``python -m bvae_tf``: the stages, one line each; ``python -m bvae_tf <stage> ...`` runs one.

Each stage is also ``python -m bvae_tf.<stage>`` and a command (``bvae-<stage>``, from setup.cfg's
console scripts, which point at the functions below). The list is written here rather than read
from each module's docstring, so printing it does not import TensorFlow.
"""

import importlib
import sys

from bvae_tf.errors import EXIT_USER_ERROR, run_cli

# stage: what it does, in one line
STAGES = {
    "data": "prepare (or check) a dataset's folder: sharded TFRecords of a seeded subset (--dataset)",
    "train": "train one model (β-VAE or another of the zoo): a run folder and a SavedModel",
    "evaluate": "score a SavedModel (or codes) with the disentanglement metrics",
    "sweep": "train and score a grid of models x seeds with keras-tuner: results.csv",
    "udr": "UDR of a sweep's trials against the other trials of their model: udr.csv, udr.png",
    "report": "figures, Table 1 and report.html of a sweep folder",
    "runs": "list the trained runs and SavedModels in a folder, with their final losses",
}
MODULES = {"data": "bvae_tf.data.__main__"}  # the others: bvae_tf.<stage>


def usage():
    width = max(map(len, STAGES))
    lines = [f"  {stage:<{width}}  {text}" for stage, text in STAGES.items()]
    return "\n".join(
        [
            "usage: python -m bvae_tf <stage> [options]   (or: bvae-<stage>, python -m bvae_tf.<stage>)",
            "",
            "stages, in the order a study runs them:",
            *lines,
            "",
            "Each stage's options: python -m bvae_tf.<stage> --help. The README has a worked example.",
        ]
    )


def run_stage(stage, argv=None):
    """Run ``stage``'s command as its own ``python -m bvae_tf.<stage>`` would; returns its exit code."""
    module = importlib.import_module(MODULES.get(stage, f"bvae_tf.{stage}"))
    interrupted = None
    if hasattr(module, "resume_hint"):  # train, sweep: Ctrl-C says how to continue
        arguments = sys.argv[1:] if argv is None else argv
        interrupted = lambda: module.resume_hint(arguments)  # noqa: E731
    result = run_cli(module.main, argv, interrupted=interrupted)
    # A main returns its exit code, or (evaluate, report) its result for Python callers: success.
    return result if isinstance(result, int) else 0


# The console scripts of setup.cfg: bvae-<stage> = bvae_tf.__main__:<stage>.
def data():
    return run_stage("data")


def train():
    return run_stage("train")


def evaluate():
    return run_stage("evaluate")


def sweep():
    return run_stage("sweep")


def udr():
    return run_stage("udr")


def report():
    return run_stage("report")


def runs():
    return run_stage("runs")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if argv[0] not in STAGES:
        print(f"error: no stage {argv[0]!r}; the stages are {', '.join(STAGES)}", file=sys.stderr)
        return EXIT_USER_ERROR
    return run_stage(argv[0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
