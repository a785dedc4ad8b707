r"""The 8x8 handwritten digits: a small real classification data set, split per run.

Data: the test part of the UCI "Optical Recognition of Handwritten Digits" data set as shipped
inside scikit-learn (:func:`sklearn.datasets.load_digits`, read from a file in the package; no
download): M = 1797 grey-scale images of 8 x 8 = 64 pixels with integer values 0..16, classes
0..9 with 174-183 images each (:data:`CLASS_COUNTS`). Each pixel counts the "on" pixels of a
4 x 4 block of a 32 x 32 bitmap scanned from NIST forms (Alpaydin & Kaynak, "Cascading
classifiers", Kybernetika 1998). The array is read once per process.

Classes. ``classes`` = "" keeps all ten digits; "3,8" keeps those digits, relabelled 0..C-1 in
the order given (C = ``n_classes``). Labels are integers 0..C-1 stored as floats, the form of the
``multiclass`` (cross-entropy) and ``multiclass_mse`` (one-hot squared loss) tasks
(:mod:`featlab.train.tasks`; ``loss`` chooses).

Split (per run, from the run's own stream (seed, "digits_split"), so a run draws the same split
alone or inside any population). With m_c images of class c among the kept M, the training set
takes n_c of each class and the test set t_c of the rest (stratified):

    n_c = largest-remainder rounding of n m_c / M          (\sum_c n_c = n),
    t_c = largest-remainder rounding of n_test r_c / R     (r_c = m_c - n_c, R = M - n),

each class's images in a random order, the train rows first; the training and test sets are
disjoint and shuffled. Any other split a probe asks for (the ridge readout's fresh data) is
drawn from the images in neither set. Needs n + n_test <= M and n_c >= 1 for every class.

Preprocessing (``standardize``), with statistics of the run's TRAINING images only:

- "pixel": x_j <- (x_j - m_j) / s_j per pixel j (m_j, s_j the training mean and standard
  deviation, ddof 0); a pixel constant on the training images (s_j = 0, e.g. the image corners)
  is set to 0 in every split: the model never sees it vary;
- "global": x <- (x - m) / s with one mean and standard deviation over all training pixels;
- "none": the raw values 0..16.

Shapes: X (n, 64) and y (n,) per run. ``shuffle_labels`` permutes the training labels (a
negative control).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from featlab.config import ConfigError, _check, _check_choice, _check_ints, register_data
from featlab.rng import generator

__all__ = ["DigitsData", "sample_run", "split_indices", "load", "CLASS_COUNTS", "N_PIXELS",
           "class_list"]

#: Images per digit 0..9 in scikit-learn's copy (1797 in all); checked against the file on load.
CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
N_PIXELS = 64


def class_list(classes: str) -> tuple[int, ...]:
    """The digits ``classes`` names ("" -> 0..9; "3,8" -> (3, 8)); ConfigError if malformed."""
    if not classes.strip():
        return tuple(range(10))
    fix = "give two or more distinct digits 0-9 separated by commas, e.g. data.classes=3,8 (empty: all ten)"
    try:
        out = tuple(int(c) for c in classes.split(","))
    except ValueError:
        raise ConfigError(f"data.classes={classes!r} is invalid: {fix}") from None
    _check(len(out) >= 2 and len(set(out)) == len(out) and all(0 <= c <= 9 for c in out),
           "data.classes", classes, fix)
    return out


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers k_c >= 0 with sum ``total``, k_c = floor(q_c) plus one for the ``total - sum
    floor`` largest fractional parts (ties: lower c first), q_c = total w_c / sum w."""
    q = total * weights / weights.sum()
    k = np.floor(q).astype(np.int64)
    extra = total - int(k.sum())
    order = np.argsort(-(q - k), kind="stable")
    k[order[:extra]] += 1
    return k


