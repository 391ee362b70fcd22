"""The data behind the simulated models: scikit-learn's bundled datasets, split once.

Two tasks, both shipped with scikit-learn so nothing is downloaded:

- ``digits``: 8x8 grey-level images of handwritten digits, 64 pixels in
  [0, 16], 10 classes. The API takes raw pixels.
- ``breast-cancer``: 30 measurements of a cell nucleus, 2 classes
  (malignant, benign). The API takes *standardised* measurements (z-scores
  with the training split's mean and spread), so the logged input is the
  vector the model sees and every feature has a comparable scale.

Each is split once (fixed seed, stratified) into the model's training part
and a held-out part. Benign clients send real samples; attackers get real
samples too where their paper assumes some (a seed set, an image to evade),
but never the model: they see it only through its API.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

SPLIT_SEED = 0
HELD_OUT_SHARE = 0.4


@dataclass(frozen=True, eq=False)
class Dataset:
    """A task's real samples and its input domain.

    ``lo``/``hi`` bound each feature (the valid range attacks project onto);
    ``image_shape`` is (rows, cols) for image tasks, None for tabular ones.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_held_out: np.ndarray
    y_held_out: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    n_classes: int
    image_shape: tuple[int, int] | None

    @property
    def n_features(self) -> int:
        """Length of an input vector."""
        return int(self.lo.shape[0])

    @property
    def span(self) -> np.ndarray:
        """Per-feature width of the valid range (the unit attack step sizes are given in)."""
        return self.hi - self.lo

    @property
    def x_all(self) -> np.ndarray:
        """Every real sample (training and held-out), e.g. for a batch job over a whole archive."""
        return np.concatenate([self.x_train, self.x_held_out])

    def clip(self, x: np.ndarray) -> np.ndarray:
        """Project inputs onto the valid range.

        >>> d = dataset("digits")
        >>> d.clip(np.array([-1.0] * 32 + [20.0] * 32))[[0, 63]]
        array([ 0., 16.])
        """
        return np.clip(x, self.lo, self.hi)


def _split(
    name: str, x: np.ndarray, y: np.ndarray, bounds: tuple[np.ndarray, np.ndarray], image_shape: tuple[int, int] | None
) -> Dataset:
    x_train, x_held_out, y_train, y_held_out = train_test_split(
        x, y, test_size=HELD_OUT_SHARE, random_state=SPLIT_SEED, stratify=y
    )
    return Dataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_held_out=x_held_out,
        y_held_out=y_held_out,
        lo=bounds[0],
        hi=bounds[1],
        n_classes=int(y.max()) + 1,
        image_shape=image_shape,
    )


@cache
def dataset(name: str) -> Dataset:
    """Load and split a task once per process.

    >>> d = dataset("breast-cancer")
    >>> d.n_features, d.n_classes, len(d.x_train) + len(d.x_held_out)
    (30, 2, 569)
    >>> bool(abs(d.x_train.mean()) < 1e-9)
    True
    """
    if name == "digits":
        x, y = load_digits(return_X_y=True)
        return _split(name, x.astype(np.float64), y, (np.zeros(64), np.full(64, 16.0)), (8, 8))
    if name == "breast-cancer":
        x, y = load_breast_cancer(return_X_y=True)
        train_rows, _ = train_test_split(
            np.arange(len(x)), test_size=HELD_OUT_SHARE, random_state=SPLIT_SEED, stratify=y
        )
        mean, std = x[train_rows].mean(axis=0), x[train_rows].std(axis=0)
        z = (x - mean) / std
        return _split(name, z, y, (z.min(axis=0), z.max(axis=0)), None)
    raise KeyError(f"unknown dataset {name!r}")
