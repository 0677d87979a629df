"""kcore.Variable: a named array that owns its data and is updated in place."""
from __future__ import annotations

import numpy as np


class Variable:
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

    def assign(self, value) -> "Variable":
        value = np.asarray(value)
        if value.shape != self._value.shape:
            try:
                value = np.broadcast_to(value, self._value.shape)
            except ValueError:
                raise ValueError(f"cannot assign a value of shape {value.shape} to variable '{self.name}' "
                                 f"of shape {self._value.shape}") from None
        with np.errstate(all="ignore"):
            self._value[...] = value
        if self.constraint is not None:
            self._value[...] = np.asarray(self.constraint(self._value.copy()))
        return self

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

    def __getitem__(self, key):
        from kcore import backend as K

        return K._getitem(self, key)

    def _binary(self, other, name, reverse=False):
        from kcore import backend as K

        f = getattr(K, "_" + name)
        return f(other, self) if reverse else f(self, other)

    def __add__(self, o): return self._binary(o, "add")
    def __radd__(self, o): return self._binary(o, "add", True)
    def __sub__(self, o): return self._binary(o, "subtract")
    def __rsub__(self, o): return self._binary(o, "subtract", True)
    def __mul__(self, o): return self._binary(o, "multiply")
    def __rmul__(self, o): return self._binary(o, "multiply", True)
    def __truediv__(self, o): return self._binary(o, "divide")
    def __rtruediv__(self, o): return self._binary(o, "divide", True)
    def __pow__(self, o): return self._binary(o, "power")
    def __rpow__(self, o): return self._binary(o, "power", True)
    def __matmul__(self, o): return self._binary(o, "matmul")
    def __rmatmul__(self, o): return self._binary(o, "matmul", True)
    def __lt__(self, o): return self._binary(o, "less")
    def __le__(self, o): return self._binary(o, "less_equal")
    def __gt__(self, o): return self._binary(o, "greater")
    def __ge__(self, o): return self._binary(o, "greater_equal")

    def __neg__(self):
        from kcore import backend as K

        return K._negative(self)

    def __abs__(self):
        from kcore import backend as K

        return K.abs(self)

    __hash__ = object.__hash__
