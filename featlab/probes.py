r"""Probes: what a population logs, declared per (model family, data model) instead of one
fixed metric tuple.

A :class:`Probe` says which settings it applies to (``applies(setting)``), the names it logs
(``names(setting)``) and how to compute them for the logged runs (``compute(ctx)`` -> {name: (L,)}).
``metric_names`` of a setting is the concatenation of its probes' names.

Generic probes (every family on the generic path, :mod:`featlab.train.generic`):

- ``loss_error``: train_loss (full batch), test_loss, and train_error / test_error (0-1) where
  the task has one;
- ``weight_movement``: weight_movement_<group> = ||W_t - W_0|| / ||W_0|| over the parameters of
  each group (NaN for a group that starts at 0, e.g. biases);
- ``act_scale``: act_scale_<layer> = mean |h^l| over the training batch and units, the
  coordinate-check statistic (mup's ``coord_check``), recorded through the family's
  ``apply(..., taps=True)`` without module hooks;
- ``readout_ridge`` (when ``train.readout_ridge`` = lambda > 0): the last hidden layer's features
  with the readout refitted by ridge on a fresh sample (split "ridge"), its test risk and its
  excess risk against the noiseless target (Ba et al. 2022's second stage; :func:`_ridge_readout`);
- ``ntk`` (families that declare it, regression): the kernel distance S(K_0, K_t) of the empirical
  tangent kernel and the test loss of the linearized model trained alike (:func:`_ntk`);
- ``feature_movement``: feature_movement_<layer> = mean |h^l(theta_t) - h^l(theta_0)| over the
  training batch and units, the feature update whose width exponent is -r in TP IV (Yang & Hu,
  arXiv 2011.14522, Def. 3.2: Delta h = Theta(n^{-r}));
- ``feature_ratio`` (families that declare it, patch data): signal_max = max_{r,j}
  |<w_r - w_r^0, \mu_j>|, noise_max = max_{r,i} |<w_r - w_r^0, \xi_i>| (training noise patches),
  feature_ratio = signal_max / noise_max, feature_ratio_raw the same with w_r (Han et al. 2025's
  signal/noise learning ratio; :mod:`featlab.models.tied_denoiser`);
- ``neural_collapse`` (multiclass tasks only: cross-entropy or one-hot MSE): nc1, nc2_*, nc3, nc4
  of the last hidden layer's
  features on the training set and the output layer's weights
  (:mod:`featlab.diagnostics.neural_collapse`; Papyan, Han, Donoho 2020).

A probe that needs data beyond the train and test splits names them in ``splits``; the trainer
samples them from the run's data model (its own streams) as X_<split>, y_<split>.

The two-layer CNN on patch data (its analytic / span trainer, :mod:`featlab.train.population`)
has its own probes, registered here from :mod:`featlab.diagnostics.patch_probes`: ``train_fit``,
``gaussian_test`` (the Gaussian test estimator), ``signal_noise_decomposition`` (gamma/rho),
``cnn_weight_movement``, ``feature_gammas``, ``group_errors``; their names, in registry order,
are the stored column order of the CNN sweeps. The generic probes do not apply to it.

Probes of label-flip data (a data config with a ``flips`` count whose samples carry a
``flipped`` indicator, e.g. :mod:`featlab.data.tokens`):

- ``label_flips``: train_error_clean / train_error_flipped = the 0-1 error of the observed
  label on the unflipped / flipped training samples (NaN where there are none): a flipped
  sample is *fitted* when its error is 0.

Attention probes (a family whose ``apply(..., taps=True)`` returns ``{"attn": s}`` (n, T) and
lists ``"attention"`` in its probes, on token data with a relevant token):

- ``attention``: attn_relevant_clean / attn_relevant_flipped = the mean softmax mass
  s_1 on the relevant token over the clean / flipped training samples, attn_opposite_flipped =
  the mass on the weakly relevant token of the opposite class (\rho \mu_{-y}, the token that
  agrees with a flipped label) over the flipped samples, attn_relevant_test = s_1 over the test
  samples, attn_entropy = the mean softmax entropy -\sum_t s_t \log s_t over the training
  samples (\log T at uniform attention).

Embedding probes (a family listing ``"embedding_selection"`` on
:mod:`featlab.data.vocab_tokens`; :mod:`featlab.diagnostics.embedding_selection`):

- ``embedding_selection``: align_corr / align_corr_empirical / align_slope_ratio (token-embedding
  alignment <E_s - E_s^0, v> against each token's average signed frequency), important_top,
  attn_important(_test) (softmax mass on the important token) and mm_cosine / mm_cosine_init
  (cosine of p with the max-margin selector of the current / initial embeddings).

Sign-GD transformer probes (the family :mod:`featlab.models.signgd_transformer`, which lists
``"signgd_stages"``, on two-token sparse-noise data :mod:`featlab.data.sparse_tokens`):

- ``signgd_stages``: s11 / s21 (softmax weight of the signal / noise query on the signal key,
  train; s21_test on the test split), value_signal = <w_V, mu>, value_noise = mean_i y_i
  <w_V, xi_i> and their ratio, qk_noise_agree (sign agreement of query and key noise),
  score_noise / score_signal (pre-softmax self-scores); Li et al. 2025's stage quantities.

In-context regression probes (a family listing ``"icl"`` with a ``Gamma`` parameter, on
:mod:`featlab.data.icl_regression` prompts), at the test prompts' context length m:

- ``icl``: icl_risk = the exact ICL risk R_m(\Gamma) (:func:`featlab.theory.icl.icl_risk`),
  icl_excess = R_m(\Gamma) - R_m(\Gamma^*_m) (>= 0), and icl_mc_se = the standard error of the
  test loss (the Monte Carlo estimate of R_m over the n_test test prompts).

Contrastive probes (a family listing ``"contrastive"`` on :mod:`featlab.data.contrastive_pairs`;
:mod:`featlab.diagnostics.contrastive`):

- ``linear_probe``: probe_train_accuracy / ood_accuracy of a ridge classifier fitted on the
  view-1 features of the training set and scored on the out-of-distribution test split;
- ``signal_noise_views``: signal_<v> = max_r <w_r, mu_v> and noise_<v> = max_{r,i} <w_r, xi_{v,i}>
  of each view's encoder (v = 1, 2).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch.func import vmap

from featlab.data import input_shape
from featlab.linalg import spd_solve

__all__ = ["Probe", "PROBES", "generic_probes", "probe_names", "teacher_overlap",
           "matched_overlap"]


@dataclass(frozen=True)
class Probe:
    """A named diagnostic (module docstring)."""

    name: str
    applies: Callable[[Any], bool]
    names: Callable[[Any], tuple[str, ...]]
    compute: Callable[[Any], dict[str, torch.Tensor]]
    splits: tuple[str, ...] = ()            # extra data splits the trainer samples for it


def _task(setting):
    from featlab.train.tasks import task_of
    return task_of(setting.data, setting.model)


def _family(setting):
    from featlab.models import family_of
    return family_of(setting.model)


def _loss_names(setting) -> tuple[str, ...]:
    err = _task(setting).error is not None
    return ("train_loss", "test_loss") + (("train_error", "test_error") if err else ())


def _loss_error(ctx) -> dict[str, torch.Tensor]:
    fam, cfg, task = ctx.family, ctx.setting.model, ctx.task
    ft = vmap(lambda p, x: fam.apply(cfg, p, x))(ctx.params, ctx.data["Xt"])
    out = {"train_loss": ctx.loss, "test_loss": vmap(task.loss)(ft, ctx.data["yt"]).mean(1)}
    if task.error is not None:
        out["train_error"] = vmap(task.error)(ctx.f, ctx.data["y"]).mean(1)
        out["test_error"] = vmap(task.error)(ft, ctx.data["yt"]).mean(1)
    return out


def _movement_names(setting) -> tuple[str, ...]:
    groups = _family(setting).param_groups(setting.model)
    return tuple(f"weight_movement_{g}" for g in dict.fromkeys(groups.values()))


def _sq_norm(x: torch.Tensor) -> torch.Tensor:
    """(P,) squared Frobenius norm per run, accumulated in float64 (one fused norm; float32
    accumulation was 2e-4 off on 2048 x 2048 weights)."""
    return torch.linalg.vector_norm(x.flatten(1), dim=1, dtype=torch.float64) ** 2


def _movement(ctx) -> dict[str, torch.Tensor]:
    out = {}
    for g in dict.fromkeys(ctx.groups.values()):
        keys = [k for k, lab in ctx.groups.items() if lab == g]
        num = sum(_sq_norm(ctx.params[k] - ctx.W0[k]) for k in keys)
        den = sum(_sq_norm(ctx.W0[k]) for k in keys)
        out[f"weight_movement_{g}"] = (num / den).sqrt()
    return out


@functools.lru_cache(maxsize=256)
def _layers(setting) -> tuple[str, ...]:
    """Layer names the family's apply taps (one dry run of one tiny run)."""
    fam = _family(setting)
    shape = input_shape(setting.data)
    out_dim = _task(setting).out_dim(setting.data)
    p = {k: v[0] for k, v in fam.init(setting.model, [0], shape, torch.float64, out_dim).items()}
    _, taps = fam.apply(setting.model, p, torch.zeros(1, *shape, dtype=torch.float64), taps=True)
    return tuple(taps)


