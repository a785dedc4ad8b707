"""One self-contained HTML report per experiment: claim, pass/fail check, figures, settings.

:func:`write_report` writes a single HTML5 file with inline CSS and images embedded as base64
data URIs, so it can be mailed, archived, printed, or pasted into a paper draft without its
folder. All user text is HTML-escaped. Sections, in order: title and PASS / FAIL badge, Paper,
Claim, Check, Figures, Tables, Settings, Timings, Notes, Provenance (Figures, Tables, Timings and
Notes are left out when empty).
"""

from __future__ import annotations

import base64
import dataclasses
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featlab.mathtext import to_html, to_text

__all__ = ["write_report", "write_check_tables", "check_frame", "row_status"]

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
         ".svg": "image/svg+xml", ".webp": "image/webp"}

_CSS = """
:root { --ink:#1f2328; --muted:#57606a; --rule:#d0d7de; --pass:#1a7f37; --fail:#cf222e; --none:#6e7781; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Helvetica, Arial, "Liberation Sans", sans-serif; color: var(--ink);
       max-width: 960px; margin: 2rem auto; padding: 0 1.25rem; line-height: 1.5; font-size: 15px;
       background: #fff; }
header { display: flex; align-items: center; justify-content: space-between; gap: 1rem;
         border-bottom: 2px solid var(--ink); padding-bottom: .6rem; margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0; }
h2 { font-size: 1.15rem; margin: 1.8rem 0 .5rem; padding-bottom: .2rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.badge { font-weight: 700; font-size: 1.5rem; letter-spacing: .08em; color: #fff; padding: .3rem 1.1rem;
         border-radius: 6px; white-space: nowrap; }
.badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); }
.badge.none { background: var(--none); }
.text { white-space: pre-line; margin: .3rem 0; }
.claim { border-left: 4px solid var(--ink); padding: .3rem .9rem; background: #f6f8fa; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .7rem; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
thead th, table.dataframe th { border-bottom: 2px solid var(--ink); }
td.num, table.dataframe td { text-align: right; }
td.key { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; color: var(--muted); }
.ok { color: var(--pass); font-weight: 700; } .bad { color: var(--fail); font-weight: 700; }
figure { margin: 1rem 0 1.6rem; page-break-inside: avoid; break-inside: avoid; }
figure img { display: block; width: 100%; max-width: 900px; height: auto; margin: 0 auto; }
figcaption { font-size: .9rem; color: var(--muted); margin-top: .4rem; }
.math { font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", "Times New Roman", serif; }
.reported { color: var(--muted); font-style: italic; }
.summary { margin: .2rem 0 .6rem; color: var(--muted); }
.tablewrap { overflow-x: auto; }
ul { padding-left: 1.3rem; }
footer { margin-top: 2rem; font-size: .8rem; color: var(--muted); }
@media print {
  body { margin: 0 auto; font-size: 11pt; }
  .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  table, figure { page-break-inside: avoid; break-inside: avoid; }
  h2 { page-break-after: avoid; break-after: avoid; }
}
"""


# ----------------------------------------------------------------------------- formatting