def _counts(n: int, n_test: int, classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(n_c, t_c) per kept class: the stratified train and test counts (module docstring)."""
    m = np.array([CLASS_COUNTS[c] for c in classes], dtype=np.int64)
    n_c = _largest_remainder(n, m)
    t_c = _largest_remainder(n_test, m - n_c) if n_test > 0 else np.zeros_like(m)
    return n_c, t_c


@register_data
@dataclass(frozen=True)
class DigitsData:
    """The 8x8 handwritten digits (:mod:`featlab.data.digits`): ``n`` training and ``n_test``
    test images per run, a stratified split drawn from the run's stream, pixels standardized with
    training statistics."""

    n: int = 512
    n_test: int = 512
    classes: str = ""
    standardize: Literal["pixel", "global", "none"] = "pixel"
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"
    shuffle_labels: bool = False
    kind: Literal["digits"] = "digits"

    d: ClassVar[int] = N_PIXELS
    PER_RUN_FIELDS: ClassVar[frozenset[str]] = frozenset()
    INPUT: ClassVar[str] = "vectors"

    @property
    def task(self) -> str:
        """The task of :mod:`featlab.train.tasks` that ``loss`` names."""
        return "multiclass" if self.loss == "cross_entropy" else "multiclass_mse"

    @property
    def n_classes(self) -> int:
        return len(class_list(self.classes))

    def __post_init__(self) -> None:
        _check(isinstance(self.classes, str), "data.classes", self.classes,
               "give the digits as a string, e.g. data.classes=3,8 (empty: all ten)")
        kept = class_list(self.classes)
        total = sum(CLASS_COUNTS[c] for c in kept)
        _check_ints("data", self, {"n": 1, "n_test": 1})
        _check(self.n <= total - 1, "data.n", self.n,
               f"the kept digits have {total} images and the test set needs >= 1: use data.n <= "
               f"{total - 1}")
        _check(self.n + self.n_test <= total, "data.n_test", self.n_test,
               f"train and test are disjoint and the kept digits have {total} images: use "
               f"data.n_test <= {total - self.n} with data.n={self.n}")
        if not (_counts(self.n, 0, kept)[0] >= 1).all():
            least = next(k for k in range(len(kept), total) if (_counts(k, 0, kept)[0] >= 1).all())
            raise ConfigError(f"data.n={self.n!r} is invalid: the stratified split needs one "
                              f"training image of each of the {len(kept)} digits: use data.n >= "
                              f"{least}")
        _check_choice("data.standardize", self.standardize, ("pixel", "global", "none"))
        _check_choice("data.loss", self.loss, ("cross_entropy", "mse"))


@functools.cache
def load() -> tuple[torch.Tensor, torch.Tensor]:
    """(X (1797, 64) float64 raw pixel values 0..16, y (1797,) int64 digits), read once."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    X = torch.from_numpy(np.asarray(raw.data, dtype=np.float64).copy())
    y = torch.from_numpy(np.asarray(raw.target, dtype=np.int64).copy())
    counts = tuple(torch.bincount(y, minlength=10).tolist())
    if X.shape != (sum(CLASS_COUNTS), N_PIXELS) or counts != CLASS_COUNTS:
        raise ConfigError(f"data.kind='digits' is invalid: scikit-learn's digits have shape "
                          f"{tuple(X.shape)} and class counts {counts}, not the expected "
                          f"(1797, 64) and {CLASS_COUNTS}; install the scikit-learn of "
                          f"constraints.txt")
    return X, y


def split_indices(cfg: DigitsData, seed: int) -> dict[str, torch.Tensor]:
    """Row indices into :func:`load`'s arrays of a run's "train" (n,), "test" (n_test,) and
    "rest" (the images in neither) sets: the stratified split of the module docstring."""
    _, y = load()
    kept = class_list(cfg.classes)
    n_c, t_c = _counts(cfg.n, cfg.n_test, kept)
    g = generator(seed, "digits_split")
    parts: dict[str, list[torch.Tensor]] = {"train": [], "test": [], "rest": []}
    for c, a, b in zip(kept, n_c.tolist(), t_c.tolist()):
        idx = torch.nonzero(y == c)[:, 0]
        idx = idx[torch.randperm(len(idx), generator=g)]
        parts["train"].append(idx[:a])
        parts["test"].append(idx[a:a + b])
        parts["rest"].append(idx[a + b:])
    out = {}
    for name, chunks in parts.items():
        idx = torch.cat(chunks)
        out[name] = idx[torch.randperm(len(idx), generator=g)]
    return out


def _standardize(cfg: DigitsData, X: torch.Tensor, X_train: torch.Tensor) -> torch.Tensor:
    """X (k, 64) preprocessed with the statistics of the training images X_train (n, 64)."""
    if cfg.standardize == "none":
        return X
    if cfg.standardize == "global":
        return (X - X_train.mean()) / X_train.std(unbiased=False)
    m, s = X_train.mean(0), X_train.std(0, unbiased=False)                   # (64,)
    varies = s > 0
    return torch.where(varies, (X - m) / torch.where(varies, s, 1.0), 0.0)


def sample_run(cfg: DigitsData, seed: int, n: int, split: str,
               dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """One run's X (n, 64) and labels y (n,) in 0..C-1 (floats): the first n images of the split
    "train" or "test" (any other split: of the images in neither)."""
    X_all, y_all = load()
    idx = split_indices(cfg, seed)
    rows = idx.get(split, idx["rest"])
    if n > len(rows):
        name = {"train": "data.n", "test": "data.n_test"}.get(split, "data.n")
        raise ConfigError(f"{name}={n!r} is invalid: the run's {split} split of the digits has "
                          f"{len(rows)} images; ask for at most {len(rows)}")
    rows = rows[:n]
    kept = class_list(cfg.classes)
    relabel = torch.full((10,), -1, dtype=torch.int64)
    relabel[list(kept)] = torch.arange(len(kept))
    X = _standardize(cfg, X_all[rows], X_all[idx["train"]])
    y = relabel[y_all[rows]]
    if cfg.shuffle_labels and split == "train":
        y = y[torch.randperm(n, generator=generator(seed, "shuffle"))]
    return {"X": X.to(dtype), "y": y.to(dtype)}
