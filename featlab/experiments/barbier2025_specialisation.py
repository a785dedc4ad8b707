r"""barbier2025-specialisation: a student MLP of width k ~ d specialises to its teacher once n ~ d^2.

Paper: Barbier, Camilli, Nguyen, Pastore, Skerk, "Statistical physics of deep learning: optimal
learning of a multi-layer perceptron near interpolation", arXiv 2510.24616 (2025), with the
two-layer analysis of arXiv 2501.18530 (same authors).

Claim (verified from the abstracts): for a teacher-student two-layer network whose width k and
input dimension d are large and proportional, with n samples at a sampling rate alpha = n / d^2
(the interpolation regime: about k d + k parameters), the optimal student passes from a
*universal* phase (it learns only non-linear combinations of the teacher weights; the error
decays slowly with alpha) to a *specialisation* phase (its neurons align with the teacher's;
the error decays faster), through a discontinuous transition; neurons with a larger readout
(a larger share of the target) specialise first, and practical algorithms may not reach the
specialised solution. NOT verified (not read in the paper body): the activation, the readout
prior and normalisation, the label-noise level and the alpha at which the transition sits;
the choices below are featlab's and a finite-d sweep measures a smooth crossover, not a sharp
transition.

Setting (featlab's choices, :mod:`featlab.data.mlp_teacher`): x ~ N(0, I_d), teacher
f^*(x) = \sum_{j<=k} a^*_j \tanh(<w^*_j, x>), w^*_j ~ N(0, I/d), a^*_j ~ N(0, 1/k), k = d
(kappa = 1), label noise sqrt(Delta) = 0.05; the student is the same architecture (featlab's MLP,
depth 2, width k, tanh, no biases, SP init N(0, 1/fan_in)) trained from random init on the
squared loss L = (1/n) \sum (f - y)^2, full batch, by

- GD, lr 0.5 (``optim.name="langevin"`` at T = 0, the same update);
- Langevin dynamics (a population of chains), W <- W - eta grad L + sqrt(2 eta T) xi, at the
  Bayes temperature T = 2 Delta / n of the Gaussian noise model (flat prior):
  exp(-L / T) = \prod_mu exp(-(y_mu - f_mu)^2 / (2 Delta)), i.e. each chain samples the
  posterior for small eta.

Order parameter (:func:`featlab.probes.teacher_overlap`): q_w = \sum_i c_i max_j |cos(w^*_i,
w_j)| with c_i = a_i^{*2} / \sum_l a_l^{*2} (each teacher neuron weighted by its share of the
target; the paper's "stronger features specialise first" makes the unweighted mean, also
logged as ``teacher_overlap``, rise later; the permutation-matched overlap
:func:`featlab.probes.matched_overlap`, one student neuron per teacher neuron, is reported too).
Random student neurons give about 0.5 at d = 12-16.

Checks (stated before any paper run), for each of GD and Langevin, over seeds:
- universal: at the smallest alpha, mean q_w + 3 s.e. <= 0.70;
- specialised: at the largest alpha, mean q_w - 3 s.e. >= 0.80;
- error: the seed-mean test loss at the largest alpha is <= 0.5 x that at the smallest alpha;
- premise (converged): at every alpha the seed-mean train loss fell by at most Delta = noise^2
  over the last quarter of training (L(3T/4) - L(T) <= Delta: a plateau at the label-noise
  scale; seed means, because a Langevin chain's loss fluctuates by O(T x #params)), and no run
  diverged.
Reported: the alpha of the steepest rise of q_w (geometric midpoint of the steepest consecutive
pair on log alpha; with the seed-bootstrap spread), q_w and the unweighted overlap per alpha.
Measured (quick, 2 CPU cores shared): see CHECKS.md.

Controls (each must FAIL the check): the training labels shuffled (nothing to specialise to);
lr = 1e-6 (no training: q_w stays at its random-init value); student width 1 (one neuron
cannot align with k teacher neurons).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featlab.config import MLP, OptimConfig, Setting, TrainConfig
from featlab.data.mlp_teacher import MLPTeacherData
from featlab.experiments.base import Analysis, Context, Control, Experiment, check_row, report_row
from featlab.plots import save_figure
from featlab.sweep import Sweep

__all__ = ["EXPERIMENT", "UNIVERSAL_MAX", "SPECIALISED_MIN", "bayes_temperature", "steepest_rise"]

#: Bounds of the check (stated before the paper run).
UNIVERSAL_MAX = 0.70
SPECIALISED_MIN = 0.80
ERROR_RATIO = 0.5
NOISE = 0.05
ALPHA_AXIS = "data.alpha,optim.temperature"


def bayes_temperature(alpha: float, d: int, noise: float = NOISE) -> float:
    r"""T = 2 Delta / n, n = round(alpha d^2): exp(-L/T) is the Gaussian likelihood of the labels."""
    return 2.0 * noise ** 2 / max(1, round(alpha * d * d))


def _setting(d: int, steps: int) -> Setting:
    return Setting(
        data=MLPTeacherData(d=d, kappa=1.0, alpha=1.0, n_test=512, activation="tanh",
                            readout="gaussian", noise=NOISE),
        model=MLP(depth=2, width=d, activation="tanh", bias=False),
        optim=OptimConfig(name="langevin", lr=0.5, temperature=0.0),
        train=TrainConfig(steps=steps, log_schedule="linear", log_points=5),
    )


def _sweep(d: int, alphas: list[float], steps: int, seeds: int) -> Sweep:
    """GD is Langevin at T = 0 (the same update, bit for bit), so both arms of one alpha share
    a chunk: one zipped axis of (alpha, T) with T in {0, the Bayes temperature}."""
    return Sweep(_setting(d, steps), {
        ALPHA_AXIS: [(a, T) for a in alphas for T in (0.0, bayes_temperature(a, d))]},
        seeds=seeds)


def quick() -> Sweep:
    return _sweep(12, [0.25, 1.0, 4.0], 2000, 3)


def paper() -> Sweep:
    return _sweep(32, [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0], 20000, 8)


def steepest_rise(alphas: np.ndarray, q: np.ndarray) -> float:
    """Geometric midpoint sqrt(alpha_i alpha_{i+1}) of the steepest rise of q per unit log alpha
    (``alphas`` sorted, q (len(alphas),) means); NaN with fewer than 2 points."""
    if len(alphas) < 2:
        return float("nan")
    slope = np.diff(q) / np.diff(np.log(alphas))
    i = int(np.argmax(slope))
    return float(np.sqrt(alphas[i] * alphas[i + 1]))


def _frame(ctx: Context) -> pd.DataFrame:
    """One row per run: method, alpha, seed, status, final metrics and the train loss at T/2."""
    t = ctx.store.table(ctx.sweep_id, ["data.alpha", "optim.temperature"])
    t["data.alpha"] = t["data.alpha"].astype(float)
    t["method"] = np.where(t["optim.temperature"].astype(float) > 0, "langevin", "gd")
    m = ctx.store.metrics(ctx.sweep_id, ["train_loss"])
    if len(m):
        late = m.groupby("run_id")["step"].transform("max") * 0.75
        m = m[m["step"] <= late].sort_values("step").groupby("run_id").tail(1)
        t = t.join(m.set_index("run_id")["value"].rename("train_loss_late"), on="run_id")
    else:
        t["train_loss_late"] = np.nan
    return t


def _sem(x: pd.Series) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) >= 2 else float("inf")


def _rows_for(g: pd.DataFrame, method: str, noise: float) -> list[dict]:
    ok = g[g["status"] == "done"]
    alphas = np.array(sorted(g["data.alpha"].unique()))
    lo, hi = alphas[0], alphas[-1]
    q_lo = ok[ok["data.alpha"] == lo]["teacher_overlap_weighted"]
    q_hi = ok[ok["data.alpha"] == hi]["teacher_overlap_weighted"]
    up_lo = float(q_lo.mean() + 3 * _sem(q_lo)) if len(q_lo) else float("nan")
    dn_hi = float(q_hi.mean() - 3 * _sem(q_hi)) if len(q_hi) else float("nan")
    rows = [check_row(f"{method}: universal, q_w + 3 s.e. at alpha = {lo:g}",
                      f"<= {UNIVERSAL_MAX}", up_lo, bool(up_lo <= UNIVERSAL_MAX)),
            check_row(f"{method}: specialised, q_w - 3 s.e. at alpha = {hi:g}",
                      f">= {SPECIALISED_MIN}", dn_hi, bool(dn_hi >= SPECIALISED_MIN) and hi > lo)]
    e_lo = ok[ok["data.alpha"] == lo]["test_loss"].mean()
    e_hi = ok[ok["data.alpha"] == hi]["test_loss"].mean()
    ratio = float(e_hi / e_lo) if e_lo > 0 else float("nan")
    rows.append(check_row(f"{method}: test loss alpha = {hi:g} / alpha = {lo:g}",
                          f"<= {ERROR_RATIO}", ratio, bool(ratio <= ERROR_RATIO)))
    per_alpha = g.groupby("data.alpha")[["train_loss_late", "train_loss"]].mean()
    drop = float((per_alpha["train_loss_late"] - per_alpha["train_loss"]).max())
    n_bad = int((g["status"] != "done").sum())
    rows.append(check_row(f"{method}: premise converged, max over alpha of the seed-mean "
                          f"L(3T/4) - L(T) ({n_bad} runs diverged)",
                          f"<= Delta = {noise ** 2:g}, 0 diverged",
                          drop, bool(drop <= noise ** 2) and n_bad == 0))
    mean = ok.groupby("data.alpha")["teacher_overlap_weighted"].mean().reindex(alphas)
    rise = steepest_rise(alphas, mean.to_numpy())
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(200):               # resample seeds within each alpha
        qb = [rng.choice(ok[ok["data.alpha"] == a]["teacher_overlap_weighted"].to_numpy(),
                         size=int((ok["data.alpha"] == a).sum())).mean() for a in alphas]
        boots.append(steepest_rise(alphas, np.array(qb)))
    boots = np.log(np.array(boots))
    spread = f"{rise:.3g} (seed bootstrap of log alpha: s.d. {np.nanstd(boots):.2g})"
    rows.append(report_row(f"{method}: alpha of the steepest rise of q_w",
                           "the universal-to-specialised crossover", spread))
    sem = ok.groupby("data.alpha")["teacher_overlap_weighted"].agg(_sem).reindex(alphas)
    rows.append(report_row(f"{method}: q_w per alpha (mean +- s.e.)", "rises with alpha",
                           ", ".join(f"{a:g}: {m:.3f}+-{s:.3f}" for a, m, s in
                                     zip(alphas, mean, sem))))
    q_u = ok.groupby("data.alpha")["teacher_overlap"].mean().reindex(alphas)
    rows.append(report_row(f"{method}: unweighted overlap per alpha", "rises later than q_w",
                           ", ".join(f"{a:g}: {m:.3f}" for a, m in zip(alphas, q_u))))
    if "teacher_overlap_matched" in ok:
        q_m = ok.groupby("data.alpha")["teacher_overlap_matched"].mean().reindex(alphas)
        rows.append(report_row(f"{method}: permutation-matched overlap per alpha",
                               "<= the unweighted overlap; rises with alpha",
                               ", ".join(f"{a:g}: {m:.3f}" for a, m in zip(alphas, q_m))))
    return rows


def _rows(t: pd.DataFrame, noise: float) -> list[dict]:
    rows = []
    for method in ("gd", "langevin"):
        g = t[t["method"] == method]
        if len(g):
            rows += _rows_for(g, method, noise)
    return rows


def _figure(t: pd.DataFrame, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4))
    for method, color in (("gd", "#0072B2"), ("langevin", "#D55E00")):
        g = t[(t["method"] == method) & (t["status"] == "done")]
        for ax, col in zip(axes, ("teacher_overlap_weighted", "test_loss")):
            s = g.groupby("data.alpha")[col].agg(["mean", "sem"])
            ax.errorbar(s.index, s["mean"], yerr=s["sem"].fillna(0), marker="o", color=color,
                        label=method, capsize=2)
    axes[0].axhline(UNIVERSAL_MAX, color="grey", ls=":", lw=1)
    axes[0].axhline(SPECIALISED_MIN, color="grey", ls="--", lw=1)
    axes[0].set_ylabel("weighted teacher overlap q_w")
    axes[1].set_ylabel("test loss")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("alpha = n / d^2")
    axes[0].legend()
    return save_figure(fig, path)


def analyze(ctx: Context) -> Analysis:
    t = _frame(ctx)
    noise = ctx.sweep.setting.data.noise
    rows = _rows(t, noise)
    fig = _figure(t, ctx.out_dir / "specialisation.png")
    table = t.groupby(["method", "data.alpha"]).agg(
        q_w=("teacher_overlap_weighted", "mean"), q=("teacher_overlap", "mean"),
        test_loss=("test_loss", "mean"), train_loss=("train_loss", "mean"),
        runs=("run_id", "count")).reset_index()
    return Analysis.from_rows(rows, figures=[("Teacher overlap and test loss vs alpha "
                                              "(mean +- s.e. over seeds)", fig)],
                              tables=[("Overlap and losses by method and alpha", table)])


def _shuffled(sweep: Sweep) -> Sweep:
    return sweep.with_overrides({"data.shuffle_labels": True})


def _lr_tiny(sweep: Sweep) -> Sweep:
    return sweep.with_overrides({"optim.lr": 1e-6})


def _width_one(sweep: Sweep) -> Sweep:
    return sweep.with_overrides({"model.width": 1})


EXPERIMENT = Experiment(
    name="barbier2025-specialisation",
    paper="Barbier, Camilli, Nguyen, Pastore, Skerk. Statistical physics of deep learning: optimal "
          "learning of a multi-layer perceptron near interpolation. arXiv 2510.24616 (2025)",
    figure="the universal-to-specialisation transition of the teacher overlap vs alpha = n/d^2",
    claim="A width-k ~ d student trained on n = alpha d^2 teacher samples stays in a universal "
          "(low-overlap) phase at small alpha and specialises (neurons align with the teacher's, "
          "lower test error) at large alpha, for GD and for Langevin chains.",
    presets={"quick": quick, "paper": paper},
    analyze=analyze,
    runtime="quick: 18 runs (d = 12), about 30-60 s on 2 shared CPU cores",
    controls=(
        Control("labels-shuffled", "training labels permuted: nothing to specialise to; the "
                "'specialised' row must fail", _shuffled),
        Control("lr-tiny", "lr = 1e-6: no training; q_w stays at its random-init value and the "
                "'specialised' and error rows must fail", _lr_tiny),
        Control("width-one", "student width 1: one neuron cannot align with k teacher neurons; "
                "the 'specialised' row must fail", _width_one),
    ),
    criteria=f"PASS iff, for GD and for Langevin at the Bayes temperature, the weighted teacher "
             f"overlap at the smallest alpha is <= {UNIVERSAL_MAX} and at the largest alpha >= "
             f"{SPECIALISED_MIN}, each by a margin of 3 seed s.e., the test loss at the largest "
             f"alpha is <= {ERROR_RATIO} x that at the smallest, no run diverged and at every alpha "
             f"the seed-mean train loss fell by at most Delta = noise^2 over the last quarter of "
             f"training.",
)
