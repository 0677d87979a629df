"""Fusion of what Keras chains after a convolution, found when a graph is evaluated.

Keras builds Conv -> bias_add -> relu, Conv -> BatchNormalization (in inference, kcore's
x * scale + shift: `_multiply_add`) -> ReLU(6), Conv with its bias -> BatchNormalization -> relu,
and Conv -> BatchNormalization -> Add (the residual shortcut) -> relu (ResNet50), often with
ZeroPadding before a 'valid' convolution (absorbed into the convolution's own zero padding).
Evaluated op by op, each link is a pass over the convolution's output. Where such a chain's
intermediate values are used by nothing else in the evaluation, the chain's last node is computed
by one convolution whose epilogue applies the per-channel bias, scale and shift, adds the
residual and clips, on each output block while it is in cache (kernels/conv.cpp). The graph
itself is not changed, so gradients (built on the unfused ops) and anything else reading the
intermediates see the ordinary nodes.

float32 and float64 results are bitwise those of the unfused ops; float16 rounds once instead of
after each op (closer to the exact value).
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np

CONV_OPS = ("conv1d", "conv2d", "conv3d", "depthwise_conv2d")
_CONV_RANK = {"conv1d": 1, "conv2d": 2, "conv3d": 3, "depthwise_conv2d": 2}


@dataclasses.dataclass(frozen=True)
class Chain:
    conv: Any  # the convolution node
    scale: Any  # per-channel operands (graph args or values), or None
    shift: Any
    lo: float
    hi: float
    inner: tuple  # the chain's nodes before the last, in order (computed op by op if the fused call declines)
    padding: Any = None  # the zero-padding node the convolution reads (absorbed into its pads), or None
    bias: Any = None  # a per-channel operand added before the scale (a bias_add before the normalization)
    residual: Any = None  # the other operand of an add after the shift (a value of the result's shape), or None
    # ((id(switch), its picked branch), ...): the decided switches between the chain's nodes, which
    # the chain reads through (computed op by op, a node reads the branch for the switch)
    through: tuple = ()


# Keras's ZeroPadding layers before a 'valid' convolution: the padding op per convolution rank.
PADDING_OPS = {"conv1d": "temporal_padding", "conv2d": "spatial_2d_padding", "conv3d": "spatial_3d_padding",
               "depthwise_conv2d": "spatial_2d_padding"}


def _bound(node) -> dict:
    b = node.op.signature.bind(*node.args, **node.kwargs)
    b.apply_defaults()
    return dict(b.arguments)


def _number(v) -> bool:
    """A real number, or a 0-d real array (Keras's layers keep theirs as K.cast_to_floatx's)."""
    if isinstance(v, np.ndarray):
        return v.ndim == 0 and v.dtype.kind in "iuf"
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _channels_last(node) -> bool:
    from kcore._api.config import normalize_data_format

    return normalize_data_format(_bound(node).get("data_format")) == "channels_last"


def _per_channel(v, channels) -> bool:
    """v laid along the last axis only: shape (C,) or (1, ..., 1, C)."""
    from kcore._api.common import static_shape

    shape = static_shape(v)
    return (shape is not None and len(shape) >= 1 and shape[-1] == channels
            and all(d == 1 for d in shape[:-1]))


def _as_float(v) -> float:
    """A number bound as a float; an integer past float's range as the infinity of its sign."""
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else -float("inf")


def _clip_bounds(node):
    """(lo, hi) of a relu without alpha/threshold or a clip with number bounds, else None."""
    args = _bound(node)
    if node.op.name == "relu":
        alpha, threshold, max_value = args["alpha"], args["threshold"], args["max_value"]
        if not (_number(alpha) and _number(threshold)) or alpha != 0 or threshold != 0:
            return None
        if max_value is None:
            return 0.0, float("inf")
        # (a negative max_value is not fused: relu then takes the maximum first, as
        # tf.clip_by_value, giving +0 where the epilogue's order would keep a -0)
        if not _number(max_value) or max_value != max_value or max_value < 0:  # (NaN: no maximum, as unfused)
            return None
        return 0.0, _as_float(max_value)
    lo, hi = args["min_value"], args["max_value"]
    if not all(v is None or (_number(v) and v == v) for v in (lo, hi)):
        return None
    lo = -float("inf") if lo is None else _as_float(lo)
    hi = float("inf") if hi is None else _as_float(hi)
    return lo, max(hi, lo)