def _act_scale(ctx) -> dict[str, torch.Tensor]:
    fam, cfg = ctx.family, ctx.setting.model
    taps = vmap(lambda p, x: fam.apply(cfg, p, x, taps=True)[1])(ctx.params, ctx.data["X"])
    return {f"act_scale_{k}": h.abs().flatten(1).mean(1) for k, h in taps.items()}


def _ridge_readout(ctx) -> dict[str, torch.Tensor]:
    r"""Refit the readout by ridge on the fresh "ridge" sample and score it on the test split.

    With H (n, N) the last hidden layer's activations on the fresh sample (the family's taps),
    a = argmin_a (1/n) ||y - H a||^2 + lambda ||a||^2, solved in the smaller of the primal
    (N x N) and dual (n x n) forms. Ba et al. 2022 write the readout as (1/sqrt N) a^T sigma with
    penalty (lambda/N) ||a||^2: the same estimator in these units. Logs ridge_risk = mean (y_t -
    H_t a)^2 on the test split (noise included) and ridge_excess = mean (f*_t - H_t a)^2 against
    the noiseless target where the data model provides one (NaN otherwise)."""
    fam, cfg = ctx.family, ctx.setting.model
    lam = float(ctx.setting.train.readout_ridge)
    last = lambda p, x: list(fam.apply(cfg, p, x, taps=True)[1].values())[-1]  # noqa: E731
    H = vmap(last)(ctx.params, ctx.data["X_ridge"]).double()                 # (L, n, N)
    Ht = vmap(last)(ctx.params, ctx.data["Xt"]).double()                     # (L, n_t, N)
    y = ctx.data["y_ridge"].double()                                         # (L, n)
    L, n, N = H.shape
    if N <= n:
        G = H.transpose(1, 2) @ H / n + lam * torch.eye(N, dtype=H.dtype, device=H.device)
        a = spd_solve(G, (H.transpose(1, 2) @ y[..., None]) / n)             # (L, N, 1)
    else:
        K = H @ H.transpose(1, 2) / n + lam * torch.eye(n, dtype=H.dtype, device=H.device)
        a = H.transpose(1, 2) @ spd_solve(K, y[..., None]) / n               # (L, N, 1)
    pred = (Ht @ a)[..., 0]                                                  # (L, n_t)
    out = {"ridge_risk": (ctx.data["yt"].double() - pred).pow(2).mean(1)}
    star = ctx.data.get("f_star_test")                                       # noiseless target
    out["ridge_excess"] = ((star.double() - pred).pow(2).mean(1) if star is not None
                           else torch.full((L,), float("nan"), dtype=torch.float64))
    return out


