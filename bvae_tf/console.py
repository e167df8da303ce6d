"""Keep TensorFlow's start-up notes off a CPU user's console; real warnings still show.

Importing TensorFlow 2.21 and its first device probe print, from C++, before TensorFlow's logging
is set up, lines that ``TF_CPP_MIN_LOG_LEVEL`` cannot silence: absl's "All log messages before
absl::InitializeLog()...", the oneDNN and CPU-instruction notes, and on a machine without a CUDA
driver "Could not find cuda drivers" and "failed call to cuInit". Python's ``warnings`` filters do
not see them either: they go straight to file descriptor 2. So the first ``import tensorflow`` of a
process (whoever triggers it) runs with descriptor 2 sent to a temporary file; afterwards every
captured line that is not one of those notes is written back. A broken CUDA driver's cuInit error
still shows on a machine that has a driver. Later C++ INFO lines are hidden with
``TF_CPP_MIN_LOG_LEVEL=1`` (a user's own setting wins). ``BVAE_TF_TENSORFLOW_LOGS=1`` shows everything.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

SHOW_ALL = "BVAE_TF_TENSORFLOW_LOGS"
_NOTES = [
    re.compile(pattern)
    for pattern in (
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
        r"^I\d{4} [\d:.]+ +\d+ port\.cc:\d+\] oneDNN custom operations are on\.",
        r"^I\d{4} [\d:.]+ +\d+ cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized",
        r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$",
    )
]
_NO_DRIVER = re.compile(r"^I\d{4} [\d:.]+ +\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine")
_CUINIT = re.compile(r"^E\d{4} [\d:.]+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit")


def kept_lines(lines):
    """The captured lines a user should see: all but TensorFlow's start-up notes, and the CUDA
    probe's failure only where a CUDA driver exists (then it is a real problem)."""
    no_driver = any(_NO_DRIVER.match(line) for line in lines)
    return [
        line
        for line in lines
        if not any(note.match(line) for note in _NOTES)
        and not (no_driver and (_NO_DRIVER.match(line) or _CUINIT.match(line)))
    ]


@contextlib.contextmanager
def filtered_stderr():
    """Send file descriptor 2 to a temporary file for the block, then write back `kept_lines`
    (also when the block raises). Python's ``sys.stderr`` is flushed into it first and last."""
    try:
        captured = tempfile.TemporaryFile(mode="w+b")
    except OSError:  # no writable temporary folder: show everything rather than fail
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines()
            kept = kept_lines(lines)
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """A finder that only wraps the loading of ``tensorflow`` (found by the usual finders) in
    `filtered_stderr`, together with the first device probe; then it removes itself.

    An import hook rather than a wrapper function, so that every module may keep a plain
    ``import tensorflow as tf`` and the notes are gone whichever module imports it first.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            with filtered_stderr():
                load(module)
                module.config.list_physical_devices()  # the CUDA probe prints here

        spec.loader.exec_module = exec_module
        return spec


def quiet_tensorflow_import():
    """Install the hook and hide TensorFlow's C++ INFO lines for the rest of the run (e.g. a
    TFRecord reader's "buffer size" note for every shard; warnings and errors stay), unless
    TensorFlow is imported already, ``BVAE_TF_TENSORFLOW_LOGS=1``, or ``TF_CPP_MIN_LOG_LEVEL``
    is set."""
    if "tensorflow" in sys.modules or os.environ.get(SHOW_ALL) == "1":
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