def switch_placeholders(roots) -> list:
    """The placeholders that are the whole condition of a switch (the learning phase, for
    K.in_train_phase): their fed values decide which branch an evaluation reads."""
    from kcore._graph import Placeholder, _order, _scalar_switch

    found: dict = {}
    for t in _order(roots):
        if getattr(t, "op", None) is not None and _scalar_switch(t) and isinstance(t.args[0], Placeholder):
            found[id(t.args[0])] = t.args[0]
    return list(found.values())


def plan(roots, decisions: dict) -> dict:
    """{id(last node): Chain} for the chains in the graph of `roots`, as an evaluation reads it
    when each placeholder in `decisions` ({id: bool}) picks its switches' branch, whose
    intermediates nothing else reads."""
    from kcore._graph import Tensor, _inputs_of, _scalar_switch

    def chosen(t):
        """t's picked branch, for a switch whose condition is a decided placeholder; else None."""
        if isinstance(t, Tensor) and t.op is not None and _scalar_switch(t) and id(t.args[0]) in decisions:
            return t.args[1] if decisions[id(t.args[0])] else t.args[2]
        return None

    def inputs(t):
        branch = chosen(t)
        if branch is None:
            return _inputs_of(t)
        return [t.args[0]] + ([branch] if isinstance(branch, Tensor) else []) + list(t.deps)

    uses: dict = {}
    seen: set = set()
    order: list = []
    stack = [r for r in roots if isinstance(r, Tensor)]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        order.append(t)
        for i in inputs(t):
            uses[id(i)] = uses.get(id(i), 0) + 1
            stack.append(i)
    for r in roots:
        uses[id(r)] = uses.get(id(r), 0) + 1

    def only_input(node, pos):
        """node's argument `pos` (seen through decided switches) when it is a plain op node read
        only by node."""
        a = node.args[pos] if len(node.args) > pos else None
        while isinstance(a, Tensor) and uses.get(id(a)) == 1 and chosen(a) is not None and not a.deps:
            a = chosen(a)
        if (isinstance(a, Tensor) and a.op is not None and not a.deps and uses.get(id(a)) == 1
                and a._kern is node._kern):
            return a
        return None

    def conv_of(node, pos):
        c = only_input(node, pos)
        if c is None or c.op.name not in CONV_OPS or not _channels_last(c):
            return None
        shape = c.shape
        return c if shape is not None and shape[-1] is not None else None

    def padding_of(c):
        """The zero-padding node a 'valid' convolution reads, when only it reads it."""
        p = only_input(c, 0)
        if p is None or p.op.name != PADDING_OPS[c.op.name] or _bound(c)["padding"] != "valid":
            return None
        args = _bound(p)
        if p.op.name != "temporal_padding" and not _channels_last(p):
            return None
        spec = args["padding"]
        pairs = [spec] if p.op.name == "temporal_padding" else list(spec)
        ok = all(isinstance(pair, (list, tuple)) and len(pair) == 2 and all(type(v) is int and v >= 0 for v in pair)
                 for pair in pairs)
        return p if ok and len(pairs) == _CONV_RANK[c.op.name] else None

    def chain(conv, scale, shift, lo, hi, inner, bias=None, residual=None):
        pad = padding_of(conv)
        return Chain(conv, scale, shift, lo, hi, ((pad,) if pad is not None else ()) + inner, pad, bias, residual)

    def bias_of(node, channels):
        """The per-channel bias of a channels_last bias_add, else None."""
        if node.deps or node.op.name != "bias_add" or node.kwargs or not _channels_last(node):
            return None
        b = _bound(node)["bias"]
        return b if _per_channel(b, channels) else None

    def affine(node):
        """(conv, bias, scale, shift, inner nodes) when node is a convolution's output through
        bias_add, _multiply_add, or bias_add then _multiply_add."""
        if node.deps or node.op.name not in ("bias_add", "_multiply_add") or node.kwargs:
            return None
        c = conv_of(node, 0)
        if node.op.name == "bias_add":
            b = bias_of(node, c.shape[-1]) if c is not None else None
            return (c, None, None, b, (c,)) if b is not None else None
        m = only_input(node, 0) if c is None else None
        if m is not None and m.op.name == "bias_add":  # Conv(use_bias) -> BatchNormalization
            c = conv_of(m, 0)
        if c is None or len(node.args) != 3 or not all(_per_channel(v, c.shape[-1]) for v in node.args[1:]):
            return None
        if m is None:
            return c, None, node.args[1], node.args[2], (c,)
        b = bias_of(m, c.shape[-1])
        return (c, b, node.args[1], node.args[2], (c, m)) if b is not None else None

    def added(node):
        """(conv, bias, scale, shift, inner nodes, residual) when node adds a convolution's output
        (directly or through bias_add / _multiply_add) and another operand, the residual (its
        shape and dtype are checked when the values are there)."""
        if node.deps or node.op.name != "_add" or node.kwargs or len(node.args) != 2:
            return None
        for pos in (0, 1):
            m = only_input(node, pos)
            inner = affine(m) if m is not None else None
            if inner is not None:
                c, b, scale, shift, nodes = inner
                return c, b, scale, shift, nodes + (m,), node.args[1 - pos]
            c = conv_of(node, pos)
            if c is not None:
                return c, None, None, None, (c,), node.args[1 - pos]
        return None

    chains = {}
    for t in order:
        if not isinstance(t, Tensor) or t.op is None or t.deps:
            continue
        name = t.op.name
        if name in ("relu", "clip"):
            bounds = _clip_bounds(t)
            if bounds is None:
                continue
            m = only_input(t, 0)
            inner = affine(m) if m is not None else None
            if inner is not None:
                c, b, scale, shift, nodes = inner
                chains[id(t)] = chain(c, scale, shift, bounds[0], bounds[1], nodes + (m,), b)
                continue
            summed = added(m) if m is not None else None
            if summed is not None:
                c, b, scale, shift, nodes, residual = summed
                chains[id(t)] = chain(c, scale, shift, bounds[0], bounds[1], nodes + (m,), b, residual)
                continue
            c = conv_of(t, 0)
            if c is not None:
                chains[id(t)] = chain(c, None, None, bounds[0], bounds[1], (c,))
        elif name == "_add":
            summed = added(t)
            if summed is not None:
                c, b, scale, shift, nodes, residual = summed
                chains[id(t)] = chain(c, scale, shift, -float("inf"), float("inf"), nodes, b, residual)
        elif name in ("bias_add", "_multiply_add"):
            inner = affine(t)
            if inner is not None:
                c, b, scale, shift, nodes = inner
                chains[id(t)] = chain(c, scale, shift, -float("inf"), float("inf"), nodes, b)
        elif name in CONV_OPS and _channels_last(t) and padding_of(t) is not None:
            chains[id(t)] = chain(t, None, None, -float("inf"), float("inf"), ())
    # A chain that a longer chain includes is not one of its own.
    for found in list(chains.values()):
        for node in found.inner:
            chains.pop(id(node), None)
    for t in order:
        if id(t) in chains:
            found = chains[id(t)]
            inner = {id(n) for n in found.inner}
            through: dict = {}
            for n in (*found.inner, t):
                for a in n.args:
                    path = []
                    while isinstance(a, Tensor) and chosen(a) is not None and id(a) not in inner:
                        path.append(a)
                        a = chosen(a)
                    if path and id(a) in inner:
                        through.update((id(s), a) for s in path)
            chains[id(t)] = dataclasses.replace(found, through=tuple(through.items()))
    return chains


