"""Compare the six objectives under one protocol: one mid-grid setting each -> sweep -> report.

  python pipelines/zoo_comparison.py                  # the report's protocol: hours on 2 CPU cores
  python pipelines/zoo_comparison.py --seeds 0 1 2    # more seeds
  python pipelines/zoo_comparison.py --epochs 1 --subset 2000 --preset fast --out sweeps/zoo_try

Settings: β-VAE β=4, AnnealedVAE C_max=25, FactorVAE γ=30, DIP-VAE-I λ_od=5, DIP-VAE-II
λ_od=5, β-TCVAE β=6, trained at the β study's protocol (50,000 images, 10 epochs, batch 32,
Adam 1e-3; AnnealedVAE at the reference's Adam 1e-4, as its capacity target diverges at 1e-3)
and scored at the reference metric sizes, three seeds each (the report gives each setting's
mean and 95 % interval). Every flag of ``python -m bvae_tf.sweep``
applies except the grid ones. Rerunning the same command resumes: finished trials are skipped.
"""

import os
import sys

from bvae_tf import sweep
from bvae_tf.config import SweepConfig
from bvae_tf.errors import UserError, run_cli

COMMAND = "python pipelines/zoo_comparison.py"  # its --help and its Ctrl-C hint name it so

MID_GRID = (
    ("beta_vae", 4.0),
    ("beta_tcvae", 6.0),
    ("factor_vae", 30.0),
    ("dip_vae_i", 5.0),
    ("annealed_vae", 25.0),
    ("dip_vae_ii", 5.0),
)
LEARNING_RATES = {"annealed_vae": 1e-4}  # the others: the template's (--learning-rate, default 1e-3)


def main(argv=None):
    parser = sweep.build_parser()
    parser.prog, parser.description = COMMAND, __doc__.splitlines()[0]
    parser.set_defaults(preset="reference", out=os.path.join("sweeps", "zoo_comparison"), verbose=0, seeds=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.betas or args.models or args.values or args.study:
        raise UserError(
            "the comparison fixes its grid (one mid-grid setting per model); use "
            "python -m bvae_tf.sweep for other grids"
        )
    base = sweep.config_from_args(args)
    config = SweepConfig(MID_GRID, base.seeds, base.out_dir, base.training, base.evaluation, LEARNING_RATES.items())
    return sweep.run_and_report(config)


if __name__ == "__main__":
    sys.exit(
        run_cli(
            main,
            sys.argv[1:],
            interrupted=lambda: sweep.resume_hint(sys.argv[1:], COMMAND),
        )
    )
