"""Temporary files and folders (`bvae_tf.files`): the umask's mode, and stale ones of dead processes removed."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from bvae_tf import files


def dead_pid():
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temp_name(final, pid, folder=True):
    """The name ``files`` gives a temporary of ``final`` made by process ``pid``."""
    with mock.patch.object(files.os, "getpid", return_value=pid):
        suffix = files._temp_suffix()
    return f".{final}{suffix}-0123abcd" if folder else f"{final}{suffix}"


class UmaskTest(unittest.TestCase):
    def test_temp_dir_gets_the_umasks_mode_not_0700(self):
        with tempfile.TemporaryDirectory() as tmp:
            for umask, mode in ((0o022, 0o755), (0o027, 0o750), (0o077, 0o700)):
                previous = os.umask(umask)
                try:
                    path = files.make_temp_dir(os.path.join(tmp, f"d{umask:o}"))
                finally:
                    os.umask(previous)
                self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), mode)
                self.assertTrue(os.path.basename(path).startswith(f".d{umask:o}.tmp-"))
                self.assertIn(f"-{os.getpid()}-", os.path.basename(path))


class StaleTemporariesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.addCleanup(self.live.wait)
        self.addCleanup(self.live.kill)

    def make(self, name, folder=True):
        path = os.path.join(self.tmp, name)
        if folder:
            os.makedirs(os.path.join(path, "sub"))
            open(os.path.join(path, "sub", "shard.tfrecord"), "w").close()
        else:
            open(path, "w").close()
        return name

    def test_make_temp_dir_removes_dead_processes_folders_only(self):
        dead = self.make(temp_name("data", dead_pid()))
        alive = self.make(temp_name("data", self.live.pid))
        mine = self.make(temp_name("other", os.getpid()))
        other_host = self.make(f".data.tmp-elsewhere-{dead_pid()}-0123abcd")  # maybe alive on its own host
        legacy = self.make(".data.tmp-x2sgypna")  # tempfile.mkdtemp's name: no process to check
        user = self.make("data.tmp")
        new = files.make_temp_dir(os.path.join(self.tmp, "data2"))
        self.assertEqual(
            sorted(os.listdir(self.tmp)), sorted([alive, mine, other_host, legacy, user, os.path.basename(new)])
        )
        self.assertNotIn(dead, os.listdir(self.tmp))

    def test_write_atomic_removes_its_stale_temporary_files(self):
        target = os.path.join(self.tmp, "results.csv")
        dead = self.make(temp_name("results.csv", dead_pid(), folder=False), folder=False)
        alive = self.make(temp_name("results.csv", self.live.pid, folder=False), folder=False)
        unrelated = self.make(temp_name("history.csv", dead_pid(), folder=False), folder=False)
        files.write_text(target, "a,b\n")
        self.assertEqual(sorted(os.listdir(self.tmp)), sorted(["results.csv", alive, unrelated]))
        self.assertNotIn(dead, os.listdir(self.tmp))
        with open(target) as f:
            self.assertEqual(f.read(), "a,b\n")

    def test_process_alive(self):
        self.assertTrue(files.process_alive(os.getpid()))
        self.assertTrue(files.process_alive(self.live.pid))
        self.assertFalse(files.process_alive(dead_pid()))


if __name__ == "__main__":
    unittest.main()
