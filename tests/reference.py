"""The float64 NumPy oracle with Keras (on TensorFlow) semantics, and error bounds."""
import warnings

import numpy as np

FLOATS = (np.float16, np.float32, np.float64)


def norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axes)


def reduce_exact(name, a, axis=None, keepdims=False):
    """The exact (float64) value of a reduction, before rounding to a's dtype."""
    ax = norm_axes(axis, a.ndim)
    x = a.astype(np.float64)
    count = int(np.prod([a.shape[i] for i in ax])) if ax else 1
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        if name in ("any", "all"):
            return getattr(np, name)(a, axis=ax, keepdims=keepdims)
        if name in ("max", "min") and count == 0:
            shape = np.sum(x, axis=ax, keepdims=keepdims).shape
            return np.full(shape, -np.inf if name == "max" else np.inf)
        if name in ("var", "std"):
            m = np.mean(x, axis=ax, keepdims=True)
            v = np.mean((x - m) ** 2, axis=ax, keepdims=keepdims)
            return np.sqrt(v) if name == "std" else v
        return getattr(np, name)(x, axis=ax, keepdims=keepdims)


def argreduce_exact(name, a, axis):
    """First index of the extreme, NaN skipped, all-NaN -> 0 (Keras on TensorFlow)."""
    x = a.astype(np.float64)
    fill = -np.inf if name == "argmax" else np.inf
    nan = np.isnan(x)
    y = np.where(nan, fill, x)
    idx = (np.argmax if name == "argmax" else np.argmin)(y, axis=axis)
    # A slice whose only non-NaN values equal the fill (e.g. -inf for argmax) must point at the
    # first of them, not at an earlier NaN: redo those slices by hand.
    moved = np.moveaxis(x, axis, -1)
    out = np.asarray(idx).copy()
    flat_out = out.reshape(-1)
    for k, row in enumerate(moved.reshape(-1, moved.shape[-1])):
        valid = np.flatnonzero(~np.isnan(row))
        if valid.size == 0:
            flat_out[k] = 0
        else:
            v = row[valid]
            flat_out[k] = valid[np.argmax(v) if name == "argmax" else np.argmin(v)]
    return out.astype(np.int64)


def eps(dtype):
    return float(np.finfo(dtype).eps)


def assert_rounded_close(got, exact, dtype, spread, acc_rel):
    """|got - exact| <= eps(dtype)*|exact| + acc_rel*spread + tiny: the result is the exact value
    rounded once, plus accumulation error bounded relative to `spread` (e.g. sum of |x|)."""
    got = np.asarray(got, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    spread = np.broadcast_to(np.asarray(spread, dtype=np.float64), exact.shape)
    big = np.finfo(dtype).max
    with np.errstate(all="ignore"):
        overflow = np.isfinite(exact) & (np.abs(exact) > big * (1 + eps(dtype) / 2))
    tol = eps(dtype) * np.abs(exact) + acc_rel * spread + float(np.finfo(dtype).smallest_subnormal)
    with np.errstate(all="ignore"):
        ok = (got == exact) | (np.isnan(got) & np.isnan(exact)) | (np.abs(got - exact) <= tol)
    with np.errstate(all="ignore"):
        ok |= overflow & (got == np.copysign(np.inf, exact))
        # Spread that overflows makes the bound meaningless; those cases only need matching class.
        ok |= ~np.isfinite(spread) & (np.isnan(got) == np.isnan(exact))
    assert ok.all(), f"mismatch:\n got={got[~ok][:5]}\n exact={exact[~ok][:5]}\n tol={tol[~ok][:5]}"