def _esc(value: Any) -> str:
    """HTML-escape ``str(value)`` (quotes included)."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any, digits: int = 4) -> str:
    """Numbers to ``digits`` significant figures, everything else through ``str``; escaped."""
    if isinstance(value, (bool, np.bool_)):
        return _esc(bool(value))
    if isinstance(value, (float, np.floating)):
        return _esc(f"{float(value):.{digits}g}")
    if isinstance(value, (np.integer,)):
        return _esc(int(value))
    return _esc(value)


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings (and dataclass instances) to dotted keys: ``{"data": {"d": 2}} -> {"data.d": 2}``."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _key_value_table(mapping: Mapping[str, Any], *, exact: bool) -> str:
    """Two-column table of dotted keys; ``exact`` keeps floats at full precision (settings)."""
    rows = []
    for key, value in _flatten(mapping).items():
        cell = _esc(value) if exact else _fmt(value)
        num = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
        td = '<td class="num">' if num else "<td>"
        rows.append(f'<tr><td class="key">{_esc(key)}</td>{td}{cell}</td></tr>')
    if not rows:
        return '<p class="text">(none)</p>'
    return '<table class="kv"><tbody>\n' + "\n".join(rows) + "\n</tbody></table>"


def _section(title: str, body: str) -> str:
    return f"<section>\n<h2>{_esc(title)}</h2>\n{body}\n</section>"


# ----------------------------------------------------------------------------- sections


def _badge(check: Mapping[str, Any]) -> str:
    if "passed" not in check:
        return '<span class="badge none">NO CHECK</span>'
    ok = bool(check["passed"])
    return f'<span class="badge {"pass" if ok else "fail"}">{"PASS" if ok else "FAIL"}</span>'


def row_status(row: Mapping[str, Any]) -> str:
    """A check row's status: ``pass`` | ``fail`` | ``reported`` (rows without a ``status`` key:
    from ``passed``; None means reported)."""
    status = row.get("status")
    if status in ("pass", "fail", "reported"):
        return status
    passed = row.get("passed")
    return "reported" if passed is None else ("pass" if passed else "fail")


def _mark(status: str) -> str:
    if status == "reported":
        return '<span class="reported">reported</span>'
    return '<span class="ok">✓ pass</span>' if status == "pass" else '<span class="bad">✗ fail</span>'


def _math_cell(value: Any) -> str:
    """A table cell: numbers formatted, text with its ``$...$`` math rendered."""
    return to_html(value) if isinstance(value, str) else _fmt(value)


def _check_body(check: Mapping[str, Any]) -> str:
    """Table of ``check["rows"]`` (``quantity, claim, measured, status``), the summary, and
    any other keys."""
    rows = check.get("rows", [])
    parts = []
    if check.get("summary"):
        parts.append(f'<p class="summary">{to_html(check["summary"])}</p>')
    if rows:
        head = "<thead><tr><th>quantity</th><th>claim</th><th>measured</th><th>status</th></tr></thead>"
        body = []
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise TypeError(
                    f'check["rows"][{i}] is {type(row).__name__}; each row must be a dict with keys '
                    "quantity, claim, measured, passed"
                )
            body.append(
                f"<tr><td>{_math_cell(row.get('quantity', ''))}</td><td>{_math_cell(row.get('claim', ''))}</td>"
                f"<td class=\"num\">{_math_cell(row.get('measured', ''))}</td>"
                f"<td>{_mark(row_status(row))}</td></tr>"
            )
        parts.append(f'<table class="check">{head}<tbody>\n' + "\n".join(body) + "\n</tbody></table>")
    extra = {k: v for k, v in check.items() if k not in ("passed", "rows", "summary")}
    if extra:
        parts.append(_key_value_table(extra, exact=False))
    if "passed" not in check:
        parts.insert(0, '<p class="text">No pass/fail check was given for this experiment.</p>')
    return "\n".join(parts) or '<p class="text">(no rows)</p>'


def _embed_image(path: str | Path, caption: str) -> str:
    """``data:`` URI of an image file; FileNotFoundError / ValueError say how to fix the input."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"figure file not found: {path} (caption {caption!r}); create it first, e.g. with "
            "featlab.plots, or drop it from figures"
        )
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(
            f"cannot embed {path} in HTML: unsupported type {path.suffix!r}; save the figure as "
            f"one of {sorted(_MIME)} (PNG recommended)"
        )
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _figures_body(figures: Sequence[tuple[str, str | Path]]) -> str:
    out = []
    for i, (caption, path) in enumerate(figures, start=1):
        src = _embed_image(path, caption)
        out.append(
            f'<figure><img src="{src}" alt="{_esc(to_text(caption))}">'
            f"<figcaption><b>Figure {i}.</b> {to_html(caption)}</figcaption></figure>"
        )
    return "\n".join(out)


def _table_html(df: pd.DataFrame) -> str:
    """DataFrame to escaped HTML with floats at 4 significant digits."""
    return df.to_html(
        escape=True,
        float_format=lambda v: f"{v:.4g}",
        na_rep="–",
        border=0,
        index=not isinstance(df.index, pd.RangeIndex),
    )


def _tables_body(tables: Sequence[tuple[str, pd.DataFrame]]) -> str:
    out = []
    for i, (caption, df) in enumerate(tables, start=1):
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"table {caption!r} is {type(df).__name__}; pass a pandas DataFrame")
        out.append(f"<h3>Table {i}. {to_html(caption)}</h3>\n<div class=\"tablewrap\">{_table_html(df)}</div>")
    return "\n".join(out)


