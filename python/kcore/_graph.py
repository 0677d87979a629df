"""The graph: placeholders, variables and constants as leaves, op nodes, updates, static shape
inference and evaluation.

Every backend op (kcore/_ops.py) serves eager values and symbolic tensors alike. Called with a
graph argument -- a placeholder, a variable, a constant, or a node built from them -- it returns
a node holding the op, the kernel provider of the backend that built it and the arguments; ops
on plain arrays compute at once. A node is evaluated when something asks for its value:
`K.function` feeds placeholders; `K.eval`, `np.asarray` and the number conversions evaluate a node
that needs no placeholder. Variables are read when the graph runs, so an expression built from
them (a metric's result) follows their current values, as in Keras on TensorFlow.

An `Update` (from K.update*, or (variable, value) pairs) is a graph item too: its new value is
computed with the outputs and applied after them, every update from the values read before any
was applied, as Theano's updates -- except that a node created inside
`K.control_dependencies(updates)` sees those updates applied first, as TensorFlow orders them.
K.update* with a plain value applies it at once, as eager TensorFlow does, except while a function
decorated with K.symbolic runs (Keras 2.3.1's optimizers build their updates so, TensorFlow's graph
mode): there it gives an Update as well, applied whenever the function that runs it is called.

A node's static shape and dtype come from the op's shape rule when it has one; otherwise from
running the op's eager function on zero arrays in which every unknown dim is replaced by a probe
size, twice with two different probes: dims that agree are static, dims that follow the probe are
None; constants and variables take their values (a variable's current one), or zeros where those
fail (every dim then unknown). A shape-like integer input (K.shape(x)[0]) is
evaluated under the probe; what that evaluation computes is kept (small values themselves, for
larger ones their shape) and later evaluations start from those values or zeros of those shapes.
K.shape(x) itself comes without computing x where x's shape under the probe follows from shapes
alone: x's op (its shape rule, or the op on zero-stride stand-ins) on its inputs' shapes under the
probe, back to the placeholders. So building a deep model (each BatchNormalization asks for its
input's shape) runs no convolution. Graphs are walked iteratively, so their depth is not bounded
by Python's recursion limit.
"""
from __future__ import annotations

import contextlib
import itertools
import math
import threading
import weakref

import numpy as np

_PROBES = (7, 11)  # stand-ins for unknown dims; two runs tell static dims from dynamic ones
_names = itertools.count(1)
_building = threading.local()  # whether a K.symbolic function runs in this thread (not under K.eager)
# {node: {probe: its value (small ones, which may carry shapes) or shape (larger ones) when
# placeholders had the probe for unknown dims}}
_probed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_probe_shapes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # {node: {probe: shape or None}}
_PROBED_VALUE_SIZE = 64


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
    """A graph tensor: the output of an op applied to at least one graph argument."""

    __array_priority__ = 1000  # so that ndarray <op> Tensor defers to Tensor's operators
    _is_placeholder = False

    def __init__(self, shape, dtype, op=None, kern=None, args=(), kwargs=None, name=None, deps=()):
        self._shape = None if shape is None else tuple(shape)
        self.dtype = dtype
        self.op = op
        self._kern = kern
        self.args = args
        self.kwargs = kwargs or {}
        self.deps = tuple(deps)  # control dependencies: updates applied (tensors computed) first
        self.name = name or scoped(f"{op.name.lstrip('_') if op is not None else 'tensor'}_{next(_names)}")

    @property
    def shape(self):
        return self._shape

    @property
    def ndim(self):
        return None if self._shape is None else len(self._shape)

    def __repr__(self):
        return f"<kcore.Tensor '{self.name}' shape={self._shape} dtype={self.dtype}>"

    def __array__(self, dtype=None, copy=None):
        value = np.asarray(value_of(self))
        return value if dtype is None else value.astype(dtype, copy=False)

    def __bool__(self):
        return bool(self._concrete("has no truth value; use K.switch for conditions"))

    def __float__(self):
        return float(self._concrete("cannot be converted to a number"))

    def __int__(self):
        return int(self._concrete("cannot be converted to a number"))

    def __index__(self):
        return int(self._concrete("cannot be used as an index").__index__())

    def _concrete(self, what):
        if needed_placeholders([self]):
            raise TypeError(f"symbolic tensor {self.name} depends on a placeholder: it {what}")
        return np.asarray(value_of(self))

    def __len__(self):
        if self._shape is None or not self._shape or self._shape[0] is None:
            raise TypeError(f"len() of symbolic tensor {self.name} with unknown first dim")
        return self._shape[0]


