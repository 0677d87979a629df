"""Shape operations: concatenate, stack, reshape, expand_dims, squeeze, flatten, batch_flatten,
repeat, repeat_elements, tile, padding, one_hot, reverse, slice, switch, gather, batch_gather
(NumPy)."""
from __future__ import annotations

import builtins
import numbers

import numpy as np

from kcore import _graph
from kcore import _validate as V
from kcore._api.common import static_dtype, static_shape
from kcore._api.config import data_format as data_format_of
from kcore._api.config import normalize_data_format
from kcore._api.elementwise import broadcast
from kcore._api.grad import Builder, builder_for, gradient, no_gradient
from kcore._kernels import ElementwiseKind as E
from kcore._ops import REGISTRY, op, run
from kcore._runtime import _core

PUBLIC = ()


@op(kernels=True, native=("concatenate",))
def concatenate(kern, tensors, axis=-1):
    """Joins tensors of one dtype along axis (see _of_one_dtype); a negative axis counts modulo the
    rank, as Keras 2.3.1's TensorFlow backend does."""
    arrs = _of_one_dtype(tensors, "concatenate", "tensors")
    rank = arrs[0].ndim
    if rank == 0:
        raise ValueError("concatenate: cannot join rank-0 tensors (scalars); stack them instead")
    if builtins.any(a.ndim != rank for a in arrs):
        raise ValueError(f"concatenate: the tensors' ranks differ ({', '.join(str(a.ndim) for a in arrs)})")
    if isinstance(axis, numbers.Integral) and not isinstance(axis, (bool, np.bool_)) and axis < 0:
        axis = int(axis) % rank
    ax = _core.single_axis(axis, rank, "concatenate")
    if builtins.any(a.shape[:ax] + a.shape[ax + 1:] != arrs[0].shape[:ax] + arrs[0].shape[ax + 1:] for a in arrs):
        raise ValueError(f"concatenate: the tensors' shapes {', '.join(str(a.shape) for a in arrs)} differ off "
                         f"axis {ax}")
    return _joined(kern, arrs, ax)


def _of_one_dtype(tensors, fn: str, what: str) -> list:
    """The tensors as arrays of one dtype, as TensorFlow joins them: mixed dtypes are a TypeError;
    Python lists take the tensors' dtype, but not floats into integer tensors or numbers into bool
    ones (TensorFlow refuses to convert them)."""
    tensors = V.tensors(tensors, fn, what)
    dtypes = [np.dtype(t.dtype) for t in tensors if hasattr(t, "dtype")]
    if builtins.any(d != dtypes[0] for d in dtypes):
        raise TypeError(f"{fn}: the tensors' dtypes differ ({', '.join(sorted({d.name for d in dtypes}))}); "
                        f"cast them to one first")
    arrs = []
    for t in tensors:
        a = V.tensor(t, fn, what)
        if dtypes and not hasattr(t, "dtype"):
            kind = dtypes[0].kind
            wider = kind in "iu" and a.size > 0 and a.dtype.kind in "iu" and not (
                np.iinfo(dtypes[0]).min <= a.min() and a.max() <= np.iinfo(dtypes[0]).max)
            if (kind in "iu" and a.dtype.kind not in "iub") or (kind == "b" and a.dtype.kind != "b") or wider:
                raise TypeError(f"{fn}: a Python list of {a.dtype.name} values cannot join {dtypes[0].name} "
                                f"tensors; cast them first")
            a = np.asarray(a, dtype=dtypes[0])
        arrs.append(a)
    return arrs


def _joined(kern, arrs, ax):
    """The arrays joined along axis ax: the copy engine where the provider takes them."""
    r = kern.concatenate(arrs, ax)
    return r if r is not None else np.concatenate(arrs, axis=ax)


def _is_count(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) and int(v) >= 0


@op(kernels=True)
def stack(kern, x, axis=0):
    """Tensors of one shape and one dtype (see _of_one_dtype) stacked along a new axis."""
    arrs = _of_one_dtype(x, "stack", "x")
    if builtins.any(a.shape != arrs[0].shape for a in arrs):
        raise ValueError(f"stack: the tensors' shapes differ ({', '.join(str(a.shape) for a in arrs)})")
    ax = _core.single_axis(axis, arrs[0].ndim + 1, "stack")
    return _joined(kern, [np.expand_dims(a, ax) for a in arrs], ax)


