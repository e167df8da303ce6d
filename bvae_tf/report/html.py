"""The report as one self-contained HTML page: every figure embedded, Table 1 as an HTML table."""

import base64
import html

from bvae_tf.files import write_text
from bvae_tf.layout import ReportFolder


def write_html(out_dir, figures, table_text, title, notes=()):
    """One self-contained page: every PNG embedded as base64, the table as HTML."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        *[f"<p>{html.escape(note)}</p>" for note in notes],
    ]
    parts.append("<h2>Table 1: metrics per model and setting (mean ± std over seeds; the mean alone for one seed)</h2>")
    parts.append(table_text.to_html())
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