class Placeholder(Tensor):
    """A graph input, fed by K.function; `default` (when not None) is its value when not fed."""

    _is_placeholder = True

    def __init__(self, shape, dtype, sparse=False, name=None, default=None):
        super().__init__(shape, dtype, name=name or scoped(f"placeholder_{next(_names)}"))
        self.sparse = sparse
        self.default = default

    def __repr__(self):
        return f"<kcore.Placeholder '{self.name}' shape={self._shape} dtype={self.dtype}>"


class Constant(Tensor):
    """A tensor with a fixed value (K.constant): a graph leaf that needs no feed."""

    def __init__(self, value: np.ndarray, name=None):
        value.flags.writeable = False
        super().__init__(value.shape, value.dtype.name, name=name or scoped(f"constant_{next(_names)}"))
        self._value = value

    def __repr__(self):
        return f"<kcore.Constant '{self.name}' shape={self._shape} dtype={self.dtype}>"


@contextlib.contextmanager
def building(on: bool = True):
    """Graph building (K.symbolic; K.eager turns it off inside): updates of plain values wait for a
    function to run them."""
    before = getattr(_building, "on", False)
    _building.on = on
    try:
        yield
    finally:
        _building.on = before


def is_building() -> bool:
    return getattr(_building, "on", False)


class Update:
    """A pending in-place change of a variable: set to, add or subtract a (symbolic) value."""

    def __init__(self, variable, value, mode):
        self.variable, self.value, self.mode = variable, value, mode
        self.name = scoped(f"update_{next(_names)}")

    def apply(self, value):
        v = self.variable
        if self.mode == "add":
            value = v._value + np.asarray(value)
        elif self.mode == "sub":
            value = v._value - np.asarray(value)
        v.assign(np.asarray(value).astype(v._value.dtype, copy=False))

    def __repr__(self):
        return f"<kcore.Update '{self.name}' of {self.variable.name} ({self.mode})>"


# ---------------------------------------------------------------------------------------------
# Name scopes and control dependencies (K.name_scope, K.control_dependencies)

_scopes: list = []
_control: list = []


def scoped(name: str) -> str:
    """name inside the active name scopes ('outer/inner/name')."""
    return "/".join([*_scopes, name]) if _scopes else name


def current_control_deps() -> tuple:
    return tuple(d for group in _control for d in group)


def flat_items(obj) -> list:
    """Graph items (tensors, variables, updates) among nested lists and tuples."""
    found, stack = [], [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, (Operators, Update)):
            found.append(o)
        elif type(o) in (list, tuple):
            stack.extend(reversed(o))
    return found


# Argument types that are never symbolic (checked first: this is on every eager call's path).
PLAIN = frozenset({np.ndarray, int, float, bool, str, type(None), np.float16, np.float32, np.float64,
                   np.int32, np.int64})


def contains_symbolic(obj) -> bool:
    """Whether obj is, or holds in nested lists and tuples, a graph tensor or variable."""
    if isinstance(obj, Operators):
        return True
    if type(obj) in (list, tuple):
        # A plain loop with a type check first: axes lists are on the eager hot path.
        for o in obj:
            if type(o) not in PLAIN and contains_symbolic(o):
                return True
    return False


def apply(op, kern, args, kwargs):
    """op on (args, kwargs): a node when any argument is a graph item, else the eager result."""
    if any(contains_symbolic(a) for a in args) or any(contains_symbolic(a) for a in kwargs.values()):
        return make_node(op, kern, args, kwargs)
    return op.eager(kern, *args, **kwargs)


def _substitute(obj, concrete):
    if isinstance(obj, Operators):
        return concrete(obj)
    if type(obj) in (list, tuple):
        return type(obj)(_substitute(o, concrete) for o in obj)
    return obj