def _cannot_reshape(shape, size, target) -> ValueError:
    return ValueError(f"reshape: cannot reshape an array of shape {tuple(shape)} ({size} elements) into "
                      f"{tuple(target)}")


def _reshape_rule(x, shape):
    """Static shape of reshape: the target's dims where known; a -1 is computed when x's size and
    the other dims are known (probing could not tell it: stand-ins for x's unknown dims need not
    divide by the known ones)."""
    if not _graph.contains_symbolic(shape):
        V.dims(shape, "reshape", minus_one=True)
    dims = _graph.static_dims(shape)
    dt = static_dtype(x)
    if dims is None:
        return None, dt
    xs = static_shape(x)
    known_x = xs is not None and None not in xs
    if -1 in dims:
        rest = [d for d in dims if d != -1]
        size = int(np.prod(xs, dtype=np.int64)) if known_x else None
        per = int(np.prod(rest, dtype=np.int64)) if None not in rest else None
        fill = None
        if size is not None and per is not None:
            if per == 0 or size % per:
                raise _cannot_reshape(xs, size, dims)
            fill = size // per
        dims = tuple(fill if d == -1 else d for d in dims)
    elif known_x and None not in dims and int(np.prod(dims, dtype=np.int64)) != int(np.prod(xs, dtype=np.int64)):
        raise _cannot_reshape(xs, int(np.prod(xs, dtype=np.int64)), dims)
    return dims, dt


@op(shape=_reshape_rule)
def reshape(x, shape):
    a = V.as_array(x, "reshape")
    target = V.dims(shape, "reshape", minus_one=True)
    try:
        return np.reshape(a, target)
    except ValueError:
        raise _cannot_reshape(a.shape, a.size, target) from None


@op()
def expand_dims(x, axis=-1):
    a = V.tensor(x, "expand_dims")
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"expand_dims: axis must be an int, got {axis!r}")
    if not -a.ndim - 1 <= axis <= a.ndim:
        raise ValueError(f"expand_dims: axis {axis} is out of range for a tensor of rank {a.ndim} (valid: "
                         f"{-a.ndim - 1} to {a.ndim})")
    return np.expand_dims(a, int(axis))


@op()
def squeeze(x, axis):
    a = V.tensor(x, "squeeze")
    ax = _core.single_axis(axis, a.ndim, "squeeze")
    if a.shape[ax] != 1:
        raise ValueError(f"squeeze: cannot squeeze axis {axis} of shape {a.shape}: its size is {a.shape[ax]}, not 1")
    return np.squeeze(a, ax)


@op()
def flatten(x):
    return V.tensor(x, "flatten").reshape(-1)


@op()
def batch_flatten(x):
    a = V.tensor(x, "batch_flatten")
    return a.reshape(a.shape[0] if a.ndim else 1, -1)


@op()
def repeat(x, n):
    """(samples, dim) -> (samples, n, dim)."""
    a = V.tensor(x, "repeat")
    if a.ndim != 2:
        raise ValueError(f"repeat: expects a rank-2 tensor (samples, dim), got shape {a.shape}")
    n = V.count(n, "repeat", "n", bits=31)  # (tf.tile's multiples are int32)
    V.dims((a.shape[0], n, a.shape[1]), "repeat", "the result's shape")
    return np.repeat(a[:, None, :], n, axis=1)


@op()
def repeat_elements(x, rep, axis):
    a = V.tensor(x, "repeat_elements")
    rep, ax = V.count(rep, "repeat_elements", "rep", bits=31), _core.single_axis(axis, a.ndim, "repeat_elements")
    V.dims(a.shape[:ax] + (a.shape[ax] * rep,) + a.shape[ax + 1:], "repeat_elements", "the result's shape")
    return np.repeat(a, rep, axis=ax)


