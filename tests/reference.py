"""The oracle for the tests: kcore._reference's float64 NumPy math with Keras semantics (the one
home of the NaN and empty-axis rules, written independently of the kernels), plus the error
bounds results are checked with (the one home of each family's tolerance)."""
import numpy as np

from kcore import _reference

FLOATS = (np.float16, np.float32, np.float64)
# Accumulation error allowed relative to sum(|x|), per input dtype (the result's own rounding
# is allowed separately): float16 accumulates in float32, float32 and float64 in float64.
ACC_REL = {np.float16: 2.0**-18, np.float32: 2.0**-40, np.float64: 2.0**-40}
# float32 sums and means add runs of a few terms in float32 before float64 (along a row, runs of
# 8 blocks whose two halves then meet; down columns, pairwise trees of 8 rows): at most 8 float32
# roundings, each within 2**-24 of the terms it covers, so the error stays within 8 * 2**-24 of
# sum(|x|) to first order (SPEC "Numerics": at least as accurate as pairwise summation, whose
# bound grows with log2(n)).
SUM_REL = {**ACC_REL, np.float32: 8 * 2.0**-24}


def acc_rel(name: str, dtype) -> float:
    """The accumulation error allowed for reduction `name` of `dtype`, relative to its spread."""
    if name in ("sum", "mean"):
        return SUM_REL[dtype]
    return ACC_REL[dtype] * (8 if name in ("var", "std") else 1)


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