def _symbolic_args(args, kwargs=None) -> list:
    """The graph tensors and variables among arguments (nested lists and tuples included)."""
    found, stack = [], [list(args) + list((kwargs or {}).values())]
    while stack:
        for o in stack.pop():
            if isinstance(o, Operators):
                found.append(o)
            elif type(o) in (list, tuple):
                stack.append(o)
    return found


def _quiet(op, kern, args, kwargs, concrete):
    with np.errstate(all="ignore"):
        return np.asarray(op.eager(kern, *_substitute(args, concrete), **_substitute(kwargs, concrete)))


def make_node(op, kern, args, kwargs) -> Tensor:
    if op.build is not None:
        rewritten = op.build(kern, *args, **kwargs)
        if rewritten is not None:
            return rewritten
    inputs = _symbolic_args(args, kwargs)
    deps = current_control_deps()
    ruled = op.shape(*args, **kwargs) if op.shape is not None else None
    if ruled is not None:
        return Tensor(ruled[0], ruled[1], op, kern, args, kwargs, deps=deps)
    if any(t.shape is None for t in inputs):  # unknown rank: nothing to infer statically
        return Tensor(None, inputs[0].dtype, op, kern, args, kwargs, deps=deps)

    unsure = []  # set when a probe ran with graph leaves' values replaced by zeros: its dims are unknown

    def run(probe, hints=None):
        def attempt(zero_stride, values):
            def concrete(t):
                if values and (not isinstance(t, Tensor) or (t.op is None and not isinstance(t, Placeholder))):
                    return t._value  # a constant's or a variable's value (K.tile(x, K.constant(reps)))
                n = len(t.shape)
                dims = tuple(d if d is not None else (hints or {}).get(n - i, probe) for i, d in enumerate(t.shape))
                if isinstance(t, Tensor) and t.op is not None and n <= 1 and np.dtype(t.dtype).kind in "iu":
                    # A shape-like integer tensor (K.shape(x)[0]): its value under the probe, not zeros.
                    try:
                        return np.asarray(_under_probe(t, probe))
                    except (ValueError, IndexError, TypeError):
                        pass  # its graph needs more than zero inputs: zeros, as for other tensors
                if zero_stride:  # (no memory to fill for a value read only for its result's shape)
                    return np.broadcast_to(np.zeros((), t.dtype), dims)
                return np.zeros(dims, dtype=t.dtype)

            return _quiet(op, kern, args, kwargs, concrete)

        try:
            return attempt(True, True)
        except Exception:  # (an op that declines read-only or zero-stride inputs): ordinary zeros
            pass
        try:
            return attempt(False, True)
        except (ValueError, IndexError):  # values past the probe's sizes (indices, a slice's start)
            a = attempt(False, False)  # zeros instead: the rank holds, the dims may not
            unsure.append(True)
            return a

    def node(shape, a):
        if unsure:
            shape = None if shape is None else (None,) * len(shape)
        return Tensor(shape, a.dtype.name, op, kern, args, kwargs, deps=deps)

    def static(a, b):
        return tuple(x if x == y else None for x, y in zip(a.shape, b.shape, strict=True)) if a.ndim == b.ndim else None

    if all(d is not None for t in inputs for d in t.shape):  # every dim known: one run tells all
        a = run(_PROBES[0])
        return node(a.shape, a)
    try:
        a, b = run(_PROBES[0]), run(_PROBES[1])
        return node(static(a, b), a)
    except (ValueError, IndexError):
        pass
    # An unknown dim the op needs equal to a known one (a loss's (None, None) target against a
    # (None, 10) output): unknown dims take the known size found at the same place counted from
    # the end in the other inputs, then the probes go on as before.
    hints = _aligned_dims(inputs)
    if hints:
        try:
            a, b = run(_PROBES[0], hints), run(_PROBES[1], hints)
            return node(static(a, b), a)
        except (ValueError, IndexError):
            pass
    # Unknown dims that broadcast against known ones (None vs 2) fail with large probes; 1
    # broadcasts. Dims that come out as 1 may then be unknown, so they are reported None.
    a = run(1)
    return node(tuple(None if d == 1 else d for d in a.shape), a)


