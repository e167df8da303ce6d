"""Shared by the tests: the switch that skips the slow end-to-end tests.

BVAE_TF_FAST_TESTS=1 python -m unittest     # the fast subset (minutes)
python -m unittest                          # everything (what CI runs)
"""

import os
import unittest

FAST = os.environ.get("BVAE_TF_FAST_TESTS") == "1"
slow = unittest.skipIf(FAST, "slow end-to-end test (BVAE_TF_FAST_TESTS=1 skips it)")
