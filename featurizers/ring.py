"""Fixed-capacity ring buffers over numpy arrays: the memory bound of every window."""

from __future__ import annotations

import numpy as np


class Ring:
    """The last ``capacity`` rows appended, oldest overwritten first.

    >>> r = Ring(3)
    >>> for x in (1, 2, 3, 4):
    ...     r.append(x)
    >>> r.ordered().tolist(), len(r), float(r.last())
    ([2.0, 3.0, 4.0], 3, 4.0)
    >>> v = Ring(2, width=2); v.append([1, 2]); v.ordered().shape
    (1, 2)
    """

    __slots__ = ("data", "head", "count")

    def __init__(self, capacity: int, width: int | None = None, dtype: type = np.float32) -> None:
        shape = (capacity,) if width is None else (capacity, width)
        self.data = np.zeros(shape, dtype=dtype)
        self.head = 0  # next slot to write
        self.count = 0

    @property
    def capacity(self) -> int:
        return self.data.shape[0]

    def __len__(self) -> int:
        return self.count

    def append(self, value: object) -> None:
        """Copy ``value`` into the next slot (the caller's array is never kept)."""
        data, head = self.data, self.head
        data[head] = value
        head += 1
        capacity = len(data)
        self.head = 0 if head == capacity else head
        if self.count < capacity:
            self.count += 1

    def ordered(self) -> np.ndarray:
        """The stored rows, oldest first (a new array)."""
        if self.count < self.capacity:
            return self.data[: self.count].copy()
        return np.concatenate((self.data[self.head :], self.data[: self.head]))  # np.roll, for less

    def filled(self) -> np.ndarray:
        """The stored rows in storage order (a view; for order-free statistics)."""
        return self.data[: self.count] if self.count < self.capacity else self.data

    def last(self, back: int = 0) -> np.ndarray | float:
        """The row appended ``back`` appends ago (0 = newest)."""
        if back >= self.count:
            raise IndexError("ring holds fewer rows")
        return self.data[(self.head - 1 - back) % self.capacity]

    @property
    def nbytes(self) -> int:
        return self.data.nbytes


def timed_series(ring: Ring, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A featurizer's evidence series from a ring of (event time, value) rows, oldest first, values that
    are NaN left out; empty when none is left.

    >>> r = Ring(3, width=2, dtype=np.float64)
    >>> for row in ((1.0, 0.5), (2.0, np.nan), (3.0, 0.25)):
    ...     r.append(row)
    >>> {k: (t.tolist(), v.tolist()) for k, (t, v) in timed_series(r, "x").items()}
    {'x': ([1.0, 3.0], [0.5, 0.25])}
    """
    rows = ring.ordered()
    rows = rows[~np.isnan(rows[:, 1])]
    return {name: (rows[:, 0], rows[:, 1])} if len(rows) else {}