def static_dims(shape) -> tuple | None:
    """The dims a shape argument (ints, shape-like int tensors such as K.shape(x) or K.shape(x)[0],
    or a list of both) gives before anything runs: each an int where it does not depend on fed
    values or unknown dims, else None; None when even its length is unknown."""
    if not contains_symbolic(shape):
        try:
            return tuple(int(d) for d in np.asarray(shape).reshape(-1))
        except (TypeError, ValueError):
            return None
    if isinstance(shape, Operators):
        parts = [shape]
    elif type(shape) in (list, tuple):
        parts = list(shape)
    else:
        return None

    def dynamic(t) -> bool:  # reads a fed or variable value (not just shapes)
        stack, seen = [t], set()
        while stack:
            n = stack.pop()
            if id(n) in seen:
                continue
            seen.add(id(n))
            if isinstance(n, Tensor) and n.op is not None and n.op.name == "shape":
                continue
            fed = isinstance(n, Placeholder) and n.default is None
            if fed or (isinstance(n, Operators) and not isinstance(n, Tensor)):  # (or a variable)
                return True
            stack.extend(_inputs_of(n))
        return False

    out: list = []
    for part in parts:
        if not isinstance(part, Operators):
            out.append(part)
            continue
        dims = getattr(part, "shape", None)
        if dims is None or len(dims) > 1 or (dims and dims[0] is None):
            return None  # (its length is unknown)
        n = dims[0] if dims else 1
        if dynamic(part):
            out.extend([None] * n)
            continue
        try:
            a, b = (np.asarray(_under_probe(part, probe)).reshape(-1) for probe in _PROBES)
        except (ValueError, IndexError, TypeError):
            out.extend([None] * n)
            continue
        out.extend(int(x) if x == y else None for x, y in zip(a.tolist(), b.tolist(), strict=True))
    return tuple(out)


def _under_probe(t, probe):
    """t's value with placeholders fed zeros (the probe for unknown dims), starting from what
    earlier probes computed (small values as they were, larger ones as zeros of their shapes: shapes
    do not follow from their values); keeps what this one computes."""
    seeded, feed, stack, seen = {}, {}, [t], set()
    while stack:  # back from t, stopping at nodes an earlier probe computed
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        known = _probed.get(n, {}).get(probe) if n is not t and isinstance(n, Tensor) else None
        if known is None and isinstance(n, Tensor) and n.op is not None and n.op.name == "shape":
            known = _shape_under_probe(n.args[0], probe)  # (x's shape, not x's values)
        if known is not None:
            seeded[id(n)] = known if isinstance(known, np.ndarray) else np.zeros(known, n.dtype)
        elif isinstance(n, Placeholder):
            if n.default is None and n.shape is not None:
                feed[n] = np.zeros(tuple(probe if d is None else d for d in n.shape), n.dtype)
        else:
            stack.extend(_inputs_of(n))

    def record(node, v):
        if isinstance(node, Tensor) and node.op is not None and isinstance(v, np.ndarray):
            _probed.setdefault(node, {})[probe] = v.copy() if v.size <= _PROBED_VALUE_SIZE else v.shape

    return evaluate([t], feed, seeded=seeded, record=record)[0]


class _NeedsValue(Exception):
    pass