def needs(chain: Chain) -> list:
    """The graph values a fused chain reads: the convolution's arguments and the operands."""
    from kcore._graph import _symbolic_args

    c = chain.conv
    reads = _symbolic_args(c.args[1:], c.kwargs)
    x = chain.padding.args[0] if chain.padding is not None else c.args[0]
    return reads + _symbolic_args([x, chain.bias, chain.scale, chain.shift, chain.residual])


def runner(chain: Chain):
    """`run(value)`: the chain's value by one fused convolution, with graph items read through
    `value`, or None when its operands do not allow it (dtypes that differ, operands that are not
    per-channel arrays, a residual not of the result's shape). What does not change between
    evaluations (the padding, where the graph items sit among the arguments) is worked out here,
    once per schedule (kcore/_graph.py)."""
    from kcore._api.conv import fused_conv
    from kcore._graph import _substitute

    c = chain.conv
    pads = None
    if chain.padding is not None:  # the convolution reads the padding's input, padded in the kernel
        p = chain.padding
        spec = _bound(p)["padding"]
        pads = [tuple(spec)] if p.op.name == "temporal_padding" else [tuple(pair) for pair in spec]
        args = [p.args[0], *c.args[1:]]
    else:
        args = list(c.args)
    op, kern, kwargs = c.op, c._kern, c.kwargs
    operands = (chain.bias, chain.scale, chain.shift)

    def run(value):
        concrete = tuple(_substitute(args, value))
        dtype = getattr(concrete[0], "dtype", None)
        epilogue: list = []
        for v in operands:
            if v is None:
                epilogue.append(None)
                continue
            a = np.asarray(_substitute(v, value))
            if a.dtype != dtype:
                return None
            epilogue.append(np.ascontiguousarray(a.reshape(-1)))
        # (the residual's shape and dtype are checked against the result's in fused_conv)
        residual = None if chain.residual is None else np.asarray(_substitute(chain.residual, value))
        return fused_conv(op, kern, concrete, kwargs, (*epilogue, chain.lo, chain.hi, residual), pads)

    return run


