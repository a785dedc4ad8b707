r"""li2025-signgd-transformer: sign-GD and Adam fit a two-layer transformer fast but memorize the
noise (test loss Theta(1)); GD on the same data learns the signal.

Paper: Li, Huang, Han, Zhou, Suzuki, Zhu, Chen, "On the Optimization and Generalization of
Two-layer Transformers with Sign Gradient Descent", ICLR 2025 (arXiv 2410.04870). Figure: Fig. 1
(sign-GD training dynamics: mean value noise grows linearly from the first steps while key noise
stays near its initialization; the softmax outputs decay, and at t = 150 s_{i,21} is near 0
while s_{i,11} is still near 1/2), and their synthetic comparison of sign-GD, Adam and GD.

Model and data: f(X) = F_{+1} - F_{-1}, F_j = (1/m_v) \sum_l 1^T W_{V,j}^T X^T
softmax(X W_K W_Q^T x^{(l)}) with W_Q, W_K, W_V trained and the readout fixed
(:mod:`featlab.models.signgd_transformer`), on X = [y \mu, \xi] with \mu = ||\mu|| e_1 and \xi
s-sparse Gaussian off the signal coordinate (:mod:`featlab.data.sparse_tokens`); full-batch
training on the mean logistic loss. One sweep: the same data and initialization (per seed)
trained by sign-GD, Adam and GD (a zipped axis ``optim.name,optim.lr``).

Claim (abstract and Fig. 1): sign-GD converges fast on the training set but generalizes poorly:
the training loss goes to ~0 while the test loss stays Theta(1), because query, key and value
memorize the noise; Adam behaves like sign-GD; GD generalizes better. The mechanism, measured
here: sign-GD moves every coordinate by lr per step, so the value side learns the 1-sparse
signal at rate ||\mu||_1 = ||\mu|| but each noise token at rate ||\xi_i||_1 ~ s \sigma_p
\sqrt{2/\pi}; GD learns them at rates ||\mu||^2 and ||\xi_i||^2 ~ s \sigma_p^2, and with
n ||\mu||^2 > s \sigma_p^2 the signal wins.

Check (criteria stated here and in CHECKS.md before the paper preset runs; every row computed
from the stored runs; "treatment" = sign-GD and Adam, "reference" = GD):
(i) premise, fast fit: for each treatment optimizer, every run's training loss is <= 0.05
    (:data:`FIT_BOUND`) by step 300 (:data:`FIT_STEPS`): the first logged step where it is
    (t_fit, read off the logged curve, so an upper bound of the true step) is <= 300 (a run
    that never fits has t_fit = NaN and fails);
(ii) poor generalization: each treatment's mean test loss (over seeds) is >= 0.3
    (:data:`THETA1_BOUND`; chance is log 2 = 0.69), i.e. Theta(1) although the training loss is
    ~0;
(iii) GD generalizes better: for each treatment, mean test loss(treatment) - mean test loss(GD)
    >= 0.2 (:data:`MARGIN`) and > 3 s.e. of the paired (same seed) difference;
(iv) noise memorized, value side: under sign-GD, mean_i y_i <\bar w_V, \xi_i> >= 3
    (:data:`RATIO_BOUND`) x |<\bar w_V, \mu>| in every run (the mean value noise dominates the
    mean value signal);
(v) noise memorized, attention: under sign-GD, the noise query's softmax weight on the signal
    key, s_21 (mean over training samples), is <= 0.05 (:data:`S21_BOUND`) at the end in every
    run: the noise token attends to itself (query and key memorized it), while on the test
    split s_21 stays >= 0.25 (:data:`S21_TEST_BOUND`; fresh noise is not memorized).
Reported, not checked (mean over seeds, per optimizer): the stage times read off the logged
curves: t_align = first logged step with the query/key noise sign agreement >= 0.95 (their
Stage II), t_21 = first logged step with s_21 <= 0.05 and s_11 at that step (their Fig. 1:
s_21 ~ 0 while s_11 ~ 1/2), t_fit = first logged step with training loss <= 0.05; and each
optimizer's final test error, value ratio and s_21.

Negative controls (``featlab falsify li2025-signgd-transformer``; each must FAIL):
``gd-as-treatment`` feeds GD to the check as the treatment (rows ii, iii, iv, v);
``no-signal`` sets ||\mu|| = 0, so GD cannot generalize either (row iii);
``lr-zero`` trains every arm with lr 1e-9 (lr 0 itself is rejected by ``OptimConfig``): the
weights stay at their initialization, nothing is fitted (rows i, iv, v).

Settings (the paper's synthetic n, d, s, sigma_p, widths, init and lrs were NOT found; not
verified): n = 50, d = 2000, s = 10, ||\mu|| = 1, \sigma_p = 1 (so n s = 500 << d,
s \sigma_p ~ 10 ||\mu|| and n ||\mu||^2 = 5 s \sigma_p^2); m_k = m_v = 8, \sigma_0 = 0.01;
sign-GD lr 1e-3, Adam lr 1e-3 (betas 0.9, 0.999), GD lr 0.5; 300 steps, no early stop.
Measured while choosing them (2 seeds, not a test): sign-GD train loss 0.0009, test loss 0.54-0.60,
test error 0.22-0.30; Adam 0.019 / 0.64-0.66 / 0.35-0.39; GD 0.012 / 0.022-0.025 / 0.0; under
sign-GD s_21 fell below 0.05 by step ~100 while s_11 was 0.42 (0.21 at step 170).

Presets:
- ``quick`` (3 optimizers x 4 seeds, n_test = 300; well under 60 s on one core);
- ``paper``: the same arms x 10 seeds, n = 100, d = 4000, n_test = 2000, 600 steps (declared,
  not run here).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.config import OptimConfig, Setting, TrainConfig
from featlab.data.sparse_tokens import SparseTokenData
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.models.signgd_transformer import SignGDTransformer
from featlab.plots import dynamics_bands
from featlab.sweep import Sweep

__all__ = ["EXPERIMENT", "ARMS", "AXIS", "TREATMENT", "REFERENCE", "FIT_BOUND", "FIT_STEPS",
           "THETA1_BOUND", "MARGIN", "RATIO_BOUND", "S21_BOUND", "S21_TEST_BOUND", "stage_times"]

#: the zipped optimizer axis and its arms (name, lr)
AXIS = "optim.name,optim.lr"
ARMS = (("sign_gd", 1e-3), ("adam", 1e-3), ("gd", 0.5))
#: the optimizers the claim is about, and the one they are compared with
TREATMENT, REFERENCE = ("sign_gd", "adam"), "gd"
#: (i) train loss bound and step budget
FIT_BOUND, FIT_STEPS = 0.05, 300
#: (ii) Theta(1) test loss bound
THETA1_BOUND = 0.3
#: (iii) test-loss margin over GD (and > 3 paired s.e.)
MARGIN = 0.2
#: (iv) value noise / |value signal| bound under sign-GD
RATIO_BOUND = 3.0
#: (v) s_21 bound on the training set and floor on the test split, under sign-GD
S21_BOUND, S21_TEST_BOUND = 0.05, 0.25
#: sign agreement of query and key noise that marks their alignment (reported t_align)
ALIGN = 0.95
#: the lr of the ``lr-zero`` control (OptimConfig rejects lr = 0): 1e-9, i.e. frozen weights
LR_TINY = 1e-9
CURVES = ("train_loss", "test_loss", "s11", "s21", "value_signal", "value_noise",
          "qk_noise_agree")
LABELS = {"s11": "s_11 (signal query -> signal key)", "s21": "s_21 (noise query -> signal key)",
          "value_signal": "<w_V, mu>", "value_noise": "mean y_i <w_V, xi_i>",
          "qk_noise_agree": "sign agreement of query / key noise"}


def _setting(n: int, d: int, n_test: int, steps: int) -> Setting:
    return Setting(
        data=SparseTokenData(n=n, d=d, s=10, mu_norm=1.0, sigma_p=1.0, n_test=n_test),
        model=SignGDTransformer(width_qk=8, width_v=8, sigma_0=0.01),
        optim=OptimConfig(name="sign_gd", lr=1e-3),
        train=TrainConfig(steps=steps, log_schedule="log", log_points=40),
    )


def quick() -> Sweep:
    return Sweep(_setting(50, 2000, 300, FIT_STEPS), {AXIS: list(ARMS)}, seeds=4)


def paper() -> Sweep:
    return Sweep(_setting(100, 4000, 2000, 600), {AXIS: list(ARMS)}, seeds=10)


def _first(steps: np.ndarray, ok: np.ndarray) -> float:
    """First step where ``ok`` holds (NaN if never)."""
    hit = np.nonzero(ok)[0]
    return float(steps[hit[0]]) if len(hit) else float("nan")


def stage_times(curve: pd.DataFrame) -> dict[str, float]:
    """Stage times of one run's logged curve (columns step, train_loss, s11, s21,
    qk_noise_agree; module docstring)."""
    c = curve.sort_values("step")
    steps = c["step"].to_numpy()
    t21 = _first(steps, c["s21"].to_numpy() <= S21_BOUND)
    s11 = float(c.loc[c["step"] == t21, "s11"].iloc[0]) if np.isfinite(t21) else float("nan")
    return {"t_align": _first(steps, c["qk_noise_agree"].to_numpy() >= ALIGN), "t_21": t21,
            "s11_at_t21": s11, "t_fit": _first(steps, c["train_loss"].to_numpy() <= FIT_BOUND)}


def _runs(ctx: Context) -> pd.DataFrame:
    df = ctx.store.table(ctx.sweep_id, axes=["optim.name", "optim.lr"])
    return df[df["status"] == "done"].reset_index(drop=True)


def _paired(df: pd.DataFrame, a: str, b: str, col: str) -> tuple[float, float, int]:
    """Mean and s.e. of col(a) - col(b) over the seeds both optimizers ran."""
    wide = df.pivot_table(index="seed", columns="optim.name", values=col)
    if a not in wide or b not in wide:
        return float("nan"), float("nan"), 0
    diff = (wide[a] - wide[b]).dropna().to_numpy()
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    return float(diff.mean()) if len(diff) else float("nan"), se, len(diff)


def _check_rows(df: pd.DataFrame, stages: pd.DataFrame, treatment: tuple[str, ...],
                reference: str) -> list[dict]:
    rows = []
    by = {name: g for name, g in df.groupby("optim.name")}
    empty = df.iloc[:0]
    for opt in treatment:
        g = stages[stages["optim.name"] == opt]
        t_fit = g["t_fit"].to_numpy(dtype=float)
        worst = float(t_fit.max()) if len(t_fit) else float("nan")   # NaN if a run never fits
        rows.append(check_row(f"premise: {opt} fits fast: max over runs of the first logged "
                              f"step with train loss <= {FIT_BOUND}", f"<= {FIT_STEPS}", worst,
                              bool(len(t_fit) > 0 and worst <= FIT_STEPS)))
    for opt in treatment:
        g = by.get(opt, empty)
        m = float(g["test_loss"].mean()) if len(g) else float("nan")
        rows.append(check_row(f"{opt}: mean test loss stays Theta(1)", f">= {THETA1_BOUND}", m,
                              bool(m >= THETA1_BOUND)))
    for opt in treatment:
        diff, se, k = _paired(df, opt, reference, "test_loss")
        ok = k > 1 and diff >= MARGIN and diff > 3 * se
        rows.append(check_row(f"{reference} generalizes better: test loss({opt}) - test loss"
                              f"({reference}), paired over {k} seeds",
                              f">= {MARGIN} and > 3 s.e.", f"{diff:.3f} +- {se:.3f}", ok))
    g = by.get(treatment[0], empty)
    ratio = float(g["value_ratio"].min()) if len(g) else float("nan")
    rows.append(check_row(f"{treatment[0]} memorizes noise (value side): min over runs of "
                          f"mean_i y_i <w_V, xi_i> / |<w_V, mu>|", f">= {RATIO_BOUND}", ratio,
                          bool(ratio >= RATIO_BOUND)))
    s21, s21t = (float(g["s21"].max()), float(g["s21_test"].min())) if len(g) else (np.nan, np.nan)
    rows.append(check_row(f"{treatment[0]} memorizes noise (attention): max s_21 on train, "
                          f"min s_21 on test", f"<= {S21_BOUND} and >= {S21_TEST_BOUND}",
                          f"{s21:.3g}, {s21t:.3g}",
                          bool(s21 <= S21_BOUND and s21t >= S21_TEST_BOUND)))
    return rows


def _stage_table(ctx: Context, df: pd.DataFrame) -> pd.DataFrame:
    curves = ctx.store.metrics(ctx.sweep_id, ("train_loss", "s11", "s21", "qk_noise_agree"))
    wide = curves.pivot_table(index=["run_id", "step"], columns="name",
                              values="value").reset_index()
    rows = [{"optim.name": r["optim.name"], "seed": r["seed"],
             **stage_times(wide[wide["run_id"] == r["run_id"]])} for _, r in df.iterrows()]
    return pd.DataFrame(rows)


def _report_rows(df: pd.DataFrame, stages: pd.DataFrame) -> list[dict]:
    rows = []
    for opt, g in stages.groupby("optim.name", sort=False):
        m = g.mean(numeric_only=True)
        rows.append(report_row(f"{opt}: stage times (mean over seeds)",
                               "reported: t_align (q/k noise signs agree >= 0.95), t_21 (s_21 <= "
                               "0.05) with s_11 there (Fig. 1: ~1/2), t_fit (train loss <= 0.05)",
                               f"t_align {m['t_align']:.4g}, t_21 {m['t_21']:.4g} (s_11 "
                               f"{m['s11_at_t21']:.3g}), t_fit {m['t_fit']:.4g}"))
    for opt, g in df.groupby("optim.name", sort=False):
        rows.append(report_row(f"{opt}: final test error, value ratio, s_21 (means)", "reported",
                               f"{g['test_error'].mean():.3g}, {g['value_ratio'].mean():.3g}, "
                               f"{g['s21'].mean():.3g}"))
    return rows


def analyze(ctx: Context) -> Analysis:
    treatment = tuple(ctx.theory.get("treatment", TREATMENT))
    df = _runs(ctx)
    stages = _stage_table(ctx, df)
    rows = [*_check_rows(df, stages, treatment, REFERENCE), *_report_rows(df, stages)]
    curves = ctx.store.metrics(ctx.sweep_id, CURVES).merge(df[["run_id", "optim.name"]],
                                                           on="run_id")
    curves["group"] = curves["optim.name"]
    fig = dynamics_bands(curves, CURVES, path=ctx.out_dir / "dynamics.png", group="group",
                         logx=True, labels=LABELS,
                         title=f"Li et al. 2025, sign-GD / Adam / GD ({ctx.preset})")
    means = df.groupby("optim.name")[["train_loss", "test_loss", "test_error", "value_ratio",
                                      "s11", "s21", "s21_test"]].mean().reset_index()
    return Analysis.from_rows(
        rows, figures=[("Training dynamics per optimizer (mean +- sd over seeds): losses, the "
                        "softmax outputs s_11 and s_21 (their Fig. 1c), the mean value signal "
                        "and noise (Fig. 1b) and the query/key noise sign agreement.", fig)],
        tables=[("Final metrics per optimizer (means over seeds)", means),
                ("Stage times per run", stages)])


CONTROLS = (
    Control("gd-as-treatment", "GD is fed to the check as the treatment: its test loss is small, "
            "no margin over itself, no noise memorization; rows ii-v must fail",
            theory={"treatment": ("gd",)}),
    Control("no-signal", "||mu|| = 0: no optimizer can generalize, GD's test loss is Theta(1) "
            "too; the GD-margin rows must fail",
            sweep=lambda s: s.with_overrides({"data.mu_norm": 0.0})),
    Control("lr-zero", "every arm trained with lr 1e-9 (~0; lr 0 is rejected): nothing is "
            "fitted or memorized; the premise and memorization rows must fail",
            sweep=lambda s: s.with_grid({AXIS: [(name, LR_TINY) for name, _ in ARMS]})),
)

EXPERIMENT = Experiment(
    name="li2025-signgd-transformer",
    paper="Li, Huang, Han, Zhou, Suzuki, Zhu, Chen. On the Optimization and Generalization of "
          "Two-layer Transformers with Sign Gradient Descent. ICLR 2025 (arXiv 2410.04870)",
    figure="Fig. 1 (sign-GD dynamics: value noise, softmax outputs s_11 / s_21) and the "
           "sign-GD / Adam / GD comparison on synthetic data",
    claim="Sign-GD and Adam drive a two-layer transformer's training loss to ~0 fast while its "
          "test loss stays Theta(1) (query, key and value memorize the noise); GD on the same "
          "data generalizes.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 12 runs x 300 steps, well under 60 s on one core; paper: 30 runs (not run)",
    controls=CONTROLS,
    criteria=f"sign-GD and Adam: every run's train loss <= {FIT_BOUND} by step {FIT_STEPS}; "
             f"mean test loss >= {THETA1_BOUND}; exceeds GD's by >= {MARGIN} and > 3 paired s.e.; "
             f"sign-GD: value noise / |value signal| >= {RATIO_BOUND} and s_21 <= {S21_BOUND} on "
             f"train (>= {S21_TEST_BOUND} on test) in every run. Stage times: reported.",
)