def _kernels(fam, cfg, params: dict, X: torch.Tensor, weights: dict[str, float]) -> torch.Tensor:
    """Effective tangent kernels K = sum_k m_k J_k J_k^T (L, n, n) of the one-output model, J_k =
    d f(x_i) / d theta_k over the trained parameters k with their lr multipliers m_k (the kernel
    of gradient descent with per-group learning rates), per logged run (jacrev inside vmap)."""
    from torch.func import jacrev

    def one(p, x):
        train = {k: p[k] for k in weights}
        fixed = {k: v for k, v in p.items() if k not in train}
        jac = jacrev(lambda t: fam.apply(cfg, {**fixed, **t}, x))(train)     # {k: (n, *shape)}
        return sum(weights[k] * (J := jac[k].reshape(x.shape[0], -1)) @ J.T for k in weights)

    return vmap(one)(params, X)


def _lr_weights(ctx) -> dict[str, float]:
    """Each trained parameter's lr multiplier: the family's parametrization x optim.group_lr."""
    from featlab.config import group_lr_multipliers

    s, fam = ctx.setting, ctx.family
    shape = tuple(ctx.data["X"].shape[2:])
    base = fam.lr_multipliers(s.model, s.optim.name, shape) if fam.lr_multipliers else {}
    user = group_lr_multipliers(s.optim.group_lr)
    return {k: base.get(g, 1.0) * user.get(g, 1.0) for k, g in ctx.groups.items()}


