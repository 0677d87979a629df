"""Symbolic tensors: placeholders, op nodes, static shape inference and evaluation.

Every backend op (kcore/_ops.py) serves eager values and symbolic tensors alike: called with a
symbolic argument (a placeholder, or a node built from one) it returns a node holding the op,
the kernel provider of the backend that built it and the arguments; `evaluate` later runs the
ops on fed values. A node's static shape and dtype come from the op's shape rule when it has
one; otherwise from running the op's eager function on zero arrays in which every unknown dim is
replaced by a probe size, twice with two different probes: dims that agree are static, dims that
follow the probe are None. Graphs are walked iteratively, so their depth is not bounded by
Python's recursion limit.
"""
from __future__ import annotations

import itertools

import numpy as np

_PROBES = (7, 11)  # stand-ins for unknown dims; two runs tell static dims from dynamic ones
_names = itertools.count(1)


def _registry():
    from kcore._ops import REGISTRY

    return REGISTRY


def _active_kernels():
    from kcore import _kernels, backend

    return getattr(backend, "_kernels", _kernels.NATIVE)


class Operators:
    """Python operators for tensor-like objects (Tensor, Variable): they run the registry's ops
    on the kernels of the tensor's backend (the active backend for variables), so they are eager
    on concrete values and symbolic on placeholders."""

    __slots__ = ()

    def _apply(self, name, *args):
        kern = getattr(self, "_kern", None) or _active_kernels()
        return apply(_registry()[name], kern, args, {})

    def __add__(self, o): return self._apply("_add", self, o)
    def __radd__(self, o): return self._apply("_add", o, self)
    def __sub__(self, o): return self._apply("_subtract", self, o)
    def __rsub__(self, o): return self._apply("_subtract", o, self)
    def __mul__(self, o): return self._apply("_multiply", self, o)
    def __rmul__(self, o): return self._apply("_multiply", o, self)
    def __truediv__(self, o): return self._apply("_divide", self, o)
    def __rtruediv__(self, o): return self._apply("_divide", o, self)
    def __pow__(self, o): return self._apply("_power", self, o)
    def __rpow__(self, o): return self._apply("_power", o, self)
    def __matmul__(self, o): return self._apply("_matmul", self, o)
    def __rmatmul__(self, o): return self._apply("_matmul", o, self)
    def __lt__(self, o): return self._apply("less", self, o)
    def __le__(self, o): return self._apply("less_equal", self, o)
    def __gt__(self, o): return self._apply("greater", self, o)
    def __ge__(self, o): return self._apply("greater_equal", self, o)
    def __neg__(self): return self._apply("_negative", self)
    def __abs__(self): return self._apply("abs", self)
    def __getitem__(self, key): return self._apply("_getitem", self, key)

    __hash__ = object.__hash__


class Tensor(Operators):
    """A symbolic tensor: the output of an op applied to at least one placeholder."""

    __array_priority__ = 1000  # so that ndarray <op> Tensor defers to Tensor's operators
    _is_placeholder = False

    def __init__(self, shape, dtype, op=None, kern=None, args=(), kwargs=None, name=None):
        self._shape = None if shape is None else tuple(shape)
        self.dtype = dtype
        self.op = op
        self._kern = kern
        self.args = args
        self.kwargs = kwargs or {}
        self.name = name or f"{op.name.lstrip('_') if op is not None else 'tensor'}_{next(_names)}"

    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return None if self._shape is None else len(self._shape)

    def __repr__(self):
        return f"<kcore.Tensor '{self.name}' shape={self._shape} dtype={self.dtype}>"

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self.name} is symbolic: it depends on a placeholder; evaluate it with "
                        f"K.function([...], [...]) and feed the placeholder's value")

    def __bool__(self):
        raise TypeError("a symbolic tensor has no truth value; use K.switch for conditions")

    def __len__(self):
        if self._shape is None or not self._shape or self._shape[0] is None:
            raise TypeError(f"len() of symbolic tensor {self.name} with unknown first dim")
        return self._shape[0]


class Placeholder(Tensor):
    _is_placeholder = True

    def __init__(self, shape, dtype, sparse=False, name=None):
        super().__init__(shape, dtype, name=name or f"placeholder_{next(_names)}")
        self.sparse = sparse

    def __repr__(self):
        return f"<kcore.Placeholder '{self.name}' shape={self._shape} dtype={self.dtype}>"


# Argument types that are never symbolic (checked first: this is on every eager call's path).
PLAIN = frozenset({np.ndarray, int, float, bool, str, type(None), np.float16, np.float32, np.float64,
                   np.int32, np.int64})


def contains_symbolic(obj) -> bool:
    if isinstance(obj, Tensor):
        return True
    if type(obj) in (list, tuple):
        # A plain loop with a type check first: axes lists are on the eager hot path.
        for o in obj:
            if type(o) not in PLAIN and contains_symbolic(o):
                return True
    return False


