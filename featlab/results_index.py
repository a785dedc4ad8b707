"""``<results>/index.html``: every stored sweep with its experiment, preset, date, run count,
verdict and a link to its report, rebuilt after each run and each report.

The page is static HTML with relative links (``reports/<sweep id>/report.html``) and a
thumbnail of each report's first figure, so the whole results folder can be copied, served or
opened from disk. No script, no network.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from featlab.mathtext import to_html

__all__ = ["write_index", "INDEX_NAME"]

INDEX_NAME = "index.html"

_CSS = """
body { font-family: "Helvetica Neue", Helvetica, Arial, sans-serif; color: #1f2328; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; font-size: 14px; }
h1 { font-size: 1.5rem; border-bottom: 2px solid #1f2328; padding-bottom: .4rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #d0d7de; vertical-align: middle; }
th { border-bottom: 2px solid #1f2328; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #1a7f37; font-weight: 700; } .fail { color: #cf222e; font-weight: 700; }
.none { color: #6e7781; } .muted { color: #6e7781; font-size: .85rem; }
img.thumb { height: 64px; width: auto; border: 1px solid #d0d7de; background: #fff; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; }
"""


def _esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _verdict(row: dict[str, Any]) -> str:
    check = json.loads(row["check_json"]) if row.get("check_json") else {}
    if row.get("status") != "finished" and not check:
        return '<span class="none">running / no report</span>'
    if "passed" not in check:
        return '<span class="none">no check</span>'
    cls, word = ("pass", "PASS") if check["passed"] else ("fail", "FAIL")
    summary = f'<br><span class="muted">{to_html(check["summary"])}</span>' if check.get("summary") else ""
    return f'<span class="{cls}">{word}</span>{summary}'


def _date(value: Any) -> str:
    text = "" if value is None else str(value)
    return "" if text in ("NaT", "None", "nan") else text[:16]


def _report_cells(root: Path, row: dict[str, Any]) -> tuple[str, str]:
    """(link cell, thumbnail cell) with paths relative to ``root``; empty if no report file."""
    value = row.get("report_path")
    path = Path(value) if isinstance(value, str) and value else None     # NaN: sweep never reported
    if path is None or not path.is_file():
        return '<span class="none">–</span>', ""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except ValueError:                                    # a report outside the folder
        return f'<a href="{_esc(path.resolve().as_uri())}">report</a>', ""
    link = f'<a href="{_esc(rel.as_posix())}">report</a>'
    pngs = sorted(path.parent.glob("*.png"))
    thumb = ""
    if pngs:
        src = pngs[0].resolve().relative_to(root.resolve()).as_posix()
        thumb = f'<a href="{_esc(rel.as_posix())}"><img class="thumb" src="{_esc(src)}" alt="first figure of {_esc(row["sweep_id"])}"></a>'
    return link, thumb


def write_index(store: Any) -> Path:
    """(Re)write ``<store.root>/index.html`` from the store's sweeps table; returns its path."""
    root = Path(store.root)
    df = store.sql("""
        SELECT s.sweep_id, s.experiment, s.preset, s.status, s.n_runs, s.check_json, s.report_path,
               s.created_at, s.finished_at, count(r.run_id) AS stored,
               count_if(r.status = 'diverged') AS diverged
        FROM sweeps s LEFT JOIN runs r USING (sweep_id)
        GROUP BY ALL ORDER BY s.created_at DESC""")
    rows = []
    for rec in df.astype(object).where(df.notna(), None).to_dict("records"):   # NULL -> None
        link, thumb = _report_cells(root, rec)
        diverged = f' <span class="muted">({int(rec["diverged"])} diverged)</span>' if rec["diverged"] else ""
        rows.append(
            f'<tr><td><code>{_esc(rec["sweep_id"])}</code></td><td>{_esc(rec["experiment"])}</td>'
            f'<td>{_esc(rec["preset"])}</td><td>{_esc(_date(rec["finished_at"]) or _date(rec["created_at"]))}</td>'
            f'<td class="num">{int(rec["stored"])}/{int(rec["n_runs"] or 0)}{diverged}</td>'
            f"<td>{_verdict(rec)}</td><td>{link}</td><td>{thumb}</td></tr>")
    body = ("<table><thead><tr><th>sweep</th><th>experiment</th><th>preset</th><th>date (UTC)</th>"
            "<th>runs</th><th>verdict</th><th>report</th><th>figure</th></tr></thead><tbody>\n"
            + "\n".join(rows) + "\n</tbody></table>") if rows else "<p>No sweeps stored yet.</p>"
    doc = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           f"<title>featlab results: {_esc(root.name)}</title>\n"
           "<link rel=\"icon\" href=\"data:,\">\n"
           f"<style>{_CSS}</style>\n</head>\n<body>\n"
           f"<h1>featlab results <span class=\"muted\">{_esc(root)}</span></h1>\n"
           f"<p class=\"muted\">{len(rows)} sweeps; store <code>featlab.duckdb</code>; rebuilt after "
           f"every run and report (<code>featlab runs</code> lists the same).</p>\n"
           f"{body}\n</body>\n</html>\n")
    path = root / INDEX_NAME
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(path)                                     # readers never see a half-written page
    return path