@op()
def tile(x, n):
    """Tile; n shorter than the rank is padded with leading 1s (Keras 2.3)."""
    a = V.tensor(x, "tile")
    reps = V.dims(n, "tile", "n")
    if len(reps) > a.ndim:
        raise ValueError(f"tile: n {reps} is longer than the rank of shape {a.shape}")
    reps = (1,) * (a.ndim - len(reps)) + reps
    V.dims(tuple(d * r for d, r in zip(a.shape, reps, strict=True)), "tile", "the result's shape")
    return np.tile(a, reps)


def _pads(padding, fn: str, nd: int) -> list:
    """Zero padding as nd (before, after) pairs of counts (one pair: a 1-element list)."""
    pairs = [padding] if nd == 0 else padding
    if not isinstance(pairs, (list, tuple)) or len(pairs) != max(nd, 1) or builtins.any(
            not isinstance(p, (list, tuple)) or len(p) != 2 for p in pairs):
        wanted = "a pair (before, after)" if nd == 0 else f"{nd} pairs (before, after), one per spatial dim"
        raise ValueError(f"{fn}: padding must be {wanted}, got {padding!r}")
    return [tuple(V.count(v, fn, "padding", bits=31) for v in p) for p in pairs]


@op(kernels=True)
def temporal_padding(kern, x, padding=(1, 1)):
    a = V.tensor(x, "temporal_padding")
    (pad,) = _pads(padding, "temporal_padding", 0)
    if a.ndim != 3:
        raise ValueError(f"temporal_padding: expects a rank-3 tensor, got shape {a.shape}")
    return _zero_padded(kern, a, [(0, 0), pad, (0, 0)])


def _zero_padded(kern, a, pads):
    """a with (before, after) zeros around each dim: the provider's pad (kcore's result memory
    and threads), or NumPy's for what it declines (other dtypes, strided views)."""
    out = kern.pad(a, pads)
    return out if out is not None else np.pad(a, pads)


def _spatial_padding(kern, fn, x, padding, data_format, nd):
    a = V.tensor(x, fn)
    data_format = data_format_of(data_format, fn)
    pads = _pads(padding, fn, nd)
    if a.ndim != nd + 2:
        raise ValueError(f"{fn}: expects a rank-{nd + 2} tensor, got shape {a.shape}")
    pads = [(0, 0), (0, 0), *pads] if data_format == "channels_first" else [(0, 0), *pads, (0, 0)]
    return _zero_padded(kern, a, pads)


@op(kernels=True)
def spatial_2d_padding(kern, x, padding=((1, 1), (1, 1)), data_format=None):
    """Zeros around the rows and columns: padding ((top, bottom), (left, right))."""
    return _spatial_padding(kern, "spatial_2d_padding", x, padding, data_format, 2)


