"""The report as one self-contained HTML page: every figure embedded, Table 1 as an HTML table."""

import base64
import html

from bvae_tf.files import write_text
from bvae_tf.layout import ReportFolder

SHARES_TITLE = (
    "Where each metric's variance lies: between settings, or within a setting (over seeds), "
    "over the settings with two or more seeds"
)
UDR_TITLE = "UDR of each trial against the other trials of its model (python -m bvae_tf.udr)"
TABLE_TITLE = "Table 1: metrics per model and setting (mean [95 % interval] over n seeds; the mean alone for one seed)"
TRIALS_TITLE = "Table 2: every trial (the seeds behind Table 1)"


def _table(frame):
    """A table that scrolls sideways inside the page when it is wider than the window."""
    return f"<div class='wide'>{frame.to_html()}</div>"


def write_html(out_dir, figures, table_text, title, notes=(), findings=(), shares=None, tables=()):
    """One self-contained page: the notes, "what this study shows", Table 1, the variance
    shares and ``tables`` [(title, frame)] as HTML tables, every PNG embedded as base64."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto;padding:0 8px}img{max-width:100%}"
        ".wide{overflow-x:auto;max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;"
        "white-space:nowrap}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        *[f"<p>{html.escape(note)}</p>" for note in notes],
    ]
    if findings:
        parts.append("<h2>What this study shows</h2>")
        parts += [f"<p>{html.escape(sentence)}</p>" for sentence in findings]
    parts += [f"<h2>{html.escape(TABLE_TITLE)}</h2>", _table(table_text)]
    if shares is not None and not shares.empty:
        parts += [f"<h2>{html.escape(SHARES_TITLE)}</h2>", _table(shares)]
    for caption, frame in tables:
        parts += [f"<h2>{html.escape(caption)}</h2>", _table(frame)]
    for caption, name in figures:
        with open(ReportFolder(out_dir).figure(name), "rb") as f:
            encoded = base64.b64encode(f.read()).decode("ascii")
        parts.append(
            f"<h2>{html.escape(caption)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{encoded}'>"
        )
    parts.append("</body></html>")
    path = ReportFolder(out_dir).html
    write_text(path, "\n".join(parts))
    return path
