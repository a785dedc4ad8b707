r"""sakamoto2025-token-selection: attention overfits the flipped labels benignly at moderate SNR and
does not fit them at high SNR.

Paper: Sakamoto & Sato, "Benign Overfitting in Token Selection of Attention Mechanism", ICML 2025,
arXiv 2409.17625 (Fig. 3: softmax probabilities over training for a clean and a flipped sample;
Fig. 5: final train and test loss over (d, ||mu||)). Official code: keitaroskmt/benign-attention.

Model and data: f(X) = \sum_t softmax(X W p)_t <x_t, \nu> (:mod:`featlab.models.token_attention`)
on T = 8 tokens, one relevant token y\mu, weakly relevant \pm\rho\mu (\rho = 0.1), the rest
N(0, I_d) noise, n = 20 balanced training samples with 4 flipped labels (2 per class), clean test
samples (:mod:`featlab.data.tokens`); \nu_norm = 1/||\mu|| (the official code); full-batch GD on the
mean logistic loss.

Claim: at moderate SNR the attention *fits every flipped label* (train error 0: the softmax of a
flipped sample moves off the relevant token onto tokens that agree with its wrong label) while the
test error stays near the clean optimum \Phi(-||\mu||/\sqrt 2); at high SNR the flipped samples are
not fitted (their attention stays on the relevant token). At low SNR the fit is harmful (test error
well above the optimum).

Presets:
- ``quick`` (12 runs, about 30 s on 2 shared cores): d = 400, n_test = 500, ||\mu|| in {5, 10, 100}
  (low, moderate, high SNR), 4 seeds, lr 0.1, 500 steps. Scaled down from the official
  d = 2000, lr 5e-3, 1000 steps (about 40 s per run here) by a larger step; measured at this scale.
- ``paper``: the 39 x 39 grid of their Fig. 5 (heatmaps of the final train and test loss are
  drawn whenever both d and ||\mu|| vary), d in {250, 375, ..., 5000} x ||\mu|| in
  {5, 7.5, ..., 100} (\nu_norm = 1/||\mu|| zipped with ||\mu||), one seed per cell, the official
  lr 5e-3, 1000 steps, n_test = 1000. Declared, not run here.

Cells. Any preset but ``paper``: the (d, ||\mu||) cells in increasing SNR order, the lowest
(harmful), the median (benign) and the highest (high SNR); in ``quick`` these are its three
||\mu|| values. ``paper``: the official cell (d = 2000, ||\mu|| = 20) is
the benign cell, (d = 250, ||\mu|| = 100) the high-SNR one, (d = 5000, ||\mu|| = 5) the low one.

Check (pooled over the seeds of a cell):
- premise: at step 0 (uniform attention) the flipped samples of the benign and high-SNR cells are
  misfitted (pooled train error on them >= 0.9): fitting them needs the attention to move;
- benign, fitted: every clean training sample is fitted and the fraction of flipped samples left
  unfitted is <= 0.1 (the paper: 0; at the quick scale about 1 flipped sample in 24 stays on a
  token of the wrong sign, CHECKS.md);
- benign, generalizes: the mean test error is <= \Phi(-||\mu||/\sqrt 2) + 0.05;
- benign, token selection: mean attention on the relevant token >= 0.5 on clean samples and
  <= 0.1 on flipped samples;
- high SNR: the pooled flipped train error is >= 0.5 and their mean attention on the relevant
  token is >= 0.5.
Reported: the low-SNR cell's test error (harmful overfitting), seeds with train error exactly 0,
the attention on the opposite weakly relevant token and the softmax entropy.

Controls (each must FAIL): lr = 1e-4 (nothing is fitted); every ||\mu|| x 10 (the "benign" cell
is at high SNR: its flipped samples are not fitted); every ||\mu|| / 4 (the "benign" cell is at low
SNR: its test error leaves the optimum).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from featlab.config import OptimConfig, Setting, TrainConfig
from featlab.data.tokens import TokenSelectionData
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.models.token_attention import TokenAttention
from featlab.sweep import Sweep

__all__ = ["EXPERIMENT", "MU_AXIS"]

#: The zipped grid axis: ||mu|| and the head norm nu_norm = 1/||mu|| move together.
MU_AXIS = "data.mu_norm,model.nu_norm"
QUICK_MU = (5.0, 10.0, 100.0)
PAPER_D = tuple(range(250, 5001, 125))
PAPER_MU = tuple(5.0 + 2.5 * i for i in range(39))
PAPER_CELLS = {"low": (5000, 5.0), "benign": (2000, 20.0), "high": (250, 100.0)}
ATTN = ("attn_relevant_clean", "attn_relevant_flipped", "attn_opposite_flipped",
        "attn_relevant_test", "attn_entropy")


def _mu_values(mus) -> list[tuple[float, float]]:
    return [(float(m), 1.0 / float(m)) for m in mus]


def _setting(d: int, n_test: int, lr: float, steps: int, log_points: int) -> Setting:
    return Setting(data=TokenSelectionData(n=20, d=d, T=8, mu_norm=20.0, rho=0.1, flips=4,
                                           n_test=n_test),
                   model=TokenAttention(init="torch_default", nu_norm=0.05),
                   optim=OptimConfig(name="gd", lr=lr),
                   train=TrainConfig(steps=steps, log_schedule="linear", log_points=log_points))


def quick() -> Sweep:
    return Sweep(_setting(400, 500, 0.1, 500, 11), {MU_AXIS: _mu_values(QUICK_MU)}, seeds=4)


def paper() -> Sweep:
    return Sweep(_setting(2000, 1000, 5e-3, 1000, 11),
                 {"data.d": list(PAPER_D), MU_AXIS: _mu_values(PAPER_MU)}, seeds=1)


def _frame(ctx: Context) -> pd.DataFrame:
    t = ctx.store.table(ctx.sweep_id, ["data.d", "data.mu_norm", "data.sigma_p"])
    m = ctx.store.metrics(ctx.sweep_id, ["train_error_flipped"])
    start = m[m["step"] == 0].set_index("run_id")["value"].rename("flipped_error_0")
    t = t.join(start, on="run_id")
    t["data.d"] = t["data.d"].astype(int)
    t["snr"] = t["data.mu_norm"] / (t["data.sigma_p"] * np.sqrt(t["data.d"]))
    return t


def _cells(t: pd.DataFrame, preset: str) -> dict[str, pd.DataFrame]:
    """Runs of the low, benign and high-SNR cells (module docstring)."""
    keys = t[["data.d", "data.mu_norm", "snr"]].drop_duplicates().sort_values("snr")
    if preset == "paper":
        pick = PAPER_CELLS
    else:
        rows = list(keys.itertuples(index=False))
        pick = ({"low": rows[0], "benign": rows[len(rows) // 2], "high": rows[-1]} if len(rows) >= 3
                else {})
        pick = {k: (int(r[0]), float(r[1])) for k, r in pick.items()}
    return {role: t[(t["data.d"] == d) & np.isclose(t["data.mu_norm"], mu)]
            for role, (d, mu) in pick.items()}


def _oracle(cell: pd.DataFrame) -> float:
    """Phi(-||mu|| / (sqrt 2 sigma_p)): the clean optimum's test error (the relevant token only)."""
    mu, sp = float(cell["data.mu_norm"].iloc[0]), float(cell["data.sigma_p"].iloc[0])
    return 0.5 * math.erfc(mu / (math.sqrt(2) * sp) / math.sqrt(2))