def _ntk(ctx) -> dict[str, torch.Tensor]:
    r"""Kernel distance and the linearized model's test loss (lazy-vs-rich diagnostics).

    K_0, K_t: effective tangent kernels (:func:`_kernels`: per-group lr multipliers included) at
    initialization and now on the training inputs; S(K_0, K_t) = 1 - <K_0, K_t>_F / (||K_0||_F ||K_t||_F) (Fort et al. 2020, arXiv 2010.15110).
    The linearized model f_lin(w) = f(w_0) + J_0 (w - w_0) trained by the same full-batch GD on
    the squared loss (1/n) sum (f - y)^2 from f(w_0) = 0 (a centered model) has, after t steps
    with function-space rate c = 2 lr / n on the effective kernel,
    test predictions f_t(x) = K_0(x, X) U diag((1 - (1 - c lambda)^t) / lambda) U^T y, with
    K_0(X, X) = U diag(lambda) U^T; lin_test_loss = mean (f_t - y_test)^2. This is kernel (NTK)
    regression stopped at t, the trained net's lazy limit."""
    fam, cfg = ctx.family, ctx.setting.model
    weights = _lr_weights(ctx)
    X, Xt, y = ctx.data["X"], ctx.data["Xt"], ctx.data["y"].double()
    n = X.shape[1]
    K_t = _kernels(fam, cfg, ctx.params, X, weights).double()                    # (L, n, n)
    K_all = _kernels(fam, cfg, ctx.W0, torch.cat([X, Xt], 1), weights).double()
    K_0, K_x0 = K_all[:, :n, :n], K_all[:, n:, :n]                               # (L, n, n), (L, n_t, n)
    inner = (K_0 * K_t).flatten(1).sum(1)
    dist = 1 - inner / (K_0.flatten(1).norm(dim=1) * K_t.flatten(1).norm(dim=1))
    lam, U = torch.linalg.eigh(K_0)                                              # (L, n), (L, n, n)
    c = (2 * ctx.hp["lr"].double() / n)[:, None]
    t = float(ctx.step)
    lam_c = lam.clamp_min(0)
    small = c * lam_c < 1e-12
    gain = torch.where(small, c * t, (1 - (1 - c * lam_c) ** t) / lam_c.clamp_min(1e-300))
    coef = U @ (gain[..., None] * (U.transpose(1, 2) @ y[..., None]))            # (L, n, 1)
    f_lin = (K_x0 @ coef)[..., 0]                                                # (L, n_t)
    return {"ntk_distance": dist, "lin_test_loss": (f_lin - ctx.data["yt"].double()).pow(2).mean(1)}


def _feature_movement(ctx) -> dict[str, torch.Tensor]:
    fam, cfg = ctx.family, ctx.setting.model
    taps = lambda p, x: fam.apply(cfg, p, x, taps=True)[1]  # noqa: E731
    now = vmap(taps)(ctx.params, ctx.data["X"])
    start = vmap(taps)(ctx.W0, ctx.data["X"])
    return {f"feature_movement_{k}": (h - start[k]).abs().flatten(1).mean(1) for k, h in now.items()}


def _applies_nc(setting) -> bool:
    return "neural_collapse" in _family(setting).probes and _task(setting).name in ("multiclass", "multiclass_mse")


