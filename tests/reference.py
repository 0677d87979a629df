"""The oracle for the tests: kcore._reference's float64 NumPy math with Keras semantics (the one
home of the NaN and empty-axis rules, written independently of the kernels), plus the error
bounds results are checked with."""
import numpy as np

from kcore import _reference

FLOATS = (np.float16, np.float32, np.float64)


def norm_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axes)


def reduce_exact(name, a, axis=None, keepdims=False):
    """The exact (float64) value of a reduction, before rounding to a's dtype."""
    return _reference.reduce_exact(name, a, norm_axes(axis, a.ndim), keepdims)


def argreduce_exact(name, a, axis):
    """First index of the extreme, NaN skipped, all-NaN -> 0 (Keras on TensorFlow)."""
    return _reference.argreduce_exact(name, a, axis % a.ndim)


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