def _shape_under_probe(x, probe):
    """K.shape(x)'s value under the probe without running x's graph on zeros from the
    placeholders: from x's static shape or a shape an earlier probe recorded, else x's op on
    stand-ins for its inputs under the probe (placeholders, variables and constants as
    _under_probe sees them; computed values as zero-stride zeros of their shapes, found the same
    way and cached per node): its shape rule, or the op itself. None where a small integer value
    is read (it may be a shape: _under_probe computes those) or an op declines the stand-ins."""
    stack = [x]
    while stack:
        n = stack[-1]
        if _probe_shape(n, probe) is not _PENDING:
            stack.pop()
            continue
        waiting = [a for a in _symbolic_args(n.args, n.kwargs) if _probe_shape(a, probe) is _PENDING]
        if waiting:
            stack.extend(waiting)
            continue
        stack.pop()

        def stand_in(a):
            if isinstance(a, Placeholder):  # the value _under_probe gives it
                return np.zeros(_probe_shape(a, probe), a.dtype) if a.default is None else a.default
            if not isinstance(a, Tensor) or a.op is None:  # a variable or a constant
                return a._value
            shape = _probe_shape(a, probe)
            kind = np.dtype(a.dtype).kind
            if shape is None or shape == () or kind == "b" or (kind in "iu" and math.prod(shape) <= _PROBED_VALUE_SIZE):
                # (a small integer value may be a shape, a scalar a switch's condition, a mask
                # the length of a selection)
                raise _NeedsValue
            return np.broadcast_to(np.zeros((), a.dtype), shape)

        try:
            args, kwargs = _substitute(n.args, stand_in), _substitute(n.kwargs, stand_in)
            static = n.op.shape(*args, **kwargs) if n.op.shape is not None else None
            if static is not None:
                shape = static[0]
            else:
                with np.errstate(all="ignore"):
                    shape = np.shape(n.op.eager(n._kern, *args, **kwargs))
            found = tuple(int(d) for d in shape)
        except Exception:  # (_under_probe's own walk then computes it, and raises what is real)
            found = None
        _probe_shapes.setdefault(n, {})[probe] = found
    shape = _probe_shape(x, probe)
    return None if shape is None else np.asarray(shape, np.int32)


_PENDING = object()


def _probe_shape(n, probe):
    """n's shape under the probe where it is known without running n's op (a tuple), None where
    it cannot be had that way, _PENDING where n's op must run on stand-ins of its inputs."""
    dims = getattr(n, "shape", None)
    if dims is None:
        return None
    if None not in dims:
        return tuple(dims)
    if isinstance(n, Placeholder):
        return tuple(probe if d is None else d for d in dims) if n.default is None else None
    if not isinstance(n, Tensor) or n.op is None:
        return None
    known = _probed.get(n, {}).get(probe)
    if known is not None:
        return tuple(known.shape) if isinstance(known, np.ndarray) else tuple(known)
    cached = _probe_shapes.get(n, {})
    if probe in cached:
        return cached[probe]
    if n.deps or n.op.side_effect or n.op.tuple_valued:
        return None
    return _PENDING


def _aligned_dims(tensors) -> dict:
    """{position counted from the end: size} for the places where the tensors' known dims (1s
    aside, which broadcast) agree on one size."""
    seen: dict = {}
    for t in tensors:
        for k, d in enumerate(reversed(t.shape), start=1):
            if d is not None and d != 1:
                seen.setdefault(k, set()).add(d)
    return {k: v.pop() for k, v in seen.items() if len(v) == 1}


def _inputs_of(item) -> list:
    if isinstance(item, Update):
        return flat_items(item.value)
    if isinstance(item, Tensor) and item.op is not None:
        return _symbolic_args(item.args, item.kwargs) + flat_items(list(item.deps))
    return []  # leaves: placeholders, constants, variables


def _order(roots) -> list:
    """The items the roots depend on, each after its inputs (an iterative depth-first walk)."""
    order, seen = [], set()
    stack = [(t, False) for t in reversed(roots)]
    while stack:
        t, inputs_done = stack.pop()
        if id(t) in seen:
            continue
        inputs = _inputs_of(t)
        if inputs_done or not inputs:
            seen.add(id(t))
            order.append(t)
            continue
        stack.append((t, True))
        stack.extend((i, False) for i in reversed(inputs) if id(i) not in seen)
    return order


def _scalar_switch(t) -> bool:
    """A switch node (K.switch, K.in_train_phase on the learning phase): when its condition turns
    out to be a scalar, only the chosen branch is evaluated, as tf.cond runs one branch. A
    condition whose rank is known to be 1 or more (an RNN's mask) is an elementwise select: an
    ordinary node, which a recorded schedule replays."""
    if t.op.name != "switch" or len(t.args) != 3 or t.kwargs:
        return False
    cond = t.args[0]
    shape = getattr(cond, "shape", None) if isinstance(cond, Operators) else np.shape(cond)
    return shape is None or len(shape) == 0