# ---------------------------------------------------------------------------------------------
# Elementwise chains: an optimizer's update (Adam: m * beta_1 + g * (1 - beta_1), then p - lr * m
# / (sqrt(v) + epsilon)), a normalization's arithmetic, an activation's gradient. Where the
# intermediate values of such a chain (add .. divide, maximum, minimum and the parameterless
# functions of the native elementwise family) are read by nothing but the chain's next node, the
# recorded schedule computes its last node by one pass (the native elementwise_chain: the same
# functors, so the same bits as op by op, float32/float64 operands of one shape or single values);
# where its operands do not allow that (broadcast rows, other dtypes or layouts), op by op.

_CHAIN_STEPS, _CHAIN_OPERANDS = 32, 16  # (kcore/elementwise_plan.hpp's kChainMaxSteps, kChainMaxOperands)


def _chain_kinds() -> tuple:
    from kcore._kernels import ElementwiseKind as E

    binary = {E.add, E.subtract, E.multiply, E.divide, E.maximum, E.minimum}
    unary = {E.exp, E.log, E.tanh, E.sigmoid, E.hard_sigmoid, E.softplus, E.softsign, E.square, E.abs, E.sqrt,
             E.sign, E.round, E.negative}
    return binary, unary


def _link_kind(t, binary, unary, native) -> int | None:
    """The elementwise kind node t computes as a link of a chain (on kcore's kernels, its arguments
    graph items, numbers or arrays, no keyword arguments or control dependencies), or None."""
    from kcore._graph import Operators

    op = getattr(t, "op", None)
    if op is None or op.native is None or len(op.native) != 2 or t.kwargs or t.deps or t._kern is not native:
        return None
    if not all(isinstance(a, (Operators, np.ndarray, np.generic)) or type(a) in (int, float) for a in t.args):
        return None  # (a list would be converted at each call, its tensors evaluated again)
    entry, kind = op.native
    if entry == "elementwise" and kind in binary and len(t.args) == 2:
        return int(kind)
    if entry == "elementwise1" and kind in unary and len(t.args) == 1:
        return int(kind)
    return None


