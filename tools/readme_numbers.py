"""Regenerate the numbers the README quotes from quick commands, and fail when they drift.

The README marks every regenerated block with a pair of HTML comments,

    <!-- readme-numbers: NAME -->
    ...the block...
    <!-- /readme-numbers -->

and NAME is one of :data:`BLOCKS` below: each is the command (or Python snippet) that produced
the numbers and a function that renders the block from a fresh run. ``python
tools/readme_numbers.py`` re-runs every block in a temporary results folder and exits 1 when a
block differs from the README (wall-clock figures, which are machine-dependent, are masked as
``…`` before comparing); ``--update`` rewrites the blocks in place. CI runs it through
``tests/test_readme_numbers.py``. Numbers of long presets are not regenerated here: the README
gives their command, and BENCHMARKS.md the measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import sys
import tempfile
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_BLOCK = re.compile(r"(<!-- readme-numbers: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /readme-numbers -->)",
                    re.S)
_TIMES = re.compile(r"\d+(\.\d+)?(?=\s?(s|runs/s)\b)")


def _mask(text: str) -> str:
    """Mask wall-clock figures ("4.0s", "118.8 runs/s") so that blocks compare across machines."""
    return _TIMES.sub("…", text)


def _quick_run(out: Path) -> str:
    """``featlab run kou2023-phase --preset quick``: the README's main job."""
    from featlab.runner import run_experiment

    res = run_experiment("kou2023-phase", "quick", out=out)
    t = res.timings
    verdict = "PASS" if res.check.get("passed") else "FAIL"
    return ("```\n"
            f"claim check: {verdict} ({res.check.get('summary', '')})\n"
            f"trained {res.n_trained}/{res.n_runs} runs in {t['train_s']:.1f}s "
            f"({t['runs_per_s']:.1f} runs/s); stored as sweep {res.sweep_id}\n"
            f"report: featlab-results/reports/{res.sweep_id}/report.html\n"
            "```\n")


def _api_example(out: Path) -> str:
    """The README's Python API example (two grid points x 5 seeds)."""
    import featlab as fl

    setting = fl.Setting(
        data=fl.SignalNoiseData(n=100, d=1000, sigma_p=0.5, mu_norm=1.0),
        model=fl.TwoLayerCNN(m=10, activation="relu_q", q=2, sigma_0=0.01),
        optim=fl.OptimConfig(name="gd", lr=0.5),
        train=fl.TrainConfig(steps=500, log_schedule="log", log_points=25),
    )
    sweep = fl.Sweep(setting, {"data.mu_norm": [1.0, 4.0]}, seeds=5)
    res = fl.train(sweep)
    table = res.final.groupby("data.mu_norm")[["train_loss", "test_error", "gamma_max", "rho_max"]].mean()
    lines = table.to_string(float_format=lambda v: f"{v:.3f}").splitlines()
    notes = {"1.0": "  <- noise memorization (harmful)", "4.0": "  <- signal learning (benign)"}
    lines = [ln + next((v for k, v in notes.items() if ln.startswith(k)), "") for ln in lines]
    return "```\n" + "\n".join(f"# {ln}" for ln in lines) + "\n```\n"


def _adam_dynamics(out: Path) -> str:
    """``featlab run signal-noise-dynamics --set optim.name=adam --set optim.lr=0.01``."""
    from featlab.runner import run_experiment

    res = run_experiment("signal-noise-dynamics", "quick", out=out,
                         overrides={"optim.name": "adam", "optim.lr": 0.01}, report=False)
    from featlab.store import Store

    with Store(out, read_only=True) as store:
        df = store.table(res.sweep_id, axes=["data.mu_norm"])
    high = df[df["data.mu_norm"] == df["data.mu_norm"].max()]
    return (f"In the high-SNR setting of `featlab run signal-noise-dynamics --set optim.name=adam "
            f"--set optim.lr=0.01`, Adam memorizes noise (test error "
            f"{high['test_error'].mean():.2f}) where GD learns the signal (test error 0), and the "
            f"decomposition residual ({high['decomp_residual'].mean():.2f}) shows its updates "
            f"leaving span{{mu, xi_i}}.\n")


#: block name -> renderer(results folder) -> the block's text.
BLOCKS: dict[str, Callable[[Path], str]] = {
    "quick-run": _quick_run,
    "api-example": _api_example,
    "adam-dynamics": _adam_dynamics,
}


def render(names: list[str] | None = None) -> dict[str, str]:
    """Fresh text of the named blocks (all by default), each run in its own temporary folder."""
    out = {}
    for name in names or list(BLOCKS):
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
            out[name] = BLOCKS[name](Path(tmp))
    return out


def drift(readme: str, fresh: dict[str, str]) -> list[str]:
    """Names of blocks whose README text differs from ``fresh`` (times masked), or are missing."""
    found = {m["name"]: m["body"] for m in _BLOCK.finditer(readme)}
    return [n for n, text in fresh.items() if n not in found or _mask(found[n]) != _mask(text)]


def update(readme: str, fresh: dict[str, str]) -> str:
    return _BLOCK.sub(lambda m: m.group(1) + fresh.get(m["name"], m["body"]) + m.group(4), readme)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="rewrite the README's blocks")
    ap.add_argument("names", nargs="*", help=f"blocks (default: all of {', '.join(BLOCKS)})")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in BLOCKS]
    if unknown:
        print(f"error: unknown block {unknown[0]!r}; choose from {', '.join(BLOCKS)}", file=sys.stderr)
        return 2
    text = README.read_text()
    fresh = render(args.names or None)
    if args.update:
        README.write_text(update(text, fresh))
        print(f"updated {len(fresh)} blocks in {README}")
        return 0
    bad = drift(text, fresh)
    for name in bad:
        print(f"README block {name!r} drifted; fresh output:\n{fresh[name]}", file=sys.stderr)
    print(f"{len(fresh) - len(bad)} of {len(fresh)} README blocks match their commands")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
