"""bvae_tf.report: every figure, Table 1 and the HTML page, from the quick pipeline's sweep."""

import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import pandas as pd

from bvae_tf import report
from tests.helpers import slow
from tests.test_sweep import ENV, ROOT, TINY, read


@slow
class PipelineReportTest(unittest.TestCase):
    """The quick pipeline end to end (data, sweep, report), then the report of a moved sweep."""

    def test_quick_pipeline_writes_every_figure_and_the_table(self):
        tmp = tempfile.mkdtemp()
        out = os.path.join(tmp, "study")
        result = subprocess.run(
            [sys.executable, os.path.join(ROOT, "pipelines", "beta_study.py"), "--quick", "--out", out,
             "--betas", "1", "5", "--seeds", "0", "1", "--data-dir", os.path.join(tmp, "data"), *TINY],
            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=900)
        self.assertEqual(result.returncode, 0, result.stdout[-3000:] + result.stderr[-3000:])
        self.assertRegex(result.stdout, r"beta study: 4 trials, .* expect about")
        report_dir = os.path.join(out, "report")
        figures = ["loss_kl.png", "loss_recon.png", "loss_loss.png", "traversals_beta5.png", "metrics_vs_beta.png",
                   "matrices.png", "reconstructions.png", "tradeoff_recon_vs_mig.png"]
        for name in figures + ["summary.csv", "summary.md", "report.html"]:
            path = os.path.join(report_dir, name)
            self.assertTrue(os.path.isfile(path) and os.path.getsize(path) > 0, name)
        for name in figures:
            with open(os.path.join(report_dir, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", name)
        results = pd.read_csv(os.path.join(out, "results.csv"))
        self.assertEqual(sorted(zip(results["beta"], results["seed"])), [(1.0, 0), (1.0, 1), (5.0, 0), (5.0, 1)])
        summary = pd.read_csv(os.path.join(report_dir, "summary.csv"), header=[0, 1], index_col=0)
        self.assertEqual(list(summary.index), [1.0, 5.0])
        self.assertTrue((summary[("seeds", "n")] == 2).all())
        markdown = read(os.path.join(report_dir, "summary.md"))
        self.assertRegex(markdown, r"\| 5 \| 2 \| [0-9.]+ ± [0-9.]+ \|")
        page = read(os.path.join(report_dir, "report.html"))
        self.assertEqual(len(re.findall(r"src='data:image/png;base64,[A-Za-z0-9+/=]{100,}'", page)), len(figures))
        self.assertNotRegex(page, r"src='(?!data:)")
        self.assertRegex(page, r"<table[^>]*>(.|\n)*<th>MIG</th>(.|\n)*<th>5</th>\s*<td>2</td>")
        # A copied sweep, with the original gone, reports from its own files.
        moved = shutil.copytree(out, os.path.join(tmp, "moved"))
        shutil.rmtree(out)
        shutil.rmtree(os.path.join(moved, "report"))
        with contextlib.redirect_stdout(io.StringIO()):
            report.main([moved])
        moved_markdown = read(os.path.join(moved, "report", "summary.md"))
        self.assertEqual(moved_markdown.split("\n", 1)[1], markdown.split("\n", 1)[1])  # all but the title


if __name__ == "__main__":
    unittest.main()