def evaluate(items, feed: dict, apply_updates: bool = False, fusion: dict | None = None, seeded: dict | None = None,
             record=None):
    """Values of `items` (tensors, variables, updates, plain values, or nested lists and tuples
    of them) with placeholders bound by `feed` ({placeholder: array}). Updates reached through
    control dependencies are applied before the nodes that depend on them; with apply_updates,
    every update among the items is applied at the end, from values computed before. A switch on
    a scalar condition evaluates the branch it picks and not the other. `fusion`: a cache (kept
    by K.function) for the convolution chains computed fused (kcore/_fusion.py); None: no fusion.
    `seeded`: {id(node): value} taken as computed; `record(node, value)` sees each value computed.

    With `fusion`, the first evaluation for a set of decisions also records its schedule (each
    node computed, in order, with a precompiled call, and the values dropped after it); later
    ones replay it, which is the same computation without walking the graph again (and with the
    elementwise chains whose intermediates nothing else reads in one pass each: _fusion). Only
    evaluations whose switches all had decided (or constant) conditions record one: any other
    path through the graph depends on the values computed."""
    from kcore import _fusion

    memo: dict = {}
    applied: set = set()
    roots = flat_items(items)
    chains: dict = {}
    decisions: dict = {}
    schedule: list | None = None  # (node, its precompiled call, the ids dropped after it), replayed
    steps: list | None = None  # (node, the ids dropped after it), recorded
    if fusion is not None:
        # (Threads may call one function at once: each step is one atomic dict operation, and two
        # threads computing the same plan store equal ones.)
        if "state" not in fusion:
            fusion.setdefault("state", (_fusion.switch_placeholders(roots), {}))
        switches, plans = fusion["state"]
        decisions = {}
        for p in switches:
            v = feed.get(p, p.default)
            if v is not None and np.ndim(v) == 0:
                decisions[id(p)] = bool(np.asarray(v))
        key = tuple(sorted(decisions.items()))
        chains = plans.get(key)
        if chains is None:
            chains = plans.setdefault(key, _fusion.plan(roots, decisions))
        uses = fusion.get(("uses", key))
        if uses is None:
            uses = fusion.setdefault(("uses", key), _uses(roots, chains))
        if seeded is None and record is None:
            schedule, steps = fusion.get(("schedule", key)), []
    else:
        uses = _uses(roots, chains, seeded or {})
    reads, left = uses[0], dict(uses[1])  # (what each node may read; readers not yet computed)
    keep = {id(t) for t in roots}
    done: set = set()
    if seeded:
        memo.update(seeded)
        done.update(seeded)

    variables_read: dict = {}  # id -> the array of each variable read (what results must not alias)

    def value(obj):
        try:
            return memo[id(obj)]
        except KeyError:
            if isinstance(obj, (Tensor, Update)):
                raise
            a = obj._value  # a variable: read now
            variables_read[id(a)] = a
            return a

    def apply_update(u):
        if id(u) not in applied:
            applied.add(id(u))
            u.apply(memo[id(u)])

    def pending(t) -> list:
        """What t still waits for (the inputs a lazy switch needs once its condition is known)."""
        nonlocal steps
        if id(t) in chains:
            needed = _fusion.needs(chains[id(t)])
        elif isinstance(t, Tensor) and t.op is not None and _scalar_switch(t):
            cond = t.args[0]
            needed = [cond] + flat_items(list(t.deps))
            if contains_symbolic(cond) and id(cond) not in decisions:
                steps = None  # the branch read depends on a computed value: no schedule
            if not isinstance(cond, (Tensor, Update)) or id(cond) in done:
                c = value(cond) if contains_symbolic(cond) else cond
                branches = t.args[1:] if np.ndim(c) != 0 else [t.args[1] if bool(np.asarray(c)) else t.args[2]]
                needed += _symbolic_args(branches)
        else:
            needed = _inputs_of(t)
        return [i for i in needed if isinstance(i, (Tensor, Update)) and id(i) not in done]

    def release_inputs(t) -> list:
        """Drops the values t was the last reader of: their memory goes back (to kcore's block
        cache) for the nodes still to come, instead of every intermediate living to the end. A
        node left with no reader before it was computed will never be (the branch a switch did
        not take): its own reads go too, so what only it would have read is dropped now.
        Returns the ids dropped."""
        dropped, stack = [], [t]
        while stack:
            for i in reads.get(id(stack.pop()), ()):
                n = left[id(i)] - 1
                left[id(i)] = n
                if n == 0 and id(i) not in keep:
                    if id(i) in done:
                        memo.pop(id(i), None)
                        dropped.append(id(i))
                    else:
                        stack.append(i)
        return dropped

    def compute(t):
        if isinstance(t, Update):
            memo[id(t)] = _substitute(t.value, value)
        elif isinstance(t, Placeholder):
            if t in feed:
                memo[id(t)] = feed[t]
            elif t.default is not None:
                memo[id(t)] = t.default
            else:
                raise ValueError(f"placeholder '{t.name}' was not fed: pass it in the function's inputs")
        elif isinstance(t, Constant):
            memo[id(t)] = t._value
        elif isinstance(t, Tensor):
            if id(t) in chains:
                memo[id(t)] = _runner(t, chains, decisions)(value)
                return
            for d in flat_items(list(t.deps)):
                if isinstance(d, Update):
                    apply_update(d)
            if _scalar_switch(t):
                c = _substitute(t.args[0], value)
                if np.ndim(c) == 0:
                    memo[id(t)] = np.asarray(_substitute(t.args[1] if bool(np.asarray(c)) else t.args[2], value))
                    return
            memo[id(t)] = t.op.eager(t._kern, *_substitute(t.args, value), **_substitute(t.kwargs, value))

    if schedule is not None:
        for t, run, dropped in schedule:
            if run is None:
                compute(t)
            else:
                memo[id(t)] = run(value)
            for i in dropped:
                memo.pop(i, None)
    else:
        stack = [t for t in reversed(roots) if isinstance(t, (Tensor, Update))]
        while stack:  # depth first, each item after what it needs (no recursion: graphs can be deep)
            t = stack[-1]
            if id(t) in done:
                stack.pop()
                continue
            waits = pending(t)
            if waits:
                stack.extend(reversed(waits))
                continue
            stack.pop()
            compute(t)
            done.add(id(t))
            if record is not None:
                record(t, memo[id(t)])
            dropped = release_inputs(t)
            if steps is not None:
                steps.append((t, dropped))
        if steps is not None and fusion is not None:
            recorded = [(t, _runner(t, chains, decisions), d) for t, d in steps]
            fusion.setdefault(("schedule", key), _fusion.fuse_elementwise(recorded, uses[1], keep, chains))
    results = [_substitute(t, value) if not isinstance(t, Update) else None for t in items]
    if variables_read:  # a result holding a variable's memory (the variable, a view, stop_gradient) is copied
        owned = {id(_memory_of(a)) for a in variables_read.values()}
        results = _copied_where(results, owned)
    if apply_updates:
        final = [u for u in roots if isinstance(u, Update) and id(u) not in applied]
        # Each from the values read before any was applied (as Theano's updates): a value holding
        # the memory of a variable an update writes (a swap, an update to another's old value) is
        # copied first.
        written = {id(_memory_of(u.variable._value)) for u in final}
        for u in final:
            if id(_memory_of(memo[id(u)])) in written:
                memo[id(u)] = np.array(memo[id(u)], copy=True)
        for u in final:
            apply_update(u)
    return results


