"""kcore.Variable: a named array that owns its data and is updated in place."""
from __future__ import annotations

import numpy as np

from kcore._graph import Operators


class Variable(Operators):
    """A Keras backend variable. `np.asarray(v)` gives a read-only view of its current value;
    K.update/K.set_value/... change it in place. Arithmetic operators go through the backend's
    ops, so they are eager with arrays and symbolic with placeholders."""

    __array_priority__ = 1000

    def __init__(self, value: np.ndarray, name: str, constraint=None):
        self._value = value
        self.name = name
        self.constraint = constraint

    @property
    def dtype(self) -> str:
        return self._value.dtype.name

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def ndim(self) -> int:
        return self._value.ndim

    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self._value, dtype=dtype, copy=True)
        if dtype is not None and np.dtype(dtype) != self._value.dtype:
            return self._value.astype(dtype)
        view = self._value.view()
        view.flags.writeable = False
        return view

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def assign(self, value) -> Variable:
        value = np.asarray(value)
        if value.shape != self._value.shape:
            try:
                value = np.broadcast_to(value, self._value.shape)
            except ValueError:
                raise ValueError(f"cannot assign a value of shape {value.shape} to variable '{self.name}' "
                                 f"of shape {self._value.shape}") from None
        with np.errstate(all="ignore"):
            self._value[...] = value
        return self  # (the constraint is the optimizer's to apply, once a step, as on TensorFlow)

    def __repr__(self):
        return f"<kcore.Variable '{self.name}' shape={self.shape} dtype={self.dtype}>"

    def __len__(self):
        return len(self._value)

    def __bool__(self):
        return bool(self._value)

    def __float__(self):
        return float(self._value)

    def __int__(self):
        return int(self._value)

