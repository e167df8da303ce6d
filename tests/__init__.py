"""The tests. A green run prints the runner's own lines and little else: warnings a test expects are
asserted there (assertWarns / assertLogs), and the known third-party log lines below, which say
nothing about bvae_tf, are dropped here by their exact message. (Python warnings cannot be
filtered here: unittest's runner puts its own "default" filter in front when the tests start.)"""

import logging
import re


class _DropMessage(logging.Filter):
    """Drop a logger's records whose message matches ``pattern``; keep every other."""

    def __init__(self, pattern):
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record):
        return not self.pattern.search(record.getMessage())


# tensorflow_datasets warns, once per builder, that a dataset folder the tests build (no
# dataset_info.json: they hold only the files we read) is not a full TFDS download.
logging.getLogger("absl").addFilter(_DropMessage(r"^Variant folder .* has no dataset_info\.json$"))
# TensorFlow warns when a test builds and fits many small models in one process (each its own
# traced step): expected here, and no sign of a problem in bvae_tf.
logging.getLogger("tensorflow").addFilter(_DropMessage(r"triggered tf\.function retracing"))
