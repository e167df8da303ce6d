"""bvae_tf.console: TensorFlow's start-up notes are dropped, everything else on stderr is kept."""

import os
import subprocess
import sys
import textwrap
import unittest

from bvae_tf import console

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795981191.406348    5601 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1795981191.499460    5601 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.",
]
NO_DRIVER = (
    "I0000 00:00:1795981191.406667    5601 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used."
)
CUINIT = (
    "E0000 00:00:1795981229.836405    5933 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
    "error: Failed call to cuInit: UNKNOWN ERROR (303)"
)
REAL = [
    "W0000 00:00:1795981229.836405    5933 cpu_allocator_impl.cc:83] Allocation of 1073741824 exceeds 10% "
    "of free system memory.",
    "/x.py:3: UserWarning: something real",
]


def run_python(code, **env):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**environment, **env},
    )


class KeptLinesTest(unittest.TestCase):
    def test_notes_go_real_lines_stay(self):
        self.assertEqual(console.kept_lines(NOTES + [NO_DRIVER, REAL[0], CUINIT, REAL[1]]), REAL)

    def test_cuinit_failure_stays_where_a_driver_exists(self):
        self.assertEqual(console.kept_lines(NOTES + [CUINIT]), [CUINIT])


class FilteredStderrTest(unittest.TestCase):
    def test_native_and_python_writes_filtered_in_order(self):
        notes, real = "\n".join(NOTES + [NO_DRIVER, CUINIT]), "\n".join(REAL)
        result = run_python(f"""
            import os, sys
            from bvae_tf.console import filtered_stderr
            with filtered_stderr():
                os.write(2, {notes!r}.encode() + b"\\n")
                print({real!r}, file=sys.stderr)
            print("after", file=sys.stderr)
            """)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr.splitlines(), REAL + ["after"])

    def test_lines_come_back_when_the_block_raises(self):
        result = run_python("""
            import os
            from bvae_tf.console import filtered_stderr
            with filtered_stderr():
                os.write(2, b"the real reason\\n")
                raise ImportError("broken")
            """)
        self.assertEqual(result.returncode, 1)
        self.assertTrue(result.stderr.startswith("the real reason\n"), result.stderr)
        self.assertIn("ImportError: broken", result.stderr)


class TensorFlowImportTest(unittest.TestCase):
    def test_importing_tensorflow_through_bvae_tf_prints_no_start_up_notes(self):
        code = """
            import warnings
            import bvae_tf
            import tensorflow as tf
            assert tf.constant(2.0).numpy() == 2.0
            warnings.warn("a real warning")
            """
        loud = run_python(code, BVAE_TF_TENSORFLOW_LOGS="1")
        self.assertEqual(loud.returncode, 0, loud.stderr)
        quiet = run_python(code)
        self.assertEqual(quiet.returncode, 0, quiet.stderr)
        # Without the filter TensorFlow's notes show (so this test can fail); with it, only the warning.
        self.assertIn("oneDNN custom operations are on", loud.stderr)
        self.assertEqual(
            [line for line in quiet.stderr.splitlines() if line.strip()],
            [line for line in loud.stderr.splitlines() if "UserWarning: a real warning" in line],
        )

    def test_later_info_lines_hidden_unless_the_user_chose_a_level(self):
        code = "import os, bvae_tf; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
        self.assertEqual(run_python(code).stdout.strip(), "1")
        self.assertEqual(run_python(code, TF_CPP_MIN_LOG_LEVEL="0").stdout.strip(), "0")
        self.assertEqual(run_python(code, BVAE_TF_TENSORFLOW_LOGS="1").stdout.strip(), "None")


if __name__ == "__main__":
    unittest.main()
