r"""Embedding alignment and max-margin token selection (Wu, Shevchenko, Oymak, Mondelli, NeurIPS
2025, arXiv 2505.17282) for :mod:`featlab.models.embedding_attention` on
:mod:`featlab.data.vocab_tokens`.

Alignment. With a_s = <E_s, v> and \Delta a_s = <E_s - E_s^0, v>, over the V tokens:

- ``align_corr``: Pearson correlation of \Delta a with the population average signed frequency
  \alpha (:func:`featlab.data.vocab_tokens.signed_frequency`);
- ``align_corr_empirical``: the same against the training set's \hat\alpha_s =
  (1/n) \sum_i y_i n_s(X_i) / T (its observed labels);
- ``align_slope_ratio``: the least-squares slope of \Delta a on \alpha divided by the one-step
  theory's \eta_E ||v||^2 / 2 (\eta_E the embedding group's learning rate; exact for
  \sigma(-y f^0) = 1/2, i.e. a vanishing initialization, and \hat\alpha = \alpha).

Selection. The important token s^*_i of sequence i is its completely positive / negative token.

- ``important_top``: fraction of training sequences in which y_i a_{s^*_i} > y_i a_t for every
  other token t of the sequence (the important token is the one the loss wants attended);
- ``attn_important`` / ``attn_important_test``: mean softmax mass on the important token over
  the training / test sequences (-> 1 when softmax selects it);
- ``mm_cosine``: cos(p, p^mm(E)), p^mm the max-margin selector of the current embeddings,

      p^mm = argmin ||p||  s.t.  (E_{s^*_i} - E_t)^T p >= 1  for all i, t \in X_i, t != s^*_i,

  the token-selection SVM (Tarzanagh et al. 2023's att-SVM with the paper's important tokens; the
  paper's exact statement not read: unverified), solved exactly as a least-distance program by
  non-negative least squares (Lawson & Hanson 1974, Ch. 23: u = NNLS([G^T; 1^T], e_{d+1}),
  r = [G^T; 1^T] u - e_{d+1}, p^mm = -r_{1:d} / r_{d+1}; NaN when infeasible);
- ``mm_cosine_init``: cos(p, p^mm(E^0)), the selector of the *initial* embeddings: a wrong
  selector;
- ``cos_p_v``: cos(p, v), the naive selector "attend by value" (p along the output vector: it
  favours the positive tokens in every sequence): the wrong selector a negative control feeds
  to the cosine check.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import nnls
from torch.func import vmap

__all__ = ["NAMES", "max_margin_selector", "compute", "applies"]

NAMES = ("align_corr", "align_corr_empirical", "align_slope_ratio", "important_top",
         "attn_important", "attn_important_test", "mm_cosine", "mm_cosine_init", "cos_p_v")


def applies(setting) -> bool:
    """The family lists ``embedding_selection`` and the data are vocabulary tokens."""
    from featlab.models import family_of
    return ("embedding_selection" in family_of(setting.model).probes
            and setting.data.kind == "vocab_tokens")


def max_margin_selector(E: torch.Tensor, ids: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
    """p^mm (d,): min ||p|| s.t. (E_{selected_i} - E_t)^T p >= 1 for every other token t of
    sequence i (module docstring). E (V, d), ids (n, T), selected (n,) token ids. NaN if infeasible."""
    V, d = E.shape
    pairs = {(int(s), int(t)) for s, row in zip(selected.tolist(), ids.tolist()) for t in row
             if t != s}
    dtype = E.dtype
    if not pairs:
        return torch.full((d,), float("nan"), dtype=dtype)
    s_idx, t_idx = (torch.tensor(x) for x in zip(*sorted(pairs)))
    G = (E[s_idx] - E[t_idx]).to(torch.float64).cpu().numpy()                # (m, d)
    m = G.shape[0]
    A = np.vstack([G.T, np.ones((1, m))])                                     # (d + 1, m)
    b = np.zeros(d + 1)
    b[-1] = 1.0
    u, _ = nnls(A, b, maxiter=50 * (m + d + 1))
    r = A @ u - b
    if abs(r[-1]) < 1e-12:                                                    # infeasible
        return torch.full((d,), float("nan"), dtype=dtype)
    return torch.as_tensor(-r[:d] / r[-1], dtype=dtype)


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / (a.norm() * b.norm()))


def compute(ctx) -> dict[str, torch.Tensor]:
    """The probe's values for the L logged runs (module docstring)."""
    from featlab.config import group_lr_multipliers
    from featlab.data.vocab_tokens import important, signed_frequency

    s0, fam = ctx.setting, ctx.family
    data_cfg = s0.data
    alpha = signed_frequency(data_cfg)                                         # (V,)
    one = lambda p, x: fam.apply(s0.model, p, x, taps=True)[1]["attn"]  # noqa: E731
    attn = lambda X: vmap(one)(ctx.params, X)  # noqa: E731
    s_tr, s_te = attn(ctx.data["X"]), attn(ctx.data["Xt"])                    # (L, n, T)
    ids, ids_t, y = ctx.data["ids"], ctx.data["ids_test"], ctx.data["y"]       # (L, n, T), (L, n)
    imp, imp_t = important(data_cfg, ids), important(data_cfg, ids_t)          # (L, n, T) bool
    mult = group_lr_multipliers(s0.optim.group_lr).get("embedding", 1.0)
    out = {k: [] for k in NAMES}
    for r in range(ids.shape[0]):
        E, E0 = ctx.params["E"][r], ctx.W0["E"][r]                             # (V, d)
        v, p = ctx.params["v"][r], ctx.params["p"][r]                           # (d,)
        da = ((E - E0) @ v).to(torch.float64).cpu()                            # (V,)
        counts = torch.nn.functional.one_hot(ids[r].cpu(), data_cfg.V).sum(1)    # (n, V)
        counts = counts.to(torch.float64)
        alpha_hat = (y[r].cpu().to(torch.float64) @ counts) / (len(y[r]) * data_cfg.T)      # (V,)
        ac = alpha - alpha.mean()
        slope = float(ac @ (da - da.mean()) / (ac @ ac))
        theory = float(ctx.hp["lr"][r]) * mult * float(v @ v) / 2
        out["align_corr"].append(_corr(da, alpha))
        out["align_corr_empirical"].append(_corr(da, alpha_hat))
        out["align_slope_ratio"].append(slope / theory if theory > 0 else float("nan"))
        a = (E @ v).to(torch.float64).cpu()                                    # (V,)
        score = y[r].cpu().to(torch.float64)[:, None] * a[ids[r].cpu()]        # (n, T)
        top = (torch.where(imp[r].cpu(), -torch.inf, score).amax(1)
               < torch.where(imp[r].cpu(), score, -torch.inf).amax(1))
        out["important_top"].append(float(top.to(torch.float64).mean()))
        out["attn_important"].append(float((s_tr[r] * imp[r]).sum(-1).mean()))
        out["attn_important_test"].append(float((s_te[r] * imp_t[r]).sum(-1).mean()))
        sel = torch.where(imp[r], ids[r], -1).amax(1).cpu()                    # (n,) important ids
        pm = max_margin_selector(E.cpu(), ids[r].cpu(), sel)
        pm0 = max_margin_selector(E0.cpu(), ids[r].cpu(), sel)
        pc = p.cpu().to(pm.dtype)
        out["mm_cosine"].append(_cos(pc, pm))
        out["mm_cosine_init"].append(_cos(pc, pm0))
        out["cos_p_v"].append(_cos(pc, v.cpu().to(pm.dtype)))
    device = ctx.params["p"].device
    return {k: torch.tensor(v, dtype=torch.float64, device=device) for k, v in out.items()}
