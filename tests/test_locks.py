"""bvae_tf.locks: one process per run or sweep folder; a killed holder never blocks."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from bvae_tf.errors import UserError
from bvae_tf.locks import folder_lock

HOLD = (
    "import sys, time; from bvae_tf.locks import folder_lock\nwith folder_lock(sys.argv[1], 'run'):\n"
    "    print('held', flush=True); time.sleep(60)"
)


def hold_in_child(folder):
    child = subprocess.Popen([sys.executable, "-c", HOLD, folder], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    child.stdout.close()  # it prints nothing more
    return child


class FolderLockTest(unittest.TestCase):
    def test_second_process_is_refused_and_a_killed_holder_releases(self):
        folder = os.path.join(tempfile.mkdtemp(), "runs", "r")
        child = hold_in_child(folder)
        try:
            with self.assertRaisesRegex(UserError, rf"{folder}: this run is in use by process {child.pid}"):
                with folder_lock(folder, "run"):
                    pass
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        started = time.perf_counter()
        with folder_lock(folder, "run"):  # the stale lock file does not block
            with open(os.path.join(folder, ".lock")) as f:
                self.assertEqual(f.read(), f"process {os.getpid()}")
        self.assertLess(time.perf_counter() - started, 1.0)

    def test_released_after_the_block_even_on_error(self):
        folder = tempfile.mkdtemp()
        with self.assertRaises(ValueError):
            with folder_lock(folder, "sweep"):
                raise ValueError("inside")
        with folder_lock(folder, "sweep"):
            pass


if __name__ == "__main__":
    unittest.main()