def _memory_of(a):
    """The array owning a's memory (a itself when it owns it)."""
    while isinstance(a, np.ndarray) and a.base is not None:
        a = a.base
    return a


def _copied_where(values, owned: set):
    """values (nested lists and tuples) with each array whose memory is in `owned` copied."""
    if type(values) in (list, tuple):
        return type(values)(_copied_where(v, owned) for v in values)
    if isinstance(values, np.ndarray) and id(_memory_of(values)) in owned:
        return np.array(values, copy=True)
    return values


def _runner(t, chains: dict, decisions: dict):
    """A precompiled computation of node t for a recorded schedule, `run(value) -> t's value`
    with `value` reading graph items, doing what evaluate's compute does for t; None for the
    items compute handles itself (leaves, updates, nodes with control dependencies)."""
    if not isinstance(t, Tensor) or t.op is None or t.deps:
        return None
    if id(t) in chains:  # the fused call, or where it declines, the chain's nodes op by op
        from kcore import _fusion

        chain = chains[id(t)]
        fused = _fusion.runner(chain)
        calls = [(id(n), _call(n.op, n._kern, n.args, n.kwargs)) for n in (*chain.inner, t)]
        through = dict(chain.through)

        def run(value):
            r = fused(value)
            if r is not None:
                return r
            local: dict = {}

            def read(item):  # the chain's own values, a decided switch between them as its branch
                key = id(through.get(id(item), item))
                return local[key] if key in local else value(item)

            for key, call in calls:
                local[key] = call(read)
            return local[id(t)]

        return run
    if _scalar_switch(t):
        cond = t.args[0]
        if contains_symbolic(cond):
            branch = t.args[1] if decisions[id(cond)] else t.args[2]
        else:  # a constant condition (an elementwise one is left to compute)
            if np.ndim(cond) != 0:
                return None
            branch = t.args[1] if bool(np.asarray(cond)) else t.args[2]
        return lambda value: np.asarray(_substitute(branch, value))
    return _call(t.op, t._kern, t.args, t.kwargs)


