r"""Vocabulary-token sequences with important and shared tokens (the setting of Wu, Shevchenko,
Oymak, Mondelli, "Attention with Trained Embeddings Provably Selects Important Tokens", NeurIPS
2025, arXiv 2505.17282, Sec. 2; our own instance of it, the paper's exact sampler not copied).

A vocabulary of V token ids, split into

- K *completely positive* tokens 0..K-1 (appear only in sequences with y = +1),
- K *completely negative* tokens K..2K-1 (appear only in sequences with y = -1),
- S = V - 2K *shared* tokens 2K..V-1 (appear in both classes, with class frequencies that lean
  slightly towards one class).

A sequence of class y has T positions: exactly one (uniform position) holds an *important* token,
the k-th token of its class with probability w_k \propto 1/k (k = 1..K); the other T - 1
positions are i.i.d. shared tokens, token j (j = 0..S-1) with probability

    \pi_y(j) = (1 + y \beta c_j) / S,     c_j = -1 + 2 j / (S - 1)   (c_j = 0 when S = 1),

\beta = ``lean`` in [0, 1). Every sequence thus contains a completely positive or a completely
negative token (the paper's Assumption 1, as we read it).

Average signed frequency of token s (population value, per position):

    \alpha_s = E[y n_s(X)] / T = (E[n_s | y=+1] - E[n_s | y=-1]) / (2T)      (balanced classes),

n_s(X) the count of s in X: \alpha = w_k / (2T) for the k-th positive token, -w_k / (2T) for the
k-th negative one, (T - 1)(\pi_+(j) - \pi_-(j)) / (2T) = (T - 1) \beta c_j / (S T) for shared j
(:func:`signed_frequency`). The empirical counterpart over a training set is
\hat\alpha_s = (1/n) \sum_i y_i n_s(X_i) / T.

The model reads one-hot tokens: X (n, T, V) float, so E_X = X E. Labels are balanced, the first
n/2 samples y = +1. ``shuffle_labels`` permutes the training labels after the sequences are drawn
(a negative control: the tokens no longer predict the label); the test labels stay clean. Extras:
``ids`` (n, T), the token ids.

Streams: the sequences of a split from (seed, "data_<split>"), the permutation from
(seed, "shuffle").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from featlab.config import _check, _finite, register_data
from featlab.rng import generator

__all__ = ["VocabTokenData", "sample_run", "signed_frequency", "class_frequencies", "important"]


@register_data
@dataclass(frozen=True)
class VocabTokenData:
    """Sequences of T token ids over a vocabulary of V: one important token of the label's class
    per sequence, T - 1 shared tokens leaning by ``lean`` (:mod:`featlab.data.vocab_tokens`)."""

    n: int = 400
    n_test: int = 1000
    V: int = 24
    T: int = 6
    K: int = 3
    lean: float = 0.2
    shuffle_labels: bool = False
    kind: Literal["vocab_tokens"] = "vocab_tokens"

    #: ``lean`` sets the signed frequencies the probes compare against, so it is structural.
    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset({"shuffle_labels"})
    INPUT: ClassVar[str] = "tokens"
    task: ClassVar[str] = "binary"

    def __post_init__(self) -> None:
        for key, low in (("n", 2), ("n_test", 1), ("K", 1)):
            value = getattr(self, key)
            _check(isinstance(value, int) and not isinstance(value, bool) and value >= low,
                   f"data.{key}", value, f"use an integer >= {low}")
        _check(isinstance(self.T, int) and not isinstance(self.T, bool) and self.T >= 2, "data.T",
               self.T, "use T >= 2 tokens (one important token and at least one shared token)")
        _check(isinstance(self.V, int) and not isinstance(self.V, bool) and self.V >= self.T,
               "data.V", self.V, f"the vocabulary is smaller than the sequence length "
               f"data.T={self.T}; use V >= T")
        _check(self.V > 2 * self.K, "data.V", self.V,
               f"use V > 2K = {2 * self.K} (K positive, K negative and at least one shared token)")
        _check(_finite(self.lean) and 0 <= self.lean < 1, "data.lean", self.lean,
               "use a lean beta in [0, 1) (0 = shared tokens equally frequent in both classes)")
        _check(isinstance(self.shuffle_labels, bool), "data.shuffle_labels", self.shuffle_labels,
               "use true or false")

    @property
    def input_shape(self) -> tuple[int, int]:
        """(T, V): one sample is T one-hot tokens over the vocabulary."""
        return (self.T, self.V)

    @property
    def d(self) -> int:
        """The width of one one-hot token: the vocabulary size V."""
        return self.V


def _weights(cfg: VocabTokenData) -> torch.Tensor:
    """(K,) w_k propto 1/k: which important token of its class a sequence carries."""
    w = 1.0 / torch.arange(1, cfg.K + 1, dtype=torch.float64)
    return w / w.sum()


def class_frequencies(cfg: VocabTokenData) -> tuple[torch.Tensor, torch.Tensor]:
    """(V,), (V,): E[n_s(X) | y = +1] and E[n_s(X) | y = -1], the expected count of each token."""
    S = cfg.V - 2 * cfg.K
    c = (torch.linspace(-1.0, 1.0, S, dtype=torch.float64) if S > 1
         else torch.zeros(1, dtype=torch.float64))                              # (S,)
    w = _weights(cfg)
    pos, neg = torch.zeros(cfg.V, dtype=torch.float64), torch.zeros(cfg.V, dtype=torch.float64)
    pos[:cfg.K], neg[cfg.K:2 * cfg.K] = w, w
    pos[2 * cfg.K:] = (cfg.T - 1) * (1 + cfg.lean * c) / S
    neg[2 * cfg.K:] = (cfg.T - 1) * (1 - cfg.lean * c) / S
    return pos, neg


def signed_frequency(cfg: VocabTokenData) -> torch.Tensor:
    """(V,) alpha_s = (E[n_s | +1] - E[n_s | -1]) / (2T), the population average signed frequency
    (module docstring) of the unshuffled data model (a shuffled-label control is compared with
    it)."""
    pos, neg = class_frequencies(cfg)
    return (pos - neg) / (2 * cfg.T)


def important(cfg: VocabTokenData, ids: torch.Tensor) -> torch.Tensor:
    """Bool mask (..., T): the positions of ``ids`` that hold a completely positive/negative token."""
    return ids < 2 * cfg.K


def sample_run(cfg: VocabTokenData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's one-hot X (n, T, V), labels y (n,) and token ids ``ids`` (n, T)."""
    g = generator(seed, f"data_{split}")
    y = torch.cat([torch.ones(n // 2), -torch.ones(n - n // 2)]).to(torch.float64)
    pos, neg = class_frequencies(cfg)
    K = cfg.K
    shared_p, shared_m = pos[2 * K:] / (cfg.T - 1), neg[2 * K:] / (cfg.T - 1)     # (S,) each
    k = torch.multinomial(_weights(cfg), n, replacement=True, generator=g)        # (n,)
    imp = torch.where(y > 0, k, k + K)                                            # (n,)
    shared = torch.empty(n, cfg.T - 1, dtype=torch.int64)
    for label, probs in ((1.0, shared_p), (-1.0, shared_m)):
        rows = torch.nonzero(y == label).squeeze(1)
        draw = torch.multinomial(probs, len(rows) * (cfg.T - 1), replacement=True, generator=g)
        shared[rows] = draw.reshape(len(rows), cfg.T - 1) + 2 * K
    position = torch.randint(cfg.T, (n,), generator=g)                            # (n,)
    ids = torch.empty(n, cfg.T, dtype=torch.int64)
    for i in range(n):                                  # insert the important token at its position
        ids[i] = torch.cat([shared[i, :position[i]], imp[i:i + 1], shared[i, position[i]:]])
    if cfg.shuffle_labels and split == "train":
        y = y[torch.randperm(n, generator=generator(seed, "shuffle"))]
    X = torch.nn.functional.one_hot(ids, cfg.V).to(dtype)                         # (n, T, V)
    return {"X": X, "y": y.to(dtype), "ids": ids}