def _mean(cell: pd.DataFrame, col: str) -> float:
    return float(cell[col].mean()) if len(cell) and col in cell else float("nan")


def _rows(t: pd.DataFrame, preset: str) -> list[dict]:
    cells = _cells(t, preset)
    b, h, lo = (cells.get(k, t.iloc[:0]) for k in ("benign", "high", "low"))
    tag = lambda c: (f"d = {int(c['data.d'].iloc[0])}, ||mu|| = {float(c['data.mu_norm'].iloc[0]):g}"  # noqa: E731
                     if len(c) else "missing")
    rows = []
    both = pd.concat([b, h])
    prem = _mean(both, "flipped_error_0")
    rows.append(check_row("premise: flipped samples misfitted at step 0 (benign + high-SNR cells)",
                          ">= 0.9 (uniform attention follows the clean signal)", prem,
                          bool(prem >= 0.9) and len(b) > 0 and len(h) > 0))
    clean, flip = _mean(b, "train_error_clean"), _mean(b, "train_error_flipped")
    rows.append(check_row(f"benign ({tag(b)}): train error clean / unfitted flipped fraction",
                          "0 / <= 0.1 (the paper: 0 / 0)", f"{clean:.3g} / {flip:.3g}",
                          bool(clean == 0 and flip <= 0.1)))
    test, opt = _mean(b, "test_error"), (_oracle(b) if len(b) else float("nan"))
    rows.append(check_row(f"benign ({tag(b)}): test error vs the clean optimum {opt:.2g}",
                          "<= optimum + 0.05", test, bool(test <= opt + 0.05)))
    ac, af = _mean(b, "attn_relevant_clean"), _mean(b, "attn_relevant_flipped")
    rows.append(check_row(f"benign ({tag(b)}): attention on the relevant token, clean / flipped",
                          ">= 0.5 / <= 0.1", f"{ac:.3g} / {af:.3g}", bool(ac >= 0.5 and af <= 0.1)))
    hf, ha = _mean(h, "train_error_flipped"), _mean(h, "attn_relevant_flipped")
    rows.append(check_row(f"high SNR ({tag(h)}): flipped train error / their relevant attention",
                          ">= 0.5 / >= 0.5 (not fitted)", f"{hf:.3g} / {ha:.3g}",
                          bool(hf >= 0.5 and ha >= 0.5)))
    rows.append(report_row(f"low SNR ({tag(lo)}): test error / unfitted flipped fraction",
                           "test error well above the optimum (harmful overfitting)",
                           f"{_mean(lo, 'test_error'):.3g} / {_mean(lo, 'train_error_flipped'):.3g}"))
    zero = int((b["train_error"] == 0).sum()) if len(b) else 0
    rows.append(report_row("benign: seeds with train error exactly 0", "all (the paper)",
                           f"{zero} of {len(b)}"))
    rows.append(report_row("benign: attention of flipped samples on the opposite weak token / "
                           "softmax entropy", "reported (where the flipped samples look)",
                           f"{_mean(b, 'attn_opposite_flipped'):.3g} / {_mean(b, 'attn_entropy'):.3g}"))
    return rows


