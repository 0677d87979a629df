"""Symbolic tensors: placeholders, op nodes, static shape inference and evaluation.

Every backend function is an eager function wrapped by `op`. Called on concrete values it runs
eagerly. Called with a symbolic argument (a placeholder, or a node built from one) it returns a
node holding the same eager function and its arguments; `evaluate` later runs those eager
functions on fed values. A node's static shape and dtype are inferred by running the same eager
function on zero arrays in which every unknown dim is replaced by a probe size, twice with two
different probes: dims that agree are static, dims that follow the probe are None. So each op is
written once and its shape rule is its kernel.
"""
from __future__ import annotations

import functools
import inspect
import itertools

import numpy as np

_PROBES = (7, 11)  # stand-ins for unknown dims; two runs tell static dims from dynamic ones
_names = itertools.count(1)


class Operators:
    """Python operators for tensor-like objects (Tensor, Variable): they route through the active
    backend's ops, so they are eager on concrete values and symbolic on placeholders."""

    __slots__ = ()

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

    def __getitem__(self, key):
        from kcore import backend as K

        return K._getitem(self, key)

    __hash__ = object.__hash__


class Tensor(Operators):
    """A symbolic tensor: the output of an op applied to at least one placeholder."""

    __array_priority__ = 1000  # so that ndarray <op> Tensor defers to Tensor's operators
    _is_placeholder = False

    def __init__(self, shape, dtype, fn=None, args=(), kwargs=None, name=None):
        self._shape = None if shape is None else tuple(shape)
        self.dtype = dtype
        self.fn = fn
        self.args = args
        self.kwargs = kwargs or {}
        self.name = name or f"{getattr(fn, '__name__', 'tensor')}_{next(_names)}"

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


_PLAIN = frozenset({np.ndarray, int, float, bool, str, type(None), np.float16, np.float32, np.float64,
                    np.int32, np.int64})


def _contains_symbolic(obj) -> bool:
    if isinstance(obj, Tensor):
        return True
    if type(obj) in (list, tuple):
        # A plain loop with a type check first: axes lists are on the eager hot path.
        for o in obj:
            if type(o) not in _PLAIN and _contains_symbolic(o):
                return True
    return False


def op(fn=None, *, fast=None):
    """Makes an eager function serve both modes (see the module docstring).

    The wrapper is generated with fn's exact signature, so the eager path pays one extra call
    and a type lookup per argument, not *args/**kwargs packing. `fast`, when given, takes the
    same arguments and returns None to decline: a native entry point tried before anything
    else, so the common call (plain float arrays) costs one Python frame. It must decline
    anything symbolic; fn must still handle every call on its own (it is the graph's eager
    function)."""
    if fn is None:
        return functools.partial(op, fast=fast)
    params = list(inspect.signature(fn).parameters.values())
    if any(p.kind not in (p.POSITIONAL_OR_KEYWORD,) for p in params):
        if fast is not None:
            raise TypeError(f"op: a fast path needs plain positional parameters ({fn.__name__})")

        @functools.wraps(fn)
        def generic(*args, **kwargs):
            if any(_contains_symbolic(a) for a in args) or any(_contains_symbolic(a) for a in kwargs.values()):
                return make_node(fn, args, kwargs)
            return fn(*args, **kwargs)

        generic.eager = fn
        return generic
    names = [p.name for p in params]
    env = {"_fn": fn, "_fast": fast, "_PLAIN": _PLAIN, "_sym": _contains_symbolic, "_node": make_node}
    sig = []
    for p in params:
        if p.default is p.empty:
            sig.append(p.name)
        else:
            env[f"_d_{p.name}"] = p.default
            sig.append(f"{p.name}=_d_{p.name}")
    check = " or ".join(f"(type({n}) not in _PLAIN and _sym({n}))" for n in names) or "False"
    call = ", ".join(names)
    first = (f"    r = _fast({call})\n"
             f"    if r is not None:\n"
             f"        return r\n") if fast is not None else ""
    src = (f"def {fn.__name__}({', '.join(sig)}):\n"
           f"{first}"
           f"    if {check}:\n"
           f"        return _node(_fn, ({call}{',' if len(names) == 1 else ''}), {{}})\n"
           f"    return _fn({call})\n")
    exec(src, env)  # noqa: S102 - generated from fn's own signature
    wrapper = functools.wraps(fn)(env[fn.__name__])
    wrapper.eager = fn
    return wrapper


def _substitute(obj, concrete):
    if isinstance(obj, Tensor):
        return concrete(obj)
    if type(obj) in (list, tuple):
        return type(obj)(_substitute(o, concrete) for o in obj)
    return obj


def _symbolic_inputs(obj, out):
    if isinstance(obj, Tensor):
        out.append(obj)
    elif type(obj) in (list, tuple):
        for o in obj:
            _symbolic_inputs(o, out)
    return out


def make_node(fn, args, kwargs):
    inputs = _symbolic_inputs(list(args) + list(kwargs.values()), [])
    if any(t.shape is None for t in inputs):  # unknown rank: nothing to infer statically
        return Tensor(None, inputs[0].dtype, fn, args, kwargs)
    def run(probe):
        def concrete(t):
            return np.zeros(tuple(probe if d is None else d for d in t.shape), dtype=t.dtype)

        with np.errstate(all="ignore"):
            return np.asarray(fn(*_substitute(args, concrete), **_substitute(kwargs, concrete)))

    try:
        a, b = run(_PROBES[0]), run(_PROBES[1])
        shape = tuple(x if x == y else None for x, y in zip(a.shape, b.shape)) if a.ndim == b.ndim else None
    except (ValueError, IndexError):
        # Unknown dims that broadcast against known ones (None vs 2) fail with large probes;
        # 1 broadcasts. Dims that come out as 1 may then be unknown, so they are reported None.
        a = run(1)
        shape = tuple(None if d == 1 else d for d in a.shape)
    return Tensor(shape, a.dtype.name, fn, args, kwargs)


def evaluate(tensors, feed: dict):
    """Values of `tensors` with placeholders bound by `feed` ({placeholder: array})."""
    memo: dict = {}

    def value(obj):
        if isinstance(obj, Tensor):
            key = id(obj)
            if key not in memo:
                if obj._is_placeholder:
                    if obj not in feed:
                        raise ValueError(f"placeholder '{obj.name}' was not fed: pass it in the "
                                         f"function's inputs")
                    memo[key] = feed[obj]
                else:
                    memo[key] = obj.fn(*[value(a) for a in obj.args],
                                       **{k: value(v) for k, v in obj.kwargs.items()})
            return memo[key]
        if type(obj) in (list, tuple):
            return type(obj)(value(o) for o in obj)
        return obj

    return [value(t) for t in tensors]


def placeholders_of(t, out=None) -> list:
    out = [] if out is None else out
    if isinstance(t, Tensor):
        if t._is_placeholder:
            if t not in out:
                out.append(t)
        else:
            for a in list(t.args) + list(t.kwargs.values()):
                placeholders_of(a, out)
    elif type(t) in (list, tuple):
        for o in t:
            placeholders_of(o, out)
    return out