def _call(op, kern, args, kwargs):
    """`run(value)`: op.eager on (args, kwargs) with their graph items read through `value`. The
    arguments of an op with a native entry are bound to positions once, here, instead of at each
    call (Op.eager binds them the same way)."""
    if op.native is not None and kwargs:
        bound = op.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        args, kwargs = tuple(bound.arguments.values()), {}
    call = op.on(kern)
    direct = [(i, a) for i, a in enumerate(args) if isinstance(a, Operators)]
    nested = [(i, a) for i, a in enumerate(args) if type(a) in (list, tuple) and contains_symbolic(a)]
    if not kwargs and not nested and len(direct) == len(args) and len(args) <= 3:
        # (most nodes: one to three graph items, nothing else; no argument list to fill)
        if len(args) == 1:
            (a0,) = args
            return lambda value: call(value(a0))
        if len(args) == 2:
            a0, a1 = args
            return lambda value: call(value(a0), value(a1))
        if len(args) == 3:
            a0, a1, a2 = args
            return lambda value: call(value(a0), value(a1), value(a2))
    template = list(args)

    def run(value):
        a = template.copy()
        for i, item in direct:
            a[i] = value(item)
        for i, item in nested:
            a[i] = _substitute(item, value)
        return call(*a, **kwargs)

    return run


def _uses(roots, chains, seeded=()) -> tuple:
    """({id(node): the nodes it may read}, {id(value): how many nodes may read it}) over every node
    an evaluation of roots may compute: a switch may read both branches, a fused chain the inputs
    of its inner nodes too (computed op by op when the fused call declines). Counting a reader
    that never runs (the branch not taken) only keeps a value longer. A seeded node (its value
    given) reads nothing: the walk stops there, as a shape probe's walk does."""
    reads: dict = {}
    left: dict = {}
    stack = [t for t in roots if isinstance(t, (Tensor, Update))]
    while stack:
        t = stack.pop()
        if id(t) in reads:
            continue
        if id(t) in seeded:
            reads[id(t)] = []
            continue
        chain = chains.get(id(t))
        if chain is None:
            found = _inputs_of(t)
        else:
            from kcore import _fusion
            inner = {id(n) for n in chain.inner}
            found = _fusion.needs(chain) + [i for n in (*chain.inner, t) for i in _inputs_of(n) if id(i) not in inner]
        distinct = list({id(i): i for i in found if isinstance(i, (Tensor, Update))}.values())
        reads[id(t)] = distinct
        for i in distinct:
            left[id(i)] = left.get(id(i), 0) + 1
            if id(i) not in reads:
                stack.append(i)
    return reads, left


def needed_placeholders(items) -> list:
    """The placeholders without a default that the items depend on, in order of discovery."""
    return [t for t in _order(flat_items(items)) if isinstance(t, Placeholder) and t.default is None]


def placeholders_of(items) -> list:
    """Every placeholder the items depend on, in order of discovery."""
    return [t for t in _order(flat_items(items)) if isinstance(t, Placeholder)]


def value_of(t):
    """The current value of a tensor that needs no fed placeholder."""
    missing = needed_placeholders([t])
    if missing:
        raise TypeError(f"{t.name} is symbolic: it depends on placeholder(s) {', '.join(p.name for p in missing)}; "
                        f"evaluate it with K.function([...], [...]) and feed them")
    return evaluate([t], {})[0]
