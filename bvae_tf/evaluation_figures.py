"""The figures of one evaluation: its factor x latent matrices and a latent traversal.

``evaluate`` writes them beside ``metrics.json``; the report draws the same panels for the
trials it shows, so both read a matrix (and a traversal) the same way. Which matrices are drawn
is declared by each metric (`bvae_tf.metrics.registry.MatrixView`).
"""

import matplotlib

matplotlib.use("Agg")  # files only: never open a window (and work without a display)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bvae_tf.images import traversal_grid  # noqa: E402
from bvae_tf.metrics import registry  # noqa: E402

TRAVERSAL_VALUES = np.linspace(-3, 3, 9)


def matrix_panels(axes, matrices, factor_names, title=""):
    """Draw each declared view found in ``matrices`` ({key: array}, as matrices.npz holds them) as
    a factor x latent heat map, one per axis (axes without a view are hidden)."""
    views = [(key, view) for key, view in registry.matrix_views() if key in matrices]
    for ax, (key, view) in zip(axes, views):
        metric = key[: -len(view.field) - 1]
        matrix = np.asarray(matrices[key], float)
        matrix = matrix.T if view.latent_rows else matrix  # factors x latents
        image = ax.imshow(matrix, cmap="viridis", aspect="auto")
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
        rows = factor_names if view.rows == "factor" else [f"z{i}" for i in range(matrix.shape[0])]
        ax.set_yticks(range(matrix.shape[0]), rows[: matrix.shape[0]])
        ticks = [f"z{i}" for i in range(matrix.shape[1])]
        per_latent = matrices.get(f"{metric}_{view.per_latent}") if view.per_latent else None
        if per_latent is not None:
            ticks = [f"{t}\n{v:.2f}" for t, v in zip(ticks, per_latent)]
        ax.set_xticks(range(matrix.shape[1]), ticks, fontsize=7)
        ax.set_title(f"{title}{view.title}", fontsize=9)
    for ax in axes[len(views) :]:
        ax.axis("off")
    return len(views)


def matrices_figure(matrices, factor_names, title):
    """One row of the declared matrix views of one evaluation; None if it has none."""
    count = sum(key in matrices for key, _ in registry.matrix_views())
    if not count:
        return None
    fig, axes = plt.subplots(1, count, figsize=(5.6 * count, 3.6), squeeze=False, layout="constrained")
    matrix_panels(axes[0], matrices, factor_names)
    fig.suptitle(title, fontsize=10)
    return fig


def traversal_panel(ax, model, image, kl, factor_names, mi=None, values=TRAVERSAL_VALUES):
    """Latent traversal of ``image`` [64, 64, C] by a SavedModel (`bvae_tf.saved_model.SavedModel`):
    rows sorted by ``kl`` (per latent), labelled with the latent, its KL and (given ``mi``
    [L, K], normalized MI) the factor it informs most."""
    code = model.encoder(image.shape[-1])(image[None].astype(np.float32))[0]
    grid, order = traversal_grid(model.decoder(), code, kl_per_latent=kl, values=values)
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
    labels = []
    for latent in order:
        factor = f"\n{factor_names[int(np.argmax(mi[latent]))]} ({mi[latent].max():.2f})" if mi is not None else ""
        labels.append(f"z{latent} KL={kl[latent]:.2f}{factor}")
    ax.set_yticks(np.arange(len(order)) * 64 + 32, labels, fontsize=7)
    ax.set_xticks(np.arange(len(values)) * 64 + 32, [f"{v:+.1f}" for v in values], fontsize=7)
    return order


def traversal_figure(model, image, kl, factor_names, title, mi=None):
    fig, ax = plt.subplots(figsize=(7, 0.75 * len(kl) + 0.8), layout="constrained")
    traversal_panel(ax, model, image, kl, factor_names, mi)
    ax.set_title(title, fontsize=9)
    return fig


def png_writer(fig):
    """A ``write(path)`` that saves ``fig`` as PNG and closes it (for an evaluation's files)."""

    def write(path):
        fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)

    return write