def _figure(ctx: Context, t: pd.DataFrame, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9.0, 3.4))
    b = _cells(t, ctx.preset).get("benign", t.iloc[:0])
    m = ctx.store.metrics(ctx.sweep_id, ATTN[:3])
    m = m[m["run_id"].isin(set(b["run_id"]))]
    labels = {"attn_relevant_clean": "clean: relevant token", "attn_relevant_flipped":
              "flipped: relevant token", "attn_opposite_flipped": "flipped: opposite weak token"}
    for name, lab in labels.items():
        s = m[m["name"] == name].groupby("step")["value"].mean()
        if len(s):
            a0.plot(s.index, s.values, marker=".", label=lab)
    a0.set_xlabel("step")
    a0.set_ylabel("softmax probability (mean)")
    a0.set_title("benign cell (their Fig. 3, averaged)")
    if a0.lines:
        a0.legend(fontsize=7)
    g = t.groupby("snr")[["train_error_flipped", "test_error"]].mean()
    a1.plot(g.index, g["train_error_flipped"], "o-", label="flipped train error")
    a1.plot(g.index, g["test_error"], "s-", label="test error")
    a1.set_xscale("log")
    a1.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a1.set_xlabel("SNR = ||mu|| / sqrt(d)")
    a1.set_ylabel("0-1 error")
    a1.legend(fontsize=7)
    fig.savefig(path, dpi=150, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


def _heatmaps(t: pd.DataFrame, out_dir) -> list[tuple[str, object]]:
    """Their Fig. 5: final train and test loss over (d, ||mu||), when both axes vary."""
    from featlab.grid_plots import metric_heatmap

    ds, mus = sorted(t["data.d"].unique()), sorted(t["data.mu_norm"].unique())
    if len(ds) < 2 or len(mus) < 2:
        return []
    figs = []
    for name in ("train_loss", "test_loss"):
        z = t.pivot_table(index="data.mu_norm", columns="data.d", values=name).reindex(
            index=mus, columns=ds).to_numpy()
        path = metric_heatmap(z, ds, mus, xlabel="d", ylabel="||mu||", cbar_label=f"final {name}",
                              path=out_dir / f"fig5_{name}.png", title=f"final {name} (their Fig. 5)")
        figs.append((f"Final {name.replace('_', ' ')} over (d, ||mu||)", path))
    return figs


def analyze(ctx: Context) -> Analysis:
    t = _frame(ctx)
    rows = _rows(t, ctx.preset)
    fig = _figure(ctx, t, ctx.out_dir / "token_selection.png")
    extra = _heatmaps(t, ctx.out_dir)
    table = t.groupby(["data.d", "data.mu_norm"]).agg(
        snr=("snr", "first"), train_loss=("train_loss", "mean"), test_loss=("test_loss", "mean"),
        flipped_error=("train_error_flipped", "mean"), test_error=("test_error", "mean"),
        attn_flipped=("attn_relevant_flipped", "mean"), runs=("run_id", "count")).reset_index()
    return Analysis.from_rows(rows, figures=[("Attention dynamics in the benign cell; final errors "
                                              "vs SNR", fig), *extra],
                              tables=[("Final losses and errors per (d, ||mu||) cell", table)])


def _scaled(factor: float):
    def control(sweep: Sweep) -> Sweep:
        mus = [mu for mu, _ in dict(sweep.grid)[MU_AXIS]]
        return sweep.with_grid({MU_AXIS: _mu_values(m * factor for m in mus)})
    return control


EXPERIMENT = Experiment(
    name="sakamoto2025-token-selection",
    paper="Sakamoto & Sato. Benign Overfitting in Token Selection of Attention Mechanism. ICML 2025, "
          "arXiv 2409.17625 (official code keitaroskmt/benign-attention)",
    figure="Fig. 3 (softmax dynamics of a clean and a flipped sample) and Fig. 5 (train/test loss "
           "over d x ||mu||)",
    claim="At moderate SNR the attention fits every flipped training label (train error 0) while the "
          "test error stays near the clean optimum; at high SNR the flipped samples are not fitted.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 12 runs, about 30 s on 2 CPU cores; paper: 1521 runs at d up to 5000 (not run)",
    controls=(
        Control("lr-tiny", "lr = 1e-4: nothing moves; the benign 'fitted' row must fail",
                lambda s: s.with_overrides({"optim.lr": 1e-4})),
        Control("snr-x10", "every ||mu|| x 10: the middle cell is at high SNR, its flipped samples "
                "are not fitted; the benign 'fitted' row must fail", _scaled(10.0)),
        Control("snr-div4", "every ||mu|| / 4: the middle cell is at low SNR; the benign test-error "
                "row must fail", _scaled(0.25)),
    ),
    criteria="PASS iff at step 0 the flipped samples of the benign and high-SNR cells are misfitted "
             "(pooled error >= 0.9); in the benign cell every clean sample and all but <= 10 % of the "
             "flipped samples are fitted, the test error is <= Phi(-||mu||/sqrt 2) + 0.05 and the "
             "attention on the relevant token is >= 0.5 on clean and <= 0.1 on flipped samples; in "
             "the high-SNR cell the flipped train error and the flipped samples' relevant-token "
             "attention are both >= 0.5.",
)
