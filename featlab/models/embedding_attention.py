r"""Attention with trained token embeddings (Wu, Shevchenko, Oymak, Mondelli, "Attention with
Trained Embeddings Provably Selects Important Tokens", NeurIPS 2025, arXiv 2505.17282), for one
run (batched by vmap over P):

    f(X) = softmax(p^T E_X^T) E_X v = \sum_{t=1}^T s_t <E_{x_t}, v>,   s = softmax(E_X p),

X a sequence of T token ids (one-hot rows, (T, V)), E (V, d) the trainable token embeddings,
E_X = X E (T, d) the rows of the sequence, p (d) the trainable <cls> embedding and v (d) the fixed
output vector (verified: the abstract's formula). Initialization (our choice; the paper's scale not
read): E_{s,j} ~ N(0, \sigma_0^2) i.i.d. from the run's "init" stream, \sigma_0 = ``sigma0``,
p = 0 (uniform attention), v = ``v_norm`` e_1.

Two-stage training (the paper's protocol, as its abstract states it: one GD step on E, then p
trained with E fixed): E is trained during the first ``embed_steps`` steps only (default 1;
``embed_steps`` = train.steps trains both jointly; 0 keeps E at its initialization), p at every
step. Because the engine updates all parameters from the gradients at the same iterate, the first
step on E is taken at p = 0, where

    \nabla_{E_s} L = -(1/(nT)) \sum_i y_i \sigma(-y_i f(X_i)) n_s(X_i) v

(n_s the count of token s in X_i, \sigma the logistic function): every embedding moves along v,
and for a small initialization (f \approx 0, \sigma \approx 1/2) <E_s^1 - E_s^0, v> \approx
(\eta ||v||^2 / 2) \hat\alpha_s, \hat\alpha_s the empirical average signed frequency
(:mod:`featlab.data.vocab_tokens`).

v lives in the parameter dict (key ``v``) but in no parameter group: the engine never trains it.
Taps: ``{"attn": s}`` (n, T).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import ConfigError, _check, _finite
from featlab.rng import generator

__all__ = ["EmbeddingAttention", "FAMILY", "init", "apply", "param_groups", "train_steps"]


@dataclass(frozen=True)
class EmbeddingAttention:
    """f(X) = softmax(E_X p)^T E_X v with trained embeddings E (V x d) and <cls> embedding p,
    v fixed; E trained for the first ``embed_steps`` steps
    (:mod:`featlab.models.embedding_attention`)."""

    d: int = 32
    sigma0: float = 0.1
    v_norm: float = 1.0
    embed_steps: int = 1
    kind: Literal["embedding_attention"] = "embedding_attention"

    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"sigma0", "v_norm"})
    INPUT: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        _check(isinstance(self.d, int) and not isinstance(self.d, bool) and self.d >= 2, "model.d",
               self.d, "use an embedding dimension d >= 2")
        _check(_finite(self.sigma0) and self.sigma0 >= 0, "model.sigma0", self.sigma0,
               "use a finite embedding init scale sigma0 >= 0")
        _check(_finite(self.v_norm) and self.v_norm > 0, "model.v_norm", self.v_norm,
               "use a finite output-vector norm ||v|| > 0")
        _check(isinstance(self.embed_steps, int) and not isinstance(self.embed_steps, bool)
               and self.embed_steps >= 0, "model.embed_steps", self.embed_steps,
               "use an integer >= 0 (steps during which E is trained; 1 = the paper's one step)")


def init(cfg: EmbeddingAttention, run_keys: list[int], input_shape: tuple[int, ...],
         dtype: torch.dtype, out_dim: int = 1) -> dict[str, torch.Tensor]:
    """E (P, V, d) ~ N(0, sigma0^2) from each run's "init" stream, p (P, d) = 0,
    v (P, d) = v_norm e_1."""
    V = input_shape[-1]
    E = torch.stack([cfg.sigma0 * torch.randn(V, cfg.d, generator=generator(seed, "init"),
                                              dtype=torch.float64) for seed in run_keys])
    P = len(run_keys)
    v = torch.zeros(P, cfg.d, dtype=torch.float64)
    v[:, 0] = cfg.v_norm
    return {"E": E.to(dtype), "p": torch.zeros(P, cfg.d, dtype=dtype), "v": v.to(dtype)}


def apply(cfg: EmbeddingAttention, params: dict[str, torch.Tensor], x: torch.Tensor,
          taps: bool = False):
    """f for one run: one-hot tokens x (n, T, V) -> f (n,); taps: {"attn": s (n, T)}."""
    EX = x @ params["E"]                                                     # (n, T, d)
    s = torch.softmax(EX @ params["p"], dim=-1)                              # (n, T)
    f = (s * (EX @ params["v"])).sum(-1)                                     # (n,)
    return (f, {"attn": s}) if taps else f


def param_groups(cfg: EmbeddingAttention) -> dict[str, str]:
    """E (group "embedding") and p (group "cls") are trained; v is fixed (no group)."""
    return {"E": "embedding", "p": "cls"}


def train_steps(cfg: EmbeddingAttention) -> dict[str, int]:
    """{group: k}: the embedding group is updated at steps t < embed_steps only."""
    return {"embedding": cfg.embed_steps}


def check(setting) -> None:
    """ConfigError unless the data are one-hot vocabulary tokens (:mod:`featlab.data.vocab_tokens`)."""
    if getattr(setting.data, "kind", None) != "vocab_tokens":
        raise ConfigError(f"data.kind={setting.data.kind!r} is invalid: model.kind=embedding_attention "
                          f"reads token ids over a vocabulary; use data.kind=vocab_tokens")


def _family():
    from featlab.models.family import Family
    return Family(config=EmbeddingAttention, init=init, apply=apply, param_groups=param_groups,
                  probes=("embedding_selection",), check=check, train_steps=train_steps)


FAMILY = _family()