def fuse_elementwise(schedule: list, readers: dict, keep: set, fused: dict) -> list:
    """The recorded schedule [(node, run, dropped ids)] with each elementwise chain's nodes
    replaced by one entry for its last node (kcore/_graph.py evaluate). `readers`: how many nodes
    may read each value; `keep`: the evaluation's roots (never folded into a later node); `fused`:
    the convolution chains (their last nodes run as one convolution, never a link).

    A chain's nodes then run where its last node does: the values they read are dropped after it
    (not after a node between them that read them last), and no node moves past a node with
    control dependencies (an update there may change a variable it reads, or a view of one)."""
    from kcore._graph import Operators, Tensor
    from kcore._kernels import NATIVE

    binary, unary = _chain_kinds()
    index = {id(t): i for i, (t, _, _) in enumerate(schedule)}
    kinds = {}
    for t, run, _ in schedule:
        if run is not None and isinstance(t, Tensor) and id(t) not in fused:
            k = _link_kind(t, binary, unary, NATIVE)
            if k is not None:
                kinds[id(t)] = k
    ordered = [i for i, (t, _, _) in enumerate(schedule) if isinstance(t, Tensor) and t.deps]

    def movable(a, to):  # a may run at position `to`: no control dependencies in between (an update of a
        return not any(index[id(a)] < i < to for i in ordered)  # variable a reads, or of memory a view of it shares)

    absorbed: dict = {}  # id(node) -> id(the last node of its chain)
    chains: dict = {}  # id(last node) -> the chain's nodes in schedule order
    for t, _, _ in reversed(schedule):
        if id(t) not in kinds or id(t) in absorbed:
            continue
        members, stack = [t], [t]
        while stack:
            for a in stack.pop().args:
                if (isinstance(a, Tensor) and id(a) in kinds and id(a) not in absorbed and readers.get(id(a)) == 1
                        and id(a) not in keep and index[id(a)] < index[id(t)] and len(members) < _CHAIN_STEPS
                        and movable(a, index[id(t)]) and len(_chain_operands([*members, a])) <= _CHAIN_OPERANDS):
                    members.append(a)
                    absorbed[id(a)] = id(t)
                    stack.append(a)
        if len(members) > 1:  # (at most _CHAIN_OPERANDS operands: checked as it grew)
            chains[id(t)] = sorted(members, key=lambda n: index[id(n)])
    # Where each value read by a chain is read last now: at the chain's last node at the earliest.
    read_until: dict = {}
    for sink, members in chains.items():
        for a in _chain_operands(members):
            if isinstance(a, Operators):
                read_until[id(a)] = max(read_until.get(id(a), -1), index[sink])
    moved: dict = {}  # schedule position -> the ids dropped there instead of earlier
    for i, (t, _, dropped) in enumerate(schedule):
        at = index[absorbed[id(t)]] if id(t) in absorbed else i
        for d in dropped:
            moved.setdefault(max(at, read_until.get(d, -1)), []).append(d)
    out: list = []
    for i, (t, run, _) in enumerate(schedule):
        if id(t) in absorbed:
            continue
        entry_run = _chain_runner(chains[id(t)], kinds) if id(t) in chains else run
        out.append((t, entry_run, tuple(moved.get(i, ()))))
    return out


def _chain_operands(members) -> list:
    """The values a chain reads besides its own nodes' (each graph item once, each other argument
    as it stands), in the order the runner gives them slots."""
    from kcore._graph import Operators

    inside = {id(m) for m in members if isinstance(m, Operators)}
    seen, found = set(), []
    for m in members:
        for a in m.args:
            if isinstance(a, Operators):
                if id(a) in inside or id(a) in seen:
                    continue
                seen.add(id(a))
            found.append(a)
    return found


def _chain_runner(members: list, kinds: dict):
    """`run(value)` for a chain's last node: one native pass over its operands, or its nodes op by
    op where the native call declines them (or where the chain has too many operands)."""
    from kcore import _core
    from kcore._graph import Operators, _call

    inside = {id(m): s for s, m in enumerate(members)}
    operands = _chain_operands(members)  # (at most _CHAIN_OPERANDS: fuse_elementwise sees to it)
    nin = len(operands)
    graph_slot = {id(a): i for i, a in enumerate(operands) if isinstance(a, Operators)}
    others = iter(i for i, a in enumerate(operands) if not isinstance(a, Operators))
    steps: list = []
    for m in members:
        read = [(nin + inside[id(a)] if id(a) in inside else graph_slot[id(a)]) if isinstance(a, Operators)
                else next(others) for a in m.args]
        steps.extend((kinds[id(m)], read[0], read[-1]))
    code = tuple(steps)
    graph_items = [(i, a) for i, a in enumerate(operands) if isinstance(a, Operators)]
    # Op by op: each node's value dropped once its one reader (the chain's next node) has run.
    calls = [(id(m), _call(m.op, m._kern, m.args, m.kwargs), {id(a) for a in m.args if id(a) in inside})
             for m in members]
    last = id(members[-1])

    chain = _core.elementwise_chain

    def run(value):
        given = list(operands)
        for i, a in graph_items:
            given[i] = value(a)
        r = chain(code, tuple(given))
        if r is not None:
            return r
        local: dict = {}

        def read(item):
            key = id(item)
            return local[key] if key in local else value(item)

        for key, call, done in calls:
            local[key] = call(read)
            for d in done:
                del local[d]
        return local[last]

    return run
