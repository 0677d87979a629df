"""Hypothesis strategies: float arrays of rank 0-5 (0-size dims included) seen through every
kind of view the engine must handle, and axis arguments in every Keras form."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

DTYPES = st.sampled_from([np.float16, np.float32, np.float64])


def elements(dtype, allow_special):
    if np.dtype(dtype).kind in "iu":  # every value of the type (casts from integers)
        return hnp.from_dtype(np.dtype(dtype))
    width = {np.float16: 16, np.float32: 32, np.float64: 64}[dtype]
    bound = {np.float16: 1e3, np.float32: 1e6, np.float64: 1e12}[dtype]
    if allow_special:
        return st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    return st.floats(-bound, bound, width=width, allow_subnormal=True)


@st.composite
def views(draw, dtype, min_dims=0, max_dims=5, max_side=6, allow_special=None):
    """An array plus a view of it: C, transposed, reversed, strided or broadcast."""
    if allow_special is None:
        allow_special = draw(st.booleans())
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side))
    base = draw(hnp.arrays(dtype, shape, elements=elements(dtype, allow_special)))
    kind = draw(st.sampled_from(["c", "fortran", "transpose", "reverse", "step", "broadcast", "permute"]))
    if base.ndim == 0 or kind == "c":
        return base
    if kind == "fortran":
        return np.asfortranarray(base)
    if kind == "transpose":
        return base.T
    if kind == "permute":
        return np.transpose(base, draw(st.permutations(range(base.ndim))))
    if kind == "reverse":
        ax = draw(st.integers(0, base.ndim - 1))
        return np.flip(base, ax)
    if kind == "step":
        idx = tuple(slice(None, None, draw(st.sampled_from([1, 2, -1, -2]))) for _ in range(base.ndim))
        return base[idx]
    # broadcast: insert a zero-stride axis
    ax = draw(st.integers(0, base.ndim))
    expanded = np.expand_dims(base, ax)
    shape = list(expanded.shape)
    shape[ax] = draw(st.integers(0, 4))
    return np.broadcast_to(expanded, shape)


@st.composite
def axis_args(draw, ndim):
    """None, an int (maybe negative), or a list/tuple of distinct axes."""
    choice = draw(st.sampled_from(["none", "int", "tuple"]) if ndim else st.just("none"))
    if choice == "none":
        return None
    if choice == "int":
        return draw(st.integers(-ndim, ndim - 1))
    axes = draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
    axes = [a - ndim if draw(st.booleans()) else a for a in axes]
    return draw(st.sampled_from([tuple, list]))(axes)


@st.composite
def relaid(draw, a):
    """a's values in another memory layout: C, Fortran, axes permuted, reversed or stepped."""
    kind = draw(st.sampled_from(["c", "fortran", "permute", "reverse", "step"]))
    if a.ndim == 0 or kind == "c":
        return np.ascontiguousarray(a)
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "permute":
        perm = draw(st.permutations(range(a.ndim)))
        return np.transpose(np.ascontiguousarray(np.transpose(a, perm)), np.argsort(perm))
    ax = draw(st.integers(0, a.ndim - 1))
    if kind == "reverse":
        return np.flip(np.ascontiguousarray(np.flip(a, ax)), ax)
    every_other = (slice(None),) * ax + (slice(None, None, 2),)
    spaced = np.zeros(a.shape[:ax] + (2 * a.shape[ax],) + a.shape[ax + 1:], a.dtype)
    spaced[every_other] = a
    return spaced[every_other]


@st.composite
def operands(draw, dtype, shape, bound=8.0, allow_special=True):
    """Values in [-bound, bound] (sums of a few products stay far from float16's overflow), maybe
    a NaN or an inf in a few places, in any memory layout."""
    width = {np.float16: 16, np.float32: 32, np.float64: 64}[dtype]
    a = draw(hnp.arrays(dtype, shape, elements=st.floats(-bound, bound, width=width, allow_subnormal=True)))
    if allow_special and a.size and draw(st.integers(0, 3)) == 0:
        flat = a.reshape(-1)
        for i in draw(st.lists(st.integers(0, a.size - 1), min_size=1, max_size=2)):
            flat[i] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return draw(relaid(a))