def _default_provenance() -> dict[str, Any]:
    """:func:`featlab.provenance.provenance` plus the numeric libraries' versions."""
    import matplotlib

    from featlab.provenance import provenance

    prov: dict[str, Any] = {k: v for k, v in provenance().items() if v is not None}
    prov["versions"] = {"numpy": np.__version__, "pandas": pd.__version__,
                        "matplotlib": matplotlib.__version__}
    return prov


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted-key union of two nested mappings; ``extra`` wins."""
    return {**_flatten(base), **_flatten(extra)}


# ----------------------------------------------------------------------------- public


def write_report(
    path: str | Path,
    *,
    title: str,
    paper: str,
    claim: str,
    settings: Mapping[str, Any],
    check: Mapping[str, Any],
    figures: Sequence[tuple[str, str | Path]] = (),
    tables: Sequence[tuple[str, pd.DataFrame]] = (),
    timings: Mapping[str, Any] = {},
    notes: Sequence[str] = (),
    provenance: Mapping[str, Any] = {},
) -> Path:
    """Write one self-contained HTML report and return its path (parent folders created).

    Args:
        check: ``{"passed": bool, "rows": [{"quantity", "claim", "measured", "passed"}, ...]}``;
            other keys are listed under the table. Without ``"passed"`` the badge reads NO CHECK.
        figures: ``(caption, image path)`` pairs; images are embedded as base64 data URIs.
        tables: ``(caption, DataFrame)`` pairs; floats shown to 4 significant digits.
        settings, timings, provenance: nested mappings, shown as dotted keys (``data.d = 2000``).
            Provenance is completed with the creation time, versions and git commit unless given.

    Raises:
        FileNotFoundError: a figure file does not exist (nothing is written).
    """
    parts = [  # build everything first so a bad input leaves no half-written file
        f"<header><h1>{_esc(title)}</h1>{_badge(check)}</header>",
        _section("Paper", f'<p class="text">{_esc(paper)}</p>'),
        _section("Claim", f'<p class="text claim">{to_html(claim)}</p>'),
        _section("Check", _check_body(check)),
    ]
    if figures:
        parts.append(_section("Figures", _figures_body(figures)))
    if tables:
        parts.append(_section("Tables", _tables_body(tables)))
    parts.append(_section("Settings", _key_value_table(settings, exact=True)))
    if timings:
        parts.append(_section("Timings", _key_value_table(timings, exact=False)))
    if notes:
        items = "\n".join(f"<li>{to_html(n)}</li>" for n in notes)
        parts.append(_section("Notes", f"<ul>\n{items}\n</ul>"))
    parts.append(_section("Provenance", _key_value_table(_merge(_default_provenance(), provenance), exact=True)))
    doc = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n<footer>Generated by featlab.report</footer>\n</body>\n</html>\n"
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- check tables

_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "$": r"\$"}


def _tex(value: Any) -> str:
    """LaTeX of a cell: ``$...$`` math kept as written, every other character escaped."""
    from featlab.mathtext import split_math

    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    out = []
    for is_math, piece in split_math(str(value)):
        out.append(f"${piece}$" if is_math else "".join(_TEX_ESCAPES.get(c, c) for c in piece))
    return "".join(out)


def check_frame(check: Mapping[str, Any]) -> pd.DataFrame:
    """The check rows as a DataFrame: quantity, claim, measured, status (math as plain text)."""
    rows = [{"quantity": to_text(r.get("quantity", "")), "claim": to_text(r.get("claim", "")),
             "measured": r.get("measured", ""), "status": row_status(r)}
            for r in check.get("rows", [])]
    return pd.DataFrame(rows, columns=["quantity", "claim", "measured", "status"])


def write_check_tables(check: Mapping[str, Any], folder: str | Path, *,
                       caption: str = "") -> list[Path]:
    """Write ``check.csv`` (plain text) and ``check.tex`` (a booktabs ``table``, math kept as
    LaTeX, the summary in the caption) into ``folder``; returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "check.csv"
    check_frame(check).to_csv(csv, index=False)
    summary = check.get("summary", "")
    verdict = "no check" if "passed" not in check else ("PASS" if check["passed"] else "FAIL")
    lines = ["% featlab check table; needs \\usepackage{booktabs}", r"\begin{table}[t]",
             r"\centering", r"\begin{tabular}{llll}", r"\toprule",
             r"quantity & claim & measured & status \\", r"\midrule"]
    for r in check.get("rows", []):
        lines.append(" & ".join(_tex(r.get(k, "")) for k in ("quantity", "claim", "measured"))
                     + f" & {row_status(r)} \\\\")
    cap = "; ".join(x for x in (_tex(caption) if caption else "", f"{verdict}",
                                _tex(summary) if summary else "") if x)
    lines += [r"\bottomrule", r"\end{tabular}", f"\\caption{{{cap}}}", r"\end{table}"]
    tex = folder / "check.tex"
    tex.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [csv, tex]
