"""SavedModel export (`bvae_tf.export`): the umask's mode (other users can load it) and no staging
folder left behind by a killed export."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from bvae_tf import files
from bvae_tf.export import export_model
from bvae_tf.model import BetaVAE
from tests.test_errors import as_other_user
from tests.test_files import dead_pid


class ExportFilesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = BetaVAE(latent_dim=2, seed=0)
        cls.model.build((None, 64, 64, 1))

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        os.chmod(self.tmp, 0o755)
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def test_mode_follows_umask_and_stale_staging_is_removed(self):
        parent = os.path.join(self.tmp, "saved_models")
        os.makedirs(parent)
        # An export killed with -9 leaves its staging folder, named after its (now dead) process;
        # a running one's (a sweep worker's) must stay.
        with mock.patch.object(files.os, "getpid", return_value=dead_pid()):
            killed = files.make_temp_dir(os.path.join(parent, "beta_vae_beta1_seed0"))
        live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        self.addCleanup(live.wait)
        self.addCleanup(live.kill)
        with mock.patch.object(files.os, "getpid", return_value=live.pid):
            running = files.make_temp_dir(os.path.join(parent, "beta_vae_beta5_seed0"))

        previous = os.umask(0o022)
        try:
            path = export_model(self.model, os.path.join(parent, "beta_vae_beta1_seed0"), {"beta": 1.0})
        finally:
            os.umask(previous)
        self.assertEqual(sorted(os.listdir(parent)), sorted(["beta_vae_beta1_seed0", os.path.basename(running)]))
        self.assertFalse(os.path.exists(killed))
        # tempfile.mkdtemp made the SavedModel folder 0700: another user could not load it.
        for folder, _subfolders, names in os.walk(path):
            self.assertEqual(stat.S_IMODE(os.stat(folder).st_mode), 0o755, folder)
            for name in names:
                self.assertEqual(stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode), 0o644, name)
        with as_other_user():
            with open(os.path.join(path, "model_card.json")) as f:
                self.assertIn("beta", f.read())
            self.assertIn("variables.index", os.listdir(os.path.join(path, "variables")))


if __name__ == "__main__":
    unittest.main()
