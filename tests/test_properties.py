"""Differential property tests: the `kcore` backend (native kernels) against the `numpy` backend
(kcore's float64 NumPy reference rounded to the input's dtype: different code), one test per
kernel family, over ranks, 0-size dims, memory layouts, dtypes and NaN/inf. Both backends give the
same result type, dtype and shape, or raise the same error; values agree exactly where the contract
is exact (max/min, any/all, argmax/argmin, integers, casts, layout, arithmetic and comparisons, max
pooling) and within the family's bound from tests/reference.py elsewhere. Each family runs
profiles.FAMILY_EXAMPLES examples (2000 under CI)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kcore import backend as K
from kcore import numpy_backend as KN
from profiles import FAMILY_EXAMPLES
from reference import (
    ACC_REL,
    FLOATS,
    FLOOR,
    SOFTMAX_TOL,
    acc_rel,
    assert_cumprod_close,
    assert_prod_close,
    assert_rounded_close,
    cumprod_oracles,
    reduce_spread,
    tf_out_and_start,
    ulp_bound,
    ulp_error,
)
from strategies import DTYPES, axis_args, elements, operands, relaid, views

FAMILY = settings(max_examples=FAMILY_EXAMPLES)
INTS = (np.int8, np.uint8, np.int32, np.int64)
# Rounding error of one addition or multiplication in the type products and convolutions
# accumulate in (float16 in float32).
UNIT = {np.float16: 2.0**-24, np.float32: 2.0**-24, np.float64: 2.0**-53}


def both(name, *args, **kwargs):
    """Op `name` on both backends: (kcore's result, numpy's), of one type, dtype and shape; or,
    where the numpy backend raises, None once kcore has raised the same error."""
    try:
        want = getattr(KN, name)(*args, **kwargs)
    except (TypeError, ValueError, IndexError) as e:
        with pytest.raises(type(e)) as raised:
            getattr(K, name)(*args, **kwargs)
        assert str(raised.value) == str(e)
        return None
    got = getattr(K, name)(*args, **kwargs)
    assert type(got) is type(want), (type(got), type(want))
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype, got.shape, want.shape)
    return got, want


def assert_same_bits(got, want):
    bits = f"u{want.dtype.itemsize}"
    np.testing.assert_array_equal(np.asarray(got).view(bits), np.asarray(want).view(bits))


def f64(a):
    return np.asarray(a, np.float64)


# --- reductions -------------------------------------------------------------------------------

REDUCTIONS = ["sum", "prod", "mean", "var", "std", "max", "min", "any", "all", "argmax", "argmin"]
EXACT_REDUCTIONS = {"max", "min", "any", "all", "argmax", "argmin"}


@FAMILY
@given(data=st.data(), dtype=st.sampled_from(FLOATS + INTS), name=st.sampled_from(REDUCTIONS),
       keepdims=st.booleans())
def test_reductions(data, dtype, name, keepdims):
    x = data.draw(views(dtype, max_side=5 if name == "prod" else 6))
    if name in ("argmax", "argmin"):
        axis = data.draw(st.sampled_from([None, *range(-x.ndim, x.ndim)]) if x.ndim else st.just(-1))
        pair = both(name, x, axis=axis)
    else:
        axis = data.draw(axis_args(x.ndim))
        pair = both(name, x, axis=axis, keepdims=keepdims)
    if pair is None:
        return
    got, want = pair
    if name in EXACT_REDUCTIONS or (dtype in INTS and name not in ("var", "std")):
        np.testing.assert_array_equal(got, want)
    elif name == "prod":
        assert_prod_close(got, f64(want), x, axis, keepdims)
    else:  # integers' var and std are float64 statistics rounded to floatx
        acc = acc_rel(name, dtype if dtype in FLOATS else np.float64)
        assert_rounded_close(got, want, want.dtype.type, reduce_spread(name, x, axis, keepdims), acc)


# --- scans ------------------------------------------------------------------------------------


@FAMILY
@given(data=st.data(), dtype=st.sampled_from(FLOATS + INTS), name=st.sampled_from(["cumsum", "cumprod"]))
def test_scans(data, dtype, name):
    x = data.draw(views(dtype, max_side=5 if name == "cumprod" else 6))
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim))  # one past either end: both raise
    pair = both(name, x, axis=axis)
    if pair is None:
        return
    got, want = pair
    if dtype in INTS:
        np.testing.assert_array_equal(got, want)
    elif name == "cumsum":
        with np.errstate(over="ignore"):
            spread = np.cumsum(np.abs(f64(x)), axis=axis)
        assert_rounded_close(got, want, dtype, spread, ACC_REL[dtype] * 64)
    else:
        assert_cumprod_close(got, cumprod_oracles(x, axis), dtype)


# --- casts ------------------------------------------------------------------------------------

CAST_TYPES = FLOATS + INTS + (np.bool_,)


@FAMILY
@given(data=st.data(), src=st.sampled_from(CAST_TYPES), dst=st.sampled_from(CAST_TYPES))
def test_casts(data, src, dst):
    x = data.draw(views(np.int8)) != 0 if src is np.bool_ else data.draw(views(src))
    got, want = both("cast", x, np.dtype(dst).name)
    assert_same_bits(got, want)
    assert (got.flags.c_contiguous, got.flags.f_contiguous) == (want.flags.c_contiguous, want.flags.f_contiguous)


# --- layout -----------------------------------------------------------------------------------


@st.composite
def new_shapes(draw, shape):
    """A shape of as many elements: dims shuffled, two neighbours maybe merged, one maybe -1."""
    dims = list(draw(st.permutations(shape)))
    if len(dims) >= 2 and draw(st.booleans()):
        i = draw(st.integers(0, len(dims) - 2))
        dims[i:i + 2] = [dims[i] * dims[i + 1]]
    if dims and draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    return tuple(dims)


@FAMILY
@given(data=st.data(), dtype=st.sampled_from(FLOATS + INTS), name=st.sampled_from(["transpose",
                                                                                   "permute_dimensions", "reshape"]))
def test_layout(data, dtype, name):
    x = data.draw(views(dtype, allow_special=True))
    if name == "transpose":
        pair = both(name, x)
    elif name == "permute_dimensions":
        pattern = data.draw(st.permutations(range(x.ndim)))
        if pattern and data.draw(st.integers(0, 7)) == 0:  # not a permutation: both raise
            pattern = pattern[1:]
        pair = both(name, x, pattern)
    else:
        pair = both(name, x, data.draw(new_shapes(x.shape)))
    if pair is None:
        return
    got, want = pair
    assert_same_bits(got, want)
    if name != "reshape":
        assert got.flags.c_contiguous


# --- products ---------------------------------------------------------------------------------


@FAMILY
@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(["dot", "batch_dot"]))
def test_products(data, dtype, name):
    side = st.integers(0, 4)
    if name == "dot":
        xs = data.draw(st.lists(side, min_size=1, max_size=3))
        ys = data.draw(st.lists(side, min_size=1, max_size=3))
        k = xs[-1]
        ys[0 if len(ys) == 1 else -2] = k
        kwargs = {}
    else:
        batch = data.draw(st.integers(0, 3))
        xs = [batch] + data.draw(st.lists(side, min_size=1, max_size=3))
        ys = [batch] + data.draw(st.lists(side, min_size=1, max_size=3))
        a0, a1 = data.draw(st.integers(1, len(xs) - 1)), data.draw(st.integers(1, len(ys) - 1))
        ys[a1] = k = xs[a0]
        forms = [(a0, a1), [a0 - len(xs), a1 - len(ys)]] + ([a0] if a0 == a1 else [])
        if (a0, a1) == (len(xs) - 1, len(ys) - 1 if len(ys) > 2 else 1):
            forms.append(None)  # Keras's default axes
        kwargs = {"axes": data.draw(st.sampled_from(forms))}
    # Finite operands: the numpy backend's float64 products go through NumPy's BLAS, which may skip
    # zero factors (NaN or inf times 0 gives 0 there), so it is no oracle for NaN and inf.
    x = data.draw(operands(dtype, tuple(xs), allow_special=False))
    y = data.draw(operands(dtype, tuple(ys), allow_special=False))
    pair = both(name, x, y, **kwargs)
    if pair is None:
        return
    got, want = pair
    bound = getattr(KN, name)(np.abs(f64(x)), np.abs(f64(y)), **kwargs)
    assert_rounded_close(got, want, dtype, bound, 2 * k * UNIT[dtype])


# --- convolutions -----------------------------------------------------------------------------


def _channels(a, fmt):
    return np.moveaxis(a, -1, 1) if fmt == "channels_first" else a


@FAMILY
@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(["conv1d", "conv2d", "depthwise_conv2d",
                                                         "conv2d_transpose"]),
       fmt=st.sampled_from(["channels_last", "channels_first"]))
def test_convolutions(data, dtype, name, fmt):
    nd = 1 if name == "conv1d" else 2
    small = st.integers(1, 3)
    batch, cin, cout = data.draw(st.integers(0, 2)), data.draw(small), data.draw(small)
    ksize = tuple(data.draw(small) for _ in range(nd))
    strides = tuple(data.draw(small) for _ in range(nd))
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(nd))
    padding = data.draw(st.sampled_from(["valid", "same", "causal"] if nd == 1 else ["valid", "same"]))
    if name == "conv2d_transpose":
        out_sp = tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
        x_sp = tuple(tf_out_and_start(o, k, s, d, padding)[0]
                     for o, k, s, d in zip(out_sp, ksize, strides, dilation, strict=True))
        w_shape = (*ksize, cout, cin)
        out_shape = (batch, cout, *out_sp) if fmt == "channels_first" else (batch, *out_sp, cout)
        taps = int(np.prod(ksize)) * cin
    else:
        # (A 'valid' window longer than x is an error, tested in test_conv.py.)
        spans = [(k - 1) * d + 1 if padding == "valid" else 0 for k, d in zip(ksize, dilation, strict=True)]
        x_sp = tuple(data.draw(st.integers(span, span + 7)) for span in spans)
        w_shape = (*ksize, cin, cout)  # depthwise: cout is the depth multiplier
        taps = int(np.prod(ksize)) * (1 if name == "depthwise_conv2d" else cin)
    # Finite operands, as for the products (the reference convolves through BLAS too); and kcore
    # skips the taps that fall on padding where the reference multiplies padded zeros.
    x = _channels(data.draw(operands(dtype, (batch, *x_sp, cin), allow_special=False)), fmt)
    w = data.draw(operands(dtype, w_shape, allow_special=False))

    def call(backend, x, w):
        s, d = (strides[0], dilation[0]) if nd == 1 else (strides, dilation)
        if name == "conv2d_transpose":
            return backend.conv2d_transpose(x, w, out_shape, s, padding, fmt, d)
        return getattr(backend, name)(x, w, s, padding, fmt, d)

    want = call(KN, x, w)
    bound = call(KN, np.abs(f64(x)), np.abs(f64(w)))
    got = call(K, x, w)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert_rounded_close(got, want, dtype, bound, 2 * taps * UNIT[dtype])


# --- pooling ----------------------------------------------------------------------------------


@FAMILY
@given(data=st.data(), dtype=DTYPES, mode=st.sampled_from(["max", "avg"]), padding=st.sampled_from(["valid", "same"]),
       fmt=st.sampled_from(["channels_last", "channels_first"]))
def test_pooling(data, dtype, mode, padding, fmt):
    size = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    low = size if padding == "valid" else (0, 0)  # (a longer window is an error, tested in test_conv.py)
    shape = (data.draw(st.integers(0, 2)), data.draw(st.integers(low[0], 7)), data.draw(st.integers(low[1], 7)),
             data.draw(st.integers(1, 3)))
    strides = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    x = _channels(data.draw(operands(dtype, shape, bound=float(np.finfo(dtype).max) / 16)), fmt)
    pair = both("pool2d", x, size, strides, padding, fmt, mode)
    assert pair is not None
    got, want = pair
    if mode == "max":
        np.testing.assert_array_equal(got, want)
    else:
        spread = KN.pool2d(np.abs(f64(x)), size, strides, padding, fmt, mode)
        assert_rounded_close(got, want, dtype, spread, 2 * size[0] * size[1] * UNIT[dtype])


# --- elementwise ------------------------------------------------------------------------------

ARITHMETIC = ["_add", "_subtract", "_multiply", "_divide"]
COMPARISONS = ["equal", "not_equal", "greater", "greater_equal", "less", "less_equal"]


@st.composite
def broadcast_pair(draw, dtype):
    """Two operands that broadcast against each other, of any layout, with NaN/inf maybe."""
    x = draw(views(dtype, max_dims=4))
    drop = draw(st.integers(0, x.ndim))
    shape = tuple(1 if draw(st.booleans()) else n for n in x.shape[drop:])
    y = draw(relaid(draw(hnp.arrays(dtype, shape, elements=elements(dtype, draw(st.booleans()))))))
    return (y, x) if draw(st.booleans()) else (x, y)


BOUNDS = st.sampled_from([None, -1.0, 0.0, 0.5, 2.0, -np.inf, np.inf])


@FAMILY
@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(ARITHMETIC + COMPARISONS + ["maximum", "minimum", "clip"]))
def test_elementwise(data, dtype, name):
    if name == "clip":  # x within [min_value, max_value] (None: unbounded), on the three-operand kernel
        x = data.draw(views(dtype))
        got, want = both(name, x, data.draw(BOUNDS), data.draw(BOUNDS))
        assert_same_bits(got, want)
        return
    x, y = data.draw(broadcast_pair(dtype))
    got, want = both(name, x, y)
    if name in ("maximum", "minimum"):
        np.testing.assert_array_equal(got, want)
        return
    nan = np.isnan(want) if want.dtype.kind == "f" else np.zeros(want.shape, bool)
    np.testing.assert_array_equal(np.isnan(got) if got.dtype.kind == "f" else nan, nan)
    assert_same_bits(got[~nan], want[~nan])


UNARY = ["exp", "log", "tanh", "sigmoid", "softplus", "softsign", "elu", "hard_sigmoid", "relu", "softmax",
         "square", "abs", "sqrt", "sign", "round"]


@FAMILY
@given(data=st.data(), dtype=DTYPES, name=st.sampled_from(UNARY))
def test_activations(data, dtype, name):
    x = data.draw(views(dtype))
    params = {}
    if name == "elu":
        params = {"alpha": data.draw(st.sampled_from([1.0, 0.5, 2.0]))}
    elif name == "relu":
        params = {"alpha": data.draw(st.sampled_from([0.0, 0.1, 0.3])),
                  "max_value": data.draw(st.sampled_from([None, 1, 6.0])),
                  "threshold": data.draw(st.sampled_from([0.0, 0.5, -1.0]))}
    elif name == "softmax":
        params = {"axis": data.draw(st.integers(-x.ndim, x.ndim - 1)) if x.ndim else -1}
    pair = both(name, x, **params)
    if pair is None:
        return
    got, want = pair
    if name == "softmax":
        tol = SOFTMAX_TOL[dtype]
        np.testing.assert_allclose(f64(got), f64(want), rtol=4 * tol, atol=tol * 1e-3)
    else:
        # want is the exact value rounded once (half an ulp), got within the kernel's bound of it.
        assert ulp_error(got, want, dtype, FLOOR.get(name, 0)) <= ulp_bound(name, dtype) + 0.5