@op(kernels=True)
def spatial_3d_padding(kern, x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    """Zeros around the three spatial dims: padding ((before, after),) * 3."""
    return _spatial_padding(kern, "spatial_3d_padding", x, padding, data_format, 3)


@op()
def one_hot(indices, num_classes):
    """indices.shape + (num_classes,), float32; out-of-range indices give all-zero rows."""
    idx = V.integer_tensor(indices, "one_hot", "indices")
    n = V.count(num_classes, "one_hot", "num_classes", bits=31)  # TensorFlow's depth is an int32
    V.dims(idx.shape + (n,), "one_hot", "the result's shape")
    return (idx[..., None] == np.arange(n)).astype(np.float32)


@op(kernels=True)
def reverse(kern, x, axes):
    a = V.tensor(x, "reverse")
    if axes is None:
        raise TypeError("reverse: axes must be an int or a list of ints, got None")
    return _copy(kern, np.flip(a, axis=_core.normalize_axes(axes, a.ndim, "reverse")))


@op("slice", kernels=True)
def slice_(kern, x, start, size):
    a = V.tensor(x, "slice")
    # (1-D integer arrays as lists, as tf.slice takes them)
    start, size = (v.tolist() if isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind in "iu" else v
                   for v in (start, size))
    start = list(V.dims(start, "slice", "start"))
    if not isinstance(size, (list, tuple)) or not all(_is_count(s) or (isinstance(s, int) and s == -1) for s in size):
        raise TypeError(f"slice: size must be a tuple of ints >= 0 (-1: to the end), got {size!r}")
    size = list(size)
    if len(start) != a.ndim or len(size) != a.ndim:
        raise ValueError(f"slice: start and size need one entry per axis of shape {a.shape}")
    ends = [n if z == -1 else s + z for s, z, n in zip(start, size, a.shape, strict=True)]
    if builtins.any(s > n or e > n for s, e, n in zip(start, ends, a.shape, strict=True)):
        raise ValueError(f"slice: start {tuple(start)} and size {tuple(size)} reach past the end of shape {a.shape}")
    return _copy(kern, a[tuple(slice(s, e) for s, e in zip(start, ends, strict=True))])


def _copy(kern, view):
    """A C-contiguous copy of a view: the copy engine where the provider takes its dtype."""
    r = kern.permute_dimensions(view, tuple(range(view.ndim)))
    return r if r is not None else view.copy()


# Conditions of fewer elements take NumPy's where: short masks (an RNN step's) cost it less than
# the cast and the select's two calls (bench/NOTES.md, sixteenth session).
_NATIVE_SELECT_MIN = 8192


@op(kernels=True)
def switch(kern, condition, then_expression, else_expression):
    """Elementwise (or scalar) choice between two tensors; a branch may be a callable that gives
    it (TensorFlow's backend: a decided scalar condition calls only the branch it picks)."""
    if callable(then_expression) or callable(else_expression):
        return _switch_of_callables(None, condition, then_expression, else_expression)
    c = V.tensor(condition, "switch", "condition").astype(bool)
    t = V.tensor(then_expression, "switch", "then_expression")
    e = V.tensor(else_expression, "switch", "else_expression")
    if c.ndim == 0:
        return t if bool(c) else e
    while c.ndim < t.ndim:
        c = c[..., None]
    broadcast("switch", c, t, e)
    if t.dtype == e.dtype and t.dtype.kind == "f" and c.size >= _NATIVE_SELECT_MIN:
        # One pass of the native select, c as 0/1 in t's dtype.
        r = kern.elementwise3(E.select, run("cast", kern, c.view(np.uint8), t.dtype), t, e)
        if r is not None:
            return r
    return np.where(c, t, e)


def _switch_of_callables(kern, condition, then_expression, else_expression):
    """switch with callable branches: called here (only the chosen one when the condition is a
    known scalar), then the switch of what they gave."""
    if not _graph.contains_symbolic(condition):
        c = V.tensor(condition, "switch", "condition")
        if c.ndim == 0:
            chosen = then_expression if bool(c) else else_expression
            got = chosen() if callable(chosen) else chosen
            return got if _graph.contains_symbolic(got) else V.tensor(got, "switch", "the branch's value")
    t = then_expression() if callable(then_expression) else then_expression
    e = else_expression() if callable(else_expression) else else_expression
    for v, what in ((t, "then_expression"), (e, "else_expression")):
        if callable(v):
            raise TypeError(f"switch: {what} must give a tensor when called, got {v!r}")
    B = builder_for(condition, t, e) if kern is None else Builder(kern)
    return B.switch(condition, t, e)


REGISTRY["switch"].build = lambda kern, c, t, e: (
    _switch_of_callables(kern, c, t, e) if callable(t) or callable(e) else None)


def _gather_rule(reference, indices):
    """indices' shape, then reference's after its first dim (known without the values: the
    indices may lie past the probe's size for an unknown first dim). None (probe) for an unknown
    rank."""
    if any(type(a) in (list, tuple) and _graph.contains_symbolic(a) for a in (reference, indices)):
        return None  # (stacked when it runs)
    rs, ids = static_shape(reference), static_shape(indices)
    if rs is None or ids is None:
        return None
    if len(rs) == 0:
        raise ValueError("gather: reference must have at least one axis")
    if np.dtype(static_dtype(indices, "gather")).kind not in "iu":
        raise TypeError(f"gather: indices must be integers, got {static_dtype(indices, 'gather')}")
    if not isinstance(indices, _graph.Operators) and rs[0] is not None:  # known values and size: check them now
        idx = np.asarray(indices)
        if idx.size and (idx.min() < 0 or idx.max() >= rs[0]):
            raise ValueError(f"gather: indices must be in [0, {rs[0]}), got range [{idx.min()}, {idx.max()}]")
    return (*ids, *rs[1:]), static_dtype(reference, "gather")


@op(shape=_gather_rule)
def gather(reference, indices):
    """reference[indices] along axis 0; out-of-range indices raise as in TensorFlow."""
    ref = V.tensor(reference, "gather", "reference")
    if ref.ndim == 0:
        raise ValueError("gather: reference must have at least one axis")
    idx = V.integer_tensor(indices, "gather", "indices")
    if idx.size and (idx.min() < 0 or idx.max() >= ref.shape[0]):
        raise ValueError(f"gather: indices must be in [0, {ref.shape[0]}), got range [{idx.min()}, {idx.max()}]")
    return ref[idx]


@op()
def batch_gather(reference, indices):
    """tf.compat.v1.batch_gather: gather with batch_dims = rank(indices) - 1."""
    ref = V.tensor(reference, "batch_gather", "reference")
    idx = V.integer_tensor(indices, "batch_gather", "indices")
    b = idx.ndim - 1
    if idx.ndim < 1 or ref.ndim < idx.ndim or ref.shape[:b] != idx.shape[:b]:
        raise ValueError(f"batch_gather: leading dims of indices {idx.shape} must match reference {ref.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= ref.shape[b]):
        raise ValueError(f"batch_gather: indices must be in [0, {ref.shape[b]})")
    return np.take_along_axis(ref, idx.reshape(idx.shape + (1,) * (ref.ndim - idx.ndim)), axis=b) \
        if ref.ndim == idx.ndim else \
        ref[tuple(np.indices(idx.shape)[:b]) + (idx,)]


# ---------------------------------------------------------------------------------------------
# Gradient rules (kcore/_api/grad.py)


def _reshaped_back(B, out, g, x, *rest, **kwargs):
    return (B._reshape_like(g, x),) + (None,) * len(rest)


for _name in ("reshape", "expand_dims", "squeeze", "flatten", "batch_flatten"):
    gradient(_name)(_reshaped_back)


@op("_concat_piece", shape=lambda g, tensors, i, axis: (static_shape(tensors[i]), static_dtype(g)))
def concat_piece(g, tensors, i, axis):
    """The part of concatenate's gradient g that belongs to tensors[i]."""
    sizes = [np.shape(t)[axis] for t in tensors]
    a = np.asarray(g)
    start = int(np.sum(sizes[:i]))
    return np.take(a, np.arange(start, start + sizes[i]), axis=axis)


@gradient("concatenate")
def _concatenate_grad(B, out, g, tensors, axis=-1):
    return [B._concat_piece(g, list(tensors), i, axis) for i in range(len(tensors))], None


@gradient("stack")
def _stack_grad(B, out, g, x, axis=0):
    return [B.squeeze(B._concat_piece(g, [B.expand_dims(t, axis) for t in x], i, axis), axis)
            for i in range(len(x))], None


@gradient("switch")
def _switch_grad(B, out, g, condition, then_expression, else_expression):
    zeros = B.zeros_like(g)
    return (None, B._sum_to(B.switch(condition, g, zeros), then_expression),
            B._sum_to(B.switch(condition, zeros, g), else_expression))


@op("_tile_grad", shape=lambda g, x, reps: (static_shape(x), static_dtype(g)))
def tile_grad(g, x, reps):
    """Sum over the tiles: g reshaped to (reps[0], x0, reps[1], x1, ...) summed over the reps."""
    a, xs = np.asarray(g), np.shape(x)
    split = [d for pair in zip(reps, xs, strict=True) for d in pair]
    return a.reshape(split).sum(axis=tuple(range(0, 2 * len(xs), 2)))


@gradient("tile")
def _tile_gradient(B, out, g, x, n):
    rank = len(static_shape(x))
    reps = (int(n),) if isinstance(n, numbers.Integral) else tuple(int(v) for v in np.asarray(n).reshape(-1))
    return B._tile_grad(g, x, (1,) * (rank - len(reps)) + reps), None


@op("_repeat_grad", shape=lambda g, x, rep, axis: (static_shape(x), static_dtype(g)))
def repeat_grad(g, x, rep, axis):
    """Sums each run of `rep` copies along axis back to one element."""
    a, xs = np.asarray(g), np.shape(x)
    axis = axis % len(xs)
    return a.reshape(xs[:axis] + (xs[axis], int(rep)) + xs[axis + 1:]).sum(axis=axis + 1)


@gradient("repeat_elements")
def _repeat_elements_grad(B, out, g, x, rep, axis):
    return B._repeat_grad(g, x, rep, axis), None, None


@gradient("repeat")
def _repeat_gradient(B, out, g, x, n):
    return B.sum(g, 1), None


@op("_unpad", shape=lambda g, x, pads: (static_shape(x), static_dtype(g)))
def unpad(g, x, pads):
    """g without the (before, after) padding of each axis: the gradient of zero padding."""
    a = np.asarray(g)
    return a[tuple(slice(b, a.shape[i] - e) for i, (b, e) in enumerate(pads))]


@gradient("temporal_padding")
def _temporal_padding_grad(B, out, g, x, padding=(1, 1)):
    return B._unpad(g, x, ((0, 0), tuple(padding), (0, 0))), None


def _spatial_pads(padding, data_format, nd):
    pads = [tuple(int(v) for v in p) for p in padding]
    return ((0, 0), (0, 0), *pads) if normalize_data_format(data_format) == "channels_first" else \
        ((0, 0), *pads, (0, 0))


@gradient("spatial_2d_padding")
def _spatial_2d_padding_grad(B, out, g, x, padding=((1, 1), (1, 1)), data_format=None):
    return B._unpad(g, x, _spatial_pads(padding, data_format, 2)), None, None


@gradient("spatial_3d_padding")
def _spatial_3d_padding_grad(B, out, g, x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    return B._unpad(g, x, _spatial_pads(padding, data_format, 3)), None, None


@op("_gather_grad", shape=lambda g, reference, indices: (static_shape(reference), static_dtype(g)))
def gather_grad(g, reference, indices):
    """gather's gradient: each gathered row's gradient added back to its row of reference, in the
    order of indices (np.add.at's sums, by one sort and a sum per row: add.at is ~20x slower)."""
    gr, shape = np.asarray(g), np.shape(reference)
    out = np.zeros(shape, dtype=gr.dtype)
    idx = np.asarray(indices).ravel()
    if gr.size == 0 or idx.size == 0:
        return out
    order = np.argsort(idx, kind="stable")
    rows = idx[order]
    firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    with np.errstate(all="ignore"):
        out.reshape(shape[0], -1)[rows[firsts]] += np.add.reduceat(gr.reshape(idx.size, -1)[order], firsts, axis=0)
    return out


@gradient("gather")
def _gather_gradient(B, out, g, reference, indices):
    return B._gather_grad(g, reference, indices), None


@op("_batch_gather_grad", shape=lambda g, reference, indices: (static_shape(reference), static_dtype(g)))
def batch_gather_grad(g, reference, indices):
    """batch_gather's gradient: each gathered slice's gradient added back where it came from."""
    idx = np.asarray(indices)
    out = np.zeros(np.shape(reference), dtype=np.asarray(g).dtype)
    np.add.at(out, tuple(np.indices(idx.shape)[:idx.ndim - 1]) + (idx,), np.asarray(g))
    return out


@gradient("batch_gather")
def _batch_gather_gradient(B, out, g, reference, indices):
    return B._batch_gather_grad(g, reference, indices), None


gradient("one_hot")(no_gradient)


@gradient("reverse")
def _reverse_grad(B, out, g, x, axes):
    return B.reverse(g, axes), None


@op("_slice_grad", shape=lambda g, x, start, size: (static_shape(x), static_dtype(g)))
def slice_grad(g, x, start, size):
    """slice's gradient: g placed at start in zeros of x's shape."""
    out = np.zeros(np.shape(x), dtype=np.asarray(g).dtype)
    out[tuple(slice(int(b), int(b) + n) for b, n in zip(start, np.shape(g), strict=True))] = np.asarray(g)
    return out


@gradient("slice")
def _slice_gradient(B, out, g, x, start, size):
    return B._slice_grad(g, x, start, size), None, None
