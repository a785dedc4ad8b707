"""Paper output: math rendered without a network, PDF/SVG figures, column widths, the check
table as CSV and LaTeX, and reported rows shown as reported."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featlab.cli import _print_outcome, app, console
from featlab.experiments.base import check_row, report_row, verdict
from featlab.mathtext import to_html, to_text
from featlab.plots import collapse_plot, figure_options
from featlab.report import write_check_tables, write_report

KOU = r"theory boundary $n\|\mu\|^4/(\sigma_p^4 d)$ = C"


def test_math_to_unicode_and_html():
    assert to_text(KOU) == "theory boundary n‖μ‖⁴/(σₚ⁴ d) = C"
    html = to_html(KOU)
    assert "$" not in html and "\\" not in html
    assert "<sup>4</sup>" in html and "<sub><i>p</i></sub>" in html and "μ" in html
    assert to_text(r"$\max_{j,r}\gamma_{j,r}$ and $\mathrm{SNR}^2$") == "max_(j,r)γ_(j,r) and SNR²"
    assert to_html("price $5 <b>") == "price $5 &lt;b&gt;"          # an unpaired $ is text


def _png(tmp_path):
    return collapse_plot(np.array([0.5, 1, 2, 4]), np.array([0.5, 0.4, 0.1, 0.05]),
                         path=tmp_path / "c.png", xlabel=r"$n\,\mathrm{SNR}^2$")


def test_report_captions_and_check_render_math(tmp_path):
    check = verdict([check_row(r"slope of $\log d$", r"$1/4 \pm 0.1$", 0.26, True),
                     report_row(r"$\|\mu\|$ at the boundary", "(shown)", 2.5)])
    path = write_report(tmp_path / "r.html", title="t", paper="p", claim=KOU, settings={},
                        check=check, figures=[(KOU, _png(tmp_path))])
    html = path.read_text()
    assert r"\|\mu\|" not in html and "$n" not in html
    caption = re.search(r"<figcaption>(.*?)</figcaption>", html).group(1)
    assert "‖" in caption and "<sup>4</sup>" in caption
    assert "1 of 1 checked rows pass, 1 reported" in html
    assert html.count('class="reported">reported<') == 1 and html.count("✓ pass") == 1


def test_pdf_and_svg_are_valid_and_widths_follow_the_layout(tmp_path):
    widths = {}
    for layout in ("single", "double"):
        folder = tmp_path / layout
        with figure_options(["png", "pdf", "svg"], width=layout):
            png = _png(folder)
        pdf, svg = png.with_suffix(".pdf").read_bytes(), png.with_suffix(".svg")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF") and len(pdf) > 2000
        root = ET.parse(svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg" and len(root) > 0
        widths[layout] = float(root.get("width").removesuffix("pt")) / 72     # inches
    # bbox_inches="tight" trims or grows the canvas a little around the requested width
    assert 0.8 * 3.5 < widths["single"] < 1.2 * 3.5 and 0.8 * 7.2 < widths["double"] < 1.2 * 7.2
    with figure_options(["png"]):
        _png(tmp_path / "plain")
    assert not (tmp_path / "plain" / "c.pdf").exists()


def test_check_table_csv_and_latex(tmp_path):
    check = verdict([check_row(r"ratio $\|\mu\|/\sigma_p$", ">= 85% of cells", 0.9, True),
                     check_row("slope", "0.25 +- 0.1", 0.5, False),
                     report_row("C_fit", "(reported)", 32.4)])
    csv, tex = write_check_tables(check, tmp_path, caption="kou2023-phase (quick)")
    df = pd.read_csv(csv)
    assert list(df.columns) == ["quantity", "claim", "measured", "status"]
    assert list(df["status"]) == ["pass", "fail", "reported"]
    assert df["quantity"][0] == "ratio ‖μ‖/σₚ"
    text = tex.read_text()
    assert r"$\|\mu\|/\sigma_p$" in text and r">= 85\% of cells" in text and r"C\_fit" in text
    assert text.count(r"\\") == 4 and r"\begin{tabular}" in text and r"\bottomrule" in text
    assert "FAIL; 1 of 2 checked rows pass, 1 reported" in text


def test_cli_check_table_shows_reported_rows():
    from featlab.runner import RunOutcome

    check = verdict([check_row("a", "claim", 1.0, True), report_row("b", "shown", 2.0)])
    with console.capture() as cap:
        _print_outcome(RunOutcome("s", 1, 1, None, check, {}))
    out = cap.get()
    assert "reported" in out and out.count("PASS") == 2      # one row and the verdict
    assert "1 of 1 checked rows pass, 1 reported" in out


@pytest.mark.parametrize("args,needle", [(["--fig-format", "png,tiff"], "--fig-format"),
                                         (["--fig-width", "triple"], "--fig-width")])
def test_bad_figure_options_exit_2(args, needle, tmp_path):
    res = CliRunner().invoke(app, ["report", "x", *args, "--out", str(tmp_path)])
    assert res.exit_code == 2 and needle in res.output and not (tmp_path / "featlab.duckdb").exists()