def _neural_collapse(ctx) -> dict[str, torch.Tensor]:
    from featlab.diagnostics.neural_collapse import NC_NAMES, nc_metrics

    fam, cfg = ctx.family, ctx.setting.model
    taps = vmap(lambda p, x: fam.apply(cfg, p, x, taps=True)[1])(ctx.params, ctx.data["X"])
    H = taps[list(taps)[-1]]                                                 # (L, n, p)
    out_key = next(k for k, g in ctx.groups.items() if g == "output" and ctx.params[k].dim() == 3)
    C = ctx.task.out_dim(ctx.setting.data)
    rows = [nc_metrics(H[i], ctx.data["y"][i], ctx.params[out_key][i], ctx.f[i], C)
            for i in range(H.shape[0])]
    return {k: torch.stack([r[k] for r in rows]) for k in NC_NAMES}


def _generic(s) -> bool:
    from featlab.diagnostics.patch_probes import applies_to_patch_cnn
    return not applies_to_patch_cnn(s)


def _patch_probes() -> dict[str, Probe]:
    from featlab.diagnostics.patch_probes import PATCH_PROBES
    return {name: Probe(name, applies, names, compute)
            for name, applies, names, compute in PATCH_PROBES}


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(L,) mean of x (L, n) over the samples where mask (L, n) is 1 (NaN where there are none)."""
    return (x * mask).sum(1) / mask.sum(1)


def _flip_errors(ctx) -> dict[str, torch.Tensor]:
    err = vmap(ctx.task.error)(ctx.f, ctx.data["y"])                          # (L, n)
    flipped = ctx.data["flipped"].to(err.dtype)
    return {"train_error_clean": _masked_mean(err, 1 - flipped),
            "train_error_flipped": _masked_mean(err, flipped)}


def _has_flips(setting) -> bool:
    """A binary data model with a ``flips`` count (its samples carry the ``flipped`` indicator)."""
    return _generic(setting) and _task(setting).error is not None and hasattr(setting.data, "flips")


def _attention(ctx) -> dict[str, torch.Tensor]:
    from featlab.data.tokens import OPPOSITE, RELEVANT

    fam, cfg = ctx.family, ctx.setting.model
    attn = lambda X: vmap(lambda p, x: fam.apply(cfg, p, x, taps=True)[1]["attn"])(ctx.params, X)  # noqa: E731
    s, st = attn(ctx.data["X"]), attn(ctx.data["Xt"])                         # (L, n, T)
    flipped = ctx.data["flipped"].to(s.dtype)
    entropy = -(s * torch.log(s.clamp_min(torch.finfo(s.dtype).tiny))).sum(-1)  # (L, n)
    out = {"attn_relevant_clean": _masked_mean(s[..., RELEVANT], 1 - flipped),
           "attn_relevant_flipped": _masked_mean(s[..., RELEVANT], flipped),
           "attn_opposite_flipped": (_masked_mean(s[..., OPPOSITE], flipped) if s.shape[-1] > OPPOSITE
                                     else torch.full_like(flipped[:, 0], float("nan"))),
           "attn_relevant_test": st[..., RELEVANT].mean(1),
           "attn_entropy": entropy.mean(1)}
    return out


def _icl(ctx) -> dict[str, torch.Tensor]:
    from featlab.data.icl_regression import context_length
    from featlab.theory.icl import icl_risk, optimal_gamma

    cfg = ctx.setting.data
    m = context_length(cfg, "test")
    G = ctx.params["Gamma"].to(torch.float64)                                 # (L, d, d)
    H = torch.diag(torch.tensor(cfg.lam, dtype=torch.float64, device=G.device))
    psi2, sigma2 = cfg.psi ** 2, cfg.sigma ** 2
    risk = icl_risk(G, H, m, psi2, sigma2)
    best = icl_risk(optimal_gamma(H, m, psi2, sigma2), H, m, psi2, sigma2)
    fam, mcfg = ctx.family, ctx.setting.model
    ft = vmap(lambda p, x: fam.apply(mcfg, p, x))(ctx.params, ctx.data["Xt"])
    sq = ctx.task.loss(ft, ctx.data["yt"]).to(torch.float64)                  # (L, n_test)
    return {"icl_risk": risk, "icl_excess": risk - best,
            "icl_mc_se": sq.std(1) / sq.shape[1] ** 0.5}


def _feature_ratio(ctx) -> dict[str, torch.Tensor]:
    """Signal learning vs noise memorization of a first layer W (L, m, d): max |<w_r - w_r^0, mu_j>|
    over neurons and signals, max |<w_r - w_r^0, xi_i>| over neurons and training noise patches,
    their ratio, and the ratio with w_r itself (:func:`featlab.models.tied_denoiser.feature_ratio`)."""
    from featlab.models.tied_denoiser import feature_ratio

    X, idx = ctx.data["X"], ctx.data["noise_idx"][:, :, :1]                  # (L, n, K, d), (L, n, 1)
    xi = torch.gather(X, 2, idx[..., None].expand(-1, -1, -1, X.shape[-1]))[:, :, 0]   # (L, n, d)
    return feature_ratio(ctx.params["W"], ctx.W0["W"], ctx.data["mu"], xi)
def _contrastive(setting) -> bool:
    return "contrastive" in _family(setting).probes and setting.data.kind == "contrastive_pairs"


def _contrastive_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    from featlab.diagnostics.contrastive import PROBE_NAMES, VIEW_NAMES
    return PROBE_NAMES, VIEW_NAMES


def _contrastive_fn(name: str):
    from featlab.diagnostics import contrastive
    return getattr(contrastive, name)


def _embedding_fn(name: str):
    from featlab.diagnostics import embedding_selection
    return getattr(embedding_selection, name)


def _signgd_names() -> tuple[str, ...]:
    from featlab.models.signgd_transformer import STAGE_NAMES
    return STAGE_NAMES


def _signgd_stages(ctx) -> dict[str, torch.Tensor]:
    from featlab.models.signgd_transformer import stage_probes
    return stage_probes(ctx)


_ATTN_NAMES = ("attn_relevant_clean", "attn_relevant_flipped", "attn_opposite_flipped",
               "attn_relevant_test", "attn_entropy")

def teacher_overlap(W: torch.Tensor, W_star: torch.Tensor,
                    a_star: torch.Tensor | None = None) -> torch.Tensor:
    r"""Neuron-wise overlap of a student's first layer W (P, N, d) with the teacher's W^* (P, k, d):

        q = \sum_{i<=k} c_i \max_{j<=N} |cos(w^*_i, w_j)|   in [0, 1],   shape (P,),

    with c_i = 1/k, or c_i = a_i^{*2} / \sum_l a_l^{*2} when the teacher readout a^* (P, k) is
    given (each teacher neuron weighted by its share of the target's scale). q = 1 iff every
    teacher neuron has a student neuron aligned with it (up to sign): the "specialisation" order
    parameter of Barbier et al. 2025 (arXiv 2510.24616) in max-cosine form. Random W in d
    dimensions gives about sqrt(2 log(N) / d)."""
    Wn = W.double() / W.double().norm(dim=-1, keepdim=True).clamp_min(1e-300)
    Sn = W_star.double() / W_star.double().norm(dim=-1, keepdim=True).clamp_min(1e-300)
    cos = torch.einsum("pkd,pnd->pkn", Sn, Wn).abs()                    # (P, k, N)
    if a_star is None:
        return cos.amax(-1).mean(-1)
    c = a_star.double() ** 2                                            # (P, k)
    return (cos.amax(-1) * c).sum(-1) / c.sum(-1).clamp_min(1e-300)


def matched_overlap(W: torch.Tensor, W_star: torch.Tensor) -> torch.Tensor:
    r"""Permutation-matched overlap of W (P, N, d) with W^* (P, k, d), shape (P,):

        q_\pi = \max_\pi (1/k) \sum_{i<=k} |cos(w^*_i, w_{\pi(i)})|,

    \pi one-to-one from teacher to student neurons (a teacher neuron left without a partner when
    N < k counts 0), solved by the Hungarian algorithm (scipy's linear_sum_assignment). Unlike
    :func:`teacher_overlap`, one student neuron cannot serve two teacher neurons; q_pi <= q."""
    from scipy.optimize import linear_sum_assignment

    Wn = W.double() / W.double().norm(dim=-1, keepdim=True).clamp_min(1e-300)
    Sn = W_star.double() / W_star.double().norm(dim=-1, keepdim=True).clamp_min(1e-300)
    cos = torch.einsum("pkd,pnd->pkn", Sn, Wn).abs().cpu().numpy()       # (P, k, N)
    out = []
    for c in cos:
        rows, cols = linear_sum_assignment(c, maximize=True)
        out.append(c[rows, cols].sum() / c.shape[0])
    return torch.tensor(out, dtype=torch.float64, device=W.device)


def _applies_specialisation(setting) -> bool:
    return (getattr(setting.data, "kind", None) == "mlp_teacher"
            and getattr(setting.model, "kind", None) == "mlp")


def _specialisation(ctx) -> dict[str, torch.Tensor]:
    W, W_star = ctx.params["W0"], ctx.data["teacher_W"]                 # (P, N, d), (P, k, d)
    return {"teacher_overlap": teacher_overlap(W, W_star),
            "teacher_overlap_weighted": teacher_overlap(W, W_star, ctx.data["teacher_a"]),
            "teacher_overlap_matched": matched_overlap(W, W_star)}


PROBES: dict[str, Probe] = {
    "loss_error": Probe("loss_error", _generic, _loss_names, _loss_error),
    "weight_movement": Probe("weight_movement", _generic, _movement_names, _movement),
    "act_scale": Probe("act_scale", lambda s: _generic(s) and "act_scale" in _family(s).probes,
                       lambda s: tuple(f"act_scale_{k}" for k in _layers(s)), _act_scale),
    "ntk": Probe("ntk", lambda s: "ntk" in _family(s).probes and _task(s).name == "regression",
                 lambda s: ("ntk_distance", "lin_test_loss"), _ntk),
    "readout_ridge": Probe("readout_ridge",
                           lambda s: getattr(s.train, "readout_ridge", 0) > 0 and bool(_layers(s)),
                           lambda s: ("ridge_risk", "ridge_excess"), _ridge_readout,
                           splits=("ridge",)),
    "feature_movement": Probe("feature_movement", lambda s: "feature_movement" in _family(s).probes,
                              lambda s: tuple(f"feature_movement_{k}" for k in _layers(s)),
                              _feature_movement),
    "neural_collapse": Probe("neural_collapse", _applies_nc,
                             lambda s: ("nc1", "nc2_equinorm", "nc2_equiangular", "nc2_w_equinorm",
                                        "nc2_w_equiangular", "nc3", "nc4"), _neural_collapse),
    "label_flips": Probe("label_flips", _has_flips,
                         lambda s: ("train_error_clean", "train_error_flipped"), _flip_errors),
    "attention": Probe("attention", lambda s: "attention" in _family(s).probes and _has_flips(s),
                       lambda s: _ATTN_NAMES, _attention),
    "icl": Probe("icl", lambda s: "icl" in _family(s).probes and s.data.kind == "icl_regression",
                 lambda s: ("icl_risk", "icl_excess", "icl_mc_se"), _icl),
    "linear_probe": Probe("linear_probe", _contrastive, lambda s: _contrastive_names()[0],
                          lambda ctx: _contrastive_fn("linear_probe")(ctx)),
    "signal_noise_views": Probe("signal_noise_views", _contrastive,
                                lambda s: _contrastive_names()[1],
                                lambda ctx: _contrastive_fn("signal_noise_views")(ctx)),
    **_patch_probes(),
    "feature_ratio": Probe("feature_ratio", lambda s: "feature_ratio" in _family(s).probes,
                           lambda s: ("signal_max", "noise_max", "feature_ratio",
                                      "feature_ratio_raw"), _feature_ratio),
    "embedding_selection": Probe("embedding_selection", lambda s: _embedding_fn("applies")(s),
                                 lambda s: _embedding_fn("NAMES"),
                                 lambda ctx: _embedding_fn("compute")(ctx)),
    "specialisation": Probe("specialisation", _applies_specialisation,
                            lambda s: ("teacher_overlap", "teacher_overlap_weighted",
                                       "teacher_overlap_matched"), _specialisation),
    "signgd_stages": Probe("signgd_stages",
                           lambda s: "signgd_stages" in _family(s).probes
                           and s.data.kind == "sparse_tokens",
                           lambda s: _signgd_names(), lambda ctx: _signgd_stages(ctx)),
}


def generic_probes(setting) -> list[Probe]:
    """The probes that apply to ``setting`` (registry order; any family and data model)."""
    return [p for p in PROBES.values() if p.applies(setting)]


def probe_names(setting) -> tuple[str, ...]:
    """metric names of a setting: its probes' names, in order."""
    return tuple(n for p in generic_probes(setting) for n in p.names(setting))