def apply(op, kern, args, kwargs):
    """op on (args, kwargs): a node when any argument is symbolic, else the eager result."""
    if any(contains_symbolic(a) for a in args) or any(contains_symbolic(a) for a in kwargs.values()):
        return make_node(op, kern, args, kwargs)
    return op.eager(kern, *args, **kwargs)


def _substitute(obj, concrete):
    if isinstance(obj, Tensor):
        return concrete(obj)
    if type(obj) in (list, tuple):
        return type(obj)(_substitute(o, concrete) for o in obj)
    return obj


def _symbolic_args(args, kwargs=None) -> list:
    """The symbolic tensors among arguments (nested lists and tuples included)."""
    found, stack = [], [list(args) + list((kwargs or {}).values())]
    while stack:
        for o in stack.pop():
            if isinstance(o, Tensor):
                found.append(o)
            elif type(o) in (list, tuple):
                stack.append(o)
    return found


def make_node(op, kern, args, kwargs) -> Tensor:
    inputs = _symbolic_args(args, kwargs)
    if op.shape is not None:
        shape, dtype = op.shape(*args, **kwargs)
        return Tensor(shape, dtype, op, kern, args, kwargs)
    if any(t.shape is None for t in inputs):  # unknown rank: nothing to infer statically
        return Tensor(None, inputs[0].dtype, op, kern, args, kwargs)

    def run(probe, hints=None):
        def concrete(t):
            n = len(t.shape)
            dims = (d if d is not None else (hints or {}).get(n - i, probe) for i, d in enumerate(t.shape))
            return np.zeros(tuple(dims), dtype=t.dtype)

        with np.errstate(all="ignore"):
            return np.asarray(op.eager(kern, *_substitute(args, concrete), **_substitute(kwargs, concrete)))

    def static(a, b):
        return tuple(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True)) if a.ndim == b.ndim else None

    try:
        a, b = run(_PROBES[0]), run(_PROBES[1])
        return Tensor(static(a, b), a.dtype.name, op, kern, args, kwargs)
    except (ValueError, IndexError):
        pass
    # An unknown dim the op needs equal to a known one (a loss's (None, None) target against a
    # (None, 10) output): unknown dims take the known size found at the same place counted from
    # the end in the other inputs, then the probes go on as before.
    hints = _aligned_dims(inputs)
    if hints:
        try:
            a, b = run(_PROBES[0], hints), run(_PROBES[1], hints)
            return Tensor(static(a, b), a.dtype.name, op, kern, args, kwargs)
        except (ValueError, IndexError):
            pass
    # Unknown dims that broadcast against known ones (None vs 2) fail with large probes; 1
    # broadcasts. Dims that come out as 1 may then be unknown, so they are reported None.
    a = run(1)
    return Tensor(tuple(None if d == 1 else d for d in a.shape), a.dtype.name, op, kern, args, kwargs)


def _aligned_dims(tensors) -> dict:
    """{position counted from the end: size} for the places where the tensors' known dims (1s
    aside, which broadcast) agree on one size."""
    seen: dict = {}
    for t in tensors:
        for k, d in enumerate(reversed(t.shape), start=1):
            if d is not None and d != 1:
                seen.setdefault(k, set()).add(d)
    return {k: v.pop() for k, v in seen.items() if len(v) == 1}


def _order(tensors) -> list:
    """The nodes the tensors depend on, each after its inputs (an iterative depth-first walk)."""
    order, seen = [], set()
    stack = [(t, False) for t in reversed(tensors) if isinstance(t, Tensor)]
    while stack:
        t, inputs_done = stack.pop()
        if id(t) in seen:
            continue
        if inputs_done or t._is_placeholder:
            seen.add(id(t))
            order.append(t)
            continue
        stack.append((t, True))
        stack.extend((i, False) for i in reversed(_symbolic_args(t.args, t.kwargs)) if id(i) not in seen)
    return order


def evaluate(tensors, feed: dict):
    """Values of `tensors` (tensors, plain values, or nested lists and tuples of them) with
    placeholders bound by `feed` ({placeholder: array})."""
    memo: dict = {}

    def value(obj):
        return memo[id(obj)]

    for t in _order(_symbolic_args((tensors,))):
        if t._is_placeholder:
            if t not in feed:
                raise ValueError(f"placeholder '{t.name}' was not fed: pass it in the function's inputs")
            memo[id(t)] = feed[t]
            continue
        memo[id(t)] = t.op.eager(t._kern, *_substitute(t.args, value), **_substitute(t.kwargs, value))
    return [_substitute(t, value) for t in tensors]


def placeholders_of(tensors) -> list:
    """The placeholders the tensors (or nested lists of them) depend on, in order of discovery."""
    roots = _symbolic_args((tensors,))
    return [t for t in _order(roots) if t._is_placeholder]