def assert_rounded_close(got, exact, dtype, spread, acc_rel, through=1):
    """|got - exact| <= eps(dtype)*|exact| + acc_rel*spread + tiny: the result is the exact value
    rounded once, plus accumulation error bounded relative to `spread` (e.g. sum of |x|). A result
    computed through a value `through` times its own (a mean through its sum) may overflow where
    that value would."""
    got = np.asarray(got, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    spread = np.broadcast_to(np.asarray(spread, dtype=np.float64), exact.shape)
    big = np.finfo(dtype).max
    tol = eps(dtype) * np.abs(exact) + acc_rel * spread + float(np.finfo(dtype).smallest_subnormal)
    with np.errstate(all="ignore"):
        # A result within its error bound of the largest finite value may round past it to +-inf
        # (5 x max/5 summed with one rounding up on the way).
        overflow = np.isfinite(exact) & ((np.abs(exact) + tol) * through >= big)
    with np.errstate(all="ignore"):
        ok = (got == exact) | (np.isnan(got) & np.isnan(exact)) | (np.abs(got - exact) <= tol)
    with np.errstate(all="ignore"):
        ok |= overflow & (got == np.copysign(np.inf, exact))
        # Spread that overflows makes the bound meaningless; those cases only need matching class.
        ok |= ~np.isfinite(spread) & (np.isnan(got) == np.isnan(exact))
    assert ok.all(), f"mismatch:\n got={got[~ok][:5]}\n exact={exact[~ok][:5]}\n tol={tol[~ok][:5]}"


def reduce_spread(name, x, axis, keepdims):
    """What a reduction's accumulation error is relative to: sum(|x|) for sum, mean(|x|) for
    mean, max(|x|) (squared for var) for var and std, 0 where the result is exact."""
    x64 = np.abs(x.astype(np.float64))
    ax = norm_axes(axis, x.ndim)
    with np.errstate(all="ignore"):
        if name == "sum":
            return np.sum(x64, axis=ax, keepdims=keepdims)
        if name == "mean":
            return np.mean(x64, axis=ax, keepdims=keepdims) if x.size else 0.0
        if name in ("var", "std"):
            m = np.max(x64, axis=ax, keepdims=keepdims, initial=0.0)
            return m * m if name == "var" else m
        return 0.0


def assert_prod_close(got, exact, x, axis, keepdims):
    """A product reduction of x: within 8 eps of the exact value, overflow compared by class,
    except where no oracle applies (partial products leaving float64's normal range, where the
    result depends on the order of multiplication)."""
    dtype = x.dtype.type
    got = np.asarray(got, np.float64)
    ax = norm_axes(axis, x.ndim)
    with np.errstate(all="ignore"):
        rel = np.abs(got - exact)
        ok = (rel <= 8 * eps(dtype) * np.abs(exact) + np.finfo(dtype).smallest_subnormal) | (got == exact) | (
            np.isnan(got) & np.isnan(exact))
        ok |= np.abs(exact) > np.finfo(dtype).max  # overflow: compared by class below
        # Where partial products of the non-zero values overflow even float64, the result
        # depends on the order of multiplication (0 * inf is NaN): no oracle applies.
        x64 = np.abs(x.astype(np.float64))
        magnitude = np.prod(np.where(x64 == 0, 1.0, np.maximum(x64, 1.0)), axis=ax, keepdims=keepdims)
        ok |= np.isinf(magnitude)
        # Likewise where they underflow float64's normal range (subnormal rounding is order-bound).
        smallest = np.prod(np.where(x64 == 0, 1.0, np.minimum(x64, 1.0)), axis=ax, keepdims=keepdims)
        ok |= smallest < np.finfo(np.float64).tiny
    assert ok.all(), f"mismatch:\n got={got[~ok][:5]}\n exact={np.asarray(exact)[~ok][:5]}"


def cumprod_oracles(x, axis):
    """Running products of x in long double and in float64 sequentially (NumPy's): where a
    float64 product passes through the subnormals they differ, and either is a right answer."""
    with np.errstate(all="ignore"):
        return np.cumprod(np.asarray(x, np.longdouble), axis=axis), np.cumprod(np.asarray(x, np.float64), axis=axis)


def assert_cumprod_close(got, oracles, dtype, x=None, axis=None):
    """A running product against each of cumprod_oracles, rounded to the dtype: within 8 eps or
    the dtype's smallest subnormal of one of them, or at the overflow boundary (an infinity or
    the largest finite value) with its sign. With x and axis (a product computed in another
    order: blocks), not where the running product of the non-zero magnitudes fell below float64's
    normal range (its rounding there is order-bound; callers keep products from overflowing)."""
    got = np.asarray(got, np.float64)
    ok = np.zeros(got.shape, bool)
    top = np.finfo(dtype).max
    for exact in oracles:
        exact = np.asarray(exact)
        with np.errstate(all="ignore"):
            rounded = exact.astype(dtype).astype(np.float64)
            ok |= (got == rounded) | (np.isnan(got) & np.isnan(exact)) | \
                (np.abs(got - rounded) <= 8 * eps(dtype) * np.abs(exact) + np.finfo(dtype).smallest_subnormal) | \
                ((np.isinf(got) | (np.abs(got) == top)) & (np.sign(got) == np.sign(exact)) &
                 (np.abs(exact) * (1 + 8 * eps(dtype)) >= top))
    if x is not None:
        with np.errstate(all="ignore"):
            x64 = np.abs(np.asarray(x, np.float64))
            smallest = np.cumprod(np.where(x64 == 0, 1.0, np.minimum(x64, 1.0)), axis=axis)
            ok |= smallest < np.finfo(np.float64).tiny
    assert ok.all(), f"mismatch:\n got={got[~ok][:5]}\n oracles={[np.asarray(e)[~ok][:5] for e in oracles]}"


# Largest error of exp, log and the activations allowed, in units in the last place of the
# result's dtype. float16 computes in float32 and rounds once: correctly rounded but for the rare
# double rounding.
ULPS = {"exp": 1.5, "log": 1.5, "tanh": 2, "sigmoid": 3, "softplus": 3, "softsign": 2, "elu": 1.5,
        "hard_sigmoid": 1, "relu": 0.5, "square": 0.5, "abs": 0, "sqrt": 0.5, "sign": 0, "round": 0}
HALF_ULPS = 1.0
FLOOR = {"hard_sigmoid": 1.0}
# softmax's relative error per dtype (results are checked within 4 of these, and 1e-3 of one
# absolutely).
SOFTMAX_TOL = {np.float16: 1e-3, np.float32: 4e-7, np.float64: 1e-15}


def ulp_bound(name, dtype):
    return HALF_ULPS if dtype == np.float16 else ULPS[name]


def ulp_error(got, exact, dtype, floor=0.0):
    """|got - exact| in ulps of the exact value rounded to dtype (of `floor` for smaller values:
    hard_sigmoid's 0.2 x + 0.5 cancels near 0, in TensorFlow's arithmetic as in kcore's);
    inf/NaN must match exactly."""
    got = np.asarray(got).astype(np.longdouble)
    exact = np.asarray(exact, np.longdouble)
    with np.errstate(all="ignore"):
        rounded = exact.astype(dtype)
        same_class = (np.isnan(got) == np.isnan(exact)) & (np.isinf(got) == np.isinf(rounded))
        assert same_class.all(), (got[~same_class][:5], exact[~same_class][:5])
        finite = np.isfinite(got)
        spacing = np.spacing(np.maximum(np.abs(rounded), dtype(floor))).astype(np.longdouble)
        spacing = np.where(spacing == 0, np.finfo(dtype).smallest_subnormal, spacing)
        err = np.abs(got - exact) / spacing
    assert (got[np.isinf(got)] == rounded[np.isinf(got)]).all()
    return float(err[finite].max()) if finite.any() else 0.0


def tf_out_and_start(size, k, s, d, padding):
    """Outputs along one dim and the input position of output 0's first tap (TensorFlow's rules)."""
    span = (k - 1) * d + 1
    if padding == "valid":
        return max(-(-(size - span + 1) // s), 0), 0
    if padding == "causal":
        return max(-(-size // s), 0), -(span - 1)
    out = -(-size // s)
    total = max((out - 1) * s + span - size, 0)
    return out, -(total // 2)
