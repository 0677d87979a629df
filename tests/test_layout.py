"""transpose, permute_dimensions and cast: exact against NumPy, any layout."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kcore import backend as K
from kcore._runtime import _core
from limits import T
from strategies import DTYPES, views

FLOATS = ["float16", "float32", "float64"]


@given(data=st.data(), dtype=DTYPES)
def test_transpose_and_permute_are_exact(data, dtype):
    x = data.draw(views(dtype, allow_special=True))
    got = K.transpose(x)
    np.testing.assert_array_equal(got, x.T)
    assert got.flags.c_contiguous and got.dtype == dtype
    perm = data.draw(st.permutations(range(x.ndim)))
    got = K.permute_dimensions(x, perm)
    np.testing.assert_array_equal(got, np.transpose(x, perm))
    assert got.flags.c_contiguous


@given(data=st.data(), src=DTYPES, dst=st.sampled_from(FLOATS))
def test_cast_matches_astype_bitwise(data, src, dst):
    x = data.draw(views(src, allow_special=True))
    got = K.cast(x, dst)
    with np.errstate(all="ignore"):
        expected = x.astype(dst)
    assert got.dtype == np.dtype(dst) and got.shape == x.shape
    assert got.tobytes(order="A") == np.ascontiguousarray(expected).tobytes() or \
        np.array_equal(got.view(f"u{got.itemsize}"), expected.view(f"u{expected.itemsize}"))


INT_SOURCES = ["uint8", "int8", "int32", "int64"]


@given(data=st.data(), src=st.sampled_from(INT_SOURCES), dst=st.sampled_from(FLOATS))
def test_casts_from_integers_are_native_and_match_astype(data, src, dst):
    x = data.draw(views(np.dtype(src).type))
    got = _core.cast(x, dst)  # the native entry itself: None would mean NumPy's route
    assert got is not None and got.dtype == np.dtype(dst) and got.shape == x.shape
    with np.errstate(all="ignore"):
        expected = x.astype(dst)
    np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), expected.view(f"u{expected.itemsize}"))
    assert np.array_equal(K.cast(x, dst), expected)


def test_casts_from_integers_round_once(threads):
    # float32 rounding above 2^24, float16's largest finite value and where it overflows.
    i32 = np.array([2**24 + 1, 2**24 + 3, -(2**31), 2**31 - 1, 65504, 65519, 65520, -65536, 2049, 2051], np.int32)
    i64 = np.concatenate([i32.astype(np.int64), [2**63 - 1, -(2**63), 2**53 + 1, 2**40 + 2**16 + 1]])
    for x in (i32, i64, np.arange(-128, 128, dtype=np.int8), np.arange(256, dtype=np.uint8)):
        for dst in FLOATS:
            with np.errstate(over="ignore"):
                want = x.astype(dst).view(f"u{np.dtype(dst).itemsize}")
            assert np.array_equal(K.cast(x, dst).view(want.dtype), want), (x.dtype, dst)
    # An image batch: the same bits for every thread count, transposed views included.
    img = np.random.default_rng(3).integers(0, 256, (4, 37, 29, 3), dtype=np.uint8)
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        for v in (img, img.transpose(0, 3, 1, 2), img[:, ::-1]):
            assert np.array_equal(K.cast(v, "float32"), v.astype(np.float32))
            assert np.array_equal(K.cast(v, "float16").view(np.uint16), v.astype(np.float16).view(np.uint16))


ALL_HALVES_SCRIPT = r"""
import numpy as np, warnings
warnings.simplefilter("ignore")
from kcore import backend as K
from kcore._runtime import _core
h = np.arange(65536, dtype=np.uint16).view(np.float16)
u = {"float16": np.uint16, "float32": np.uint32, "float64": np.uint64}
ok = True
for wide in ("float32", "float64"):
    exp = h.astype(wide)
    ok &= np.array_equal(K.cast(h, wide).view(u[wide]), exp.view(u[wide]))
    ok &= np.array_equal(K.cast(exp, "float16").view(np.uint16), exp.astype(np.float16).view(np.uint16))
    # halfway points and neighbours between consecutive halves: the rounding cases (float64s
    # within half a float32 ulp of a halfway point round to it in float32: double rounding's trap;
    # 2^-23 away, float32 keeps them off it); the largest half's upper midpoint and its
    # neighbours; tiny values beside normal ones in one block.
    mid = (exp[:-1].astype(np.float64) + exp[1:].astype(np.float64)) / 2
    top = np.array([65520.0, np.nextafter(65520.0, 0), np.nextafter(65520.0, np.inf), 65520 * (1 - 2.0**-27)])
    tiny = np.tile([3 * 2.0**-25, 1.0, -(2.0**-14 - 2.0**-25), 0.5, 2.0**-24 * (1 + 2.0**-26), 3.0, -0.0, 7.0], 4)
    for v in (mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf), mid * (1 + 2.0**-27), mid * (1 - 2.0**-27),
              mid * (1 + 2.0**-23), mid * (1 - 2.0**-23), np.concatenate([top, -top] * 4), tiny):
        v = v.astype(wide)
        ok &= np.array_equal(K.cast(v, "float16").view(np.uint16), v.astype(np.float16).view(np.uint16))
rng = np.random.default_rng(5)
bits32 = rng.integers(0, 2**32, 1 << 18, dtype=np.uint64).astype(np.uint32).view(np.float32)
bits64 = rng.integers(0, 2**64 - 1, 1 << 18, dtype=np.uint64).view(np.float64)
ints = [rng.integers(np.iinfo(t).min, np.iinfo(t).max, 4099, dtype=t, endpoint=True)
        for t in (np.uint8, np.int8, np.int32, np.int64)]
for a in [bits32, bits64] + ints:
    for dst in ("float16", "float32", "float64"):
        with np.errstate(over="ignore"):
            ok &= np.array_equal(K.cast(a, dst).view(u[dst]), a.astype(dst).view(u[dst]))
print(_core.cpu_level(), ok)
"""


@pytest.mark.parametrize("level", _core.supported_cpu_levels().split(","))
def test_casts_are_exact_for_every_half_on_every_level(level):
    env = dict(os.environ, KCORE_CPU_LEVEL=level)
    r = subprocess.run([sys.executable, "-c", ALL_HALVES_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == [level, "True"]


def test_cast_special_values():
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 65504, 65520, 1e-8, 6e-8, -1e30], np.float64)
    # float64 -> float16 around float16's edges, in float32's subnormal range and past its largest
    # value: where rounding to odd through float32 leans on the dropped bits' test.
    edges = np.array([2.0**-25, 2.0**-24, 1.5 * 2.0**-25, 2.0**-130, 3e-39, 65519.0, 65520.0, 3.5e38, 1e300])
    x = np.concatenate([x, edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf), -edges] * 16)
    with np.errstate(over="ignore"):
        expected = x.astype(np.float16)
    np.testing.assert_array_equal(K.cast(x, "float16").view(np.uint16), expected.view(np.uint16))
    assert np.signbit(K.cast(np.array([-0.0], np.float32), "float16")[0])
    # Blocks of infinities without a NaN (attention masks) take the vector path.
    infs = np.array([np.inf, -np.inf, 1e300, -7e4, 65520.0, -0.0, 2.0**-26, 1.0] * 8)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(K.cast(infs, "float16").view(np.uint16), infs.astype(np.float16).view(np.uint16))


def test_cast_keeps_memory_order_like_astype():
    x = np.ones((30, 40), np.float32).T
    got = K.cast(x, "float16")
    assert got.flags.f_contiguous == x.astype(np.float16).flags.f_contiguous


def test_cast_integer_and_bool_targets():
    x = np.array([-1.7, 0.0, 2.9, 3.5], np.float32)
    assert K.cast(x, "int32").tolist() == [-1, 0, 2, 3] and K.cast(x, "int32").dtype == np.int32
    assert K.cast(x, "bool").tolist() == [True, False, True, True]
    assert K.cast(np.array([1, 2], np.int64), "float16").dtype == np.float16
    assert K.cast(np.array([True, False]), "float32").tolist() == [1.0, 0.0]
    assert K.cast([1.5, 2.5], np.float64).dtype == np.float64


def test_cast_to_floatx():
    assert K.cast_to_floatx([1, 2]).dtype == np.dtype(K.floatx())
    assert K.cast_to_floatx(np.array([1.5], np.float64)).dtype == np.dtype(K.floatx())


def test_layout_errors():
    x = np.ones((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"permute_dimensions: pattern \(0, 1\) is not a permutation of the 3 axes"):
        K.permute_dimensions(x, (0, 1))
    with pytest.raises(ValueError, match="is not a permutation"):
        K.permute_dimensions(x, (0, 1, 1))
    with pytest.raises(TypeError, match="permute_dimensions: pattern must be a tuple or list of ints"):
        K.permute_dimensions(x, 3)
    with pytest.raises(TypeError, match="cast: unsupported dtype 'float8'"):
        K.cast(x, "float8")
    with pytest.raises(TypeError, match="cast: unsupported dtype <U1 for x"):
        K.cast(np.array(["a"]), "float32")


def test_transpose_of_small_ranks():
    assert K.transpose(np.float32(3)) == 3
    np.testing.assert_array_equal(K.transpose(np.arange(4.0)), np.arange(4.0))
    assert K.transpose(np.zeros((0, 3), np.float16)).shape == (3, 0)
    np.testing.assert_array_equal(K.transpose(np.arange(6).reshape(2, 3)), np.arange(6).reshape(2, 3).T)


@pytest.mark.parametrize("shape,perm", [((2048, 2048), (1, 0)), ((64, 256, 256), (2, 1, 0)),
                                        ((64, 256, 256), (1, 0, 2))])
def test_large_permutes_thread_invariant(shape, perm, threads):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        results.append(K.permute_dimensions(x, perm))
    for r in results:
        np.testing.assert_array_equal(r, np.transpose(x, perm))


TRANSPOSE_BLOCKS_SCRIPT = """
import numpy as np
from kcore import backend as K
from kcore._runtime import _core
rng = np.random.default_rng(11)
ok = True
# Register-block transposes: ragged edges on both sides, outer dims, views, and results large
# enough (>= 8 MB, line-aligned rows) for streaming stores.
cases = [((67, 131), (1, 0)), ((131, 67), (1, 0)), ((3, 70, 45), (0, 2, 1)), ((5, 33, 40), (2, 1, 0)),
         ((2064, 1027), (1, 0)), ((3, 1024, 1040), (0, 2, 1)), ((1027, 2064), (1, 0))]
# Pixels of 2-4 channels split into planes and merged back (NHWC <-> NCHW).
cases += [((2, 9, 301, c), (0, 3, 1, 2)) for c in (2, 3, 4)] + [((2, c, 9, 301), (0, 2, 3, 1)) for c in (2, 3, 4)]
for dt in (np.float16, np.float32, np.float64, np.uint8, np.int32):
    for shape, perm in cases:
        bits = rng.integers(0, 2**63, shape, dtype=np.uint64)
        x = bits.astype({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[np.dtype(dt).itemsize]).view(dt)
        for v in (x, x[..., ::-1], x[..., 1:]):
            got = K.permute_dimensions(v, perm)
            ok &= np.array_equal(got.view(np.uint8), np.transpose(v, perm).copy().view(np.uint8))
print(_core.cpu_level(), ok)
"""


@pytest.mark.parametrize("level", _core.supported_cpu_levels().split(","))
def test_block_transposes_are_exact_on_every_level(level):
    env = dict(os.environ, KCORE_CPU_LEVEL=level)
    r = subprocess.run([sys.executable, "-c", TRANSPOSE_BLOCKS_SCRIPT], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-2:] == [level, "True"]


@pytest.mark.parametrize("dtype", FLOATS + ["uint8", "int8", "int32", "int64"])
def test_image_channel_permutes(dtype, threads):
    # NHWC <-> NCHW with few channels copies at a stride directly (up to kFewRows channels, then
    # tiles): both sides of that, views, and the same bits on every thread count.
    rng = np.random.default_rng(7)
    for c in (1, 2, 3, 4, 8, 9, 16):
        x = rng.standard_normal((3, 37, 2100 // c + 5, c)) * 50
        x = x.astype(dtype) if dtype in FLOATS else x.astype(np.int64).astype(dtype)
        nchw = np.transpose(x, (0, 3, 1, 2))
        for v, perm in ((x, (0, 3, 1, 2)), (x[:, ::-1], (0, 3, 1, 2)), (x[..., ::2, :], (0, 3, 2, 1)),
                        (nchw, (0, 2, 3, 1)), (nchw[:, ::-1], (0, 2, 3, 1))):
            want = np.ascontiguousarray(np.transpose(v, perm))
            for n in (1, 2, 3):
                threads.set_num_threads(n)
                got = _core.permute_dimensions(v, perm)  # the native entry: integers too
                u = f"u{got.itemsize}"
                assert got.flags.c_contiguous and np.array_equal(got.view(u), want.view(u))


@pytest.mark.parametrize("dtype", FLOATS + ["uint8", "int8", "int32", "int64"])
def test_pixels_reversed_or_strided_along_the_width(dtype, threads):
    # Flips and strided crops of channels_last images move whole pixels (ElementwisePlan::
    # item_bytes): every pixel size up to and past the 64-byte limit, the widths where the first
    # and last pixels are the only ones, lines ending at the array's end, the same bits on every
    # thread count.
    rng = np.random.default_rng(11)
    for c in (1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 33):
        for w in (1, 2, 3, 4, 31):
            x = rng.standard_normal((2, 5, w, c)) * 50
            x = x.astype(dtype) if dtype in FLOATS else x.astype(np.int64).astype(dtype)
            for v in (x[:, :, ::-1], x[:, ::-1, ::-1], x[:, :, ::2], x[:, :, ::-3], x[:, :, ::-1, 1:],
                      x[::-1, :, ::-2, :2]):
                want = np.ascontiguousarray(v)
                for n in (1, 2):
                    threads.set_num_threads(n)
                    got = _core.permute_dimensions(v, tuple(range(v.ndim)))
                    u = f"u{got.itemsize}"
                    assert got.flags.c_contiguous and np.array_equal(got.view(u), want.view(u)), (c, w, v.strides)
    # One long line of pixels, shared out in chunks (each chunk ends on an exact move).
    for shape in ((600_001, 3), (1_000_003, 5), (200_003, 8)):
        x = (rng.standard_normal(shape) * 50).astype(dtype) if dtype in FLOATS else \
            rng.integers(-100, 100, shape).astype(dtype)
        for v in (x[::-1], x[::2], x[::-3, 1:]):
            want = np.ascontiguousarray(v)
            for n in (1, 2, 3):
                threads.set_num_threads(n)
                got = _core.permute_dimensions(v, (0, 1))
                u = f"u{got.itemsize}"
                assert np.array_equal(got.view(u), want.view(u)), (shape, v.strides)
    # The Keras call, an image batch large enough to be threaded.
    img = rng.integers(0, 256, (32, 224, 224, 3), dtype=np.uint8)
    for n in (1, 2, 3):
        threads.set_num_threads(n)
        np.testing.assert_array_equal(K.reverse(img, 2), img[:, :, ::-1])
    img = img[:4, :64]
    np.testing.assert_array_equal(K.reverse(img.astype(np.float32), (1, 2)), img[:, ::-1, ::-1].astype(np.float32))


def test_streaming_size_follows_the_cpu_unless_the_environment_sets_it():
    # The tests run with KCORE_STREAM_BYTES set (conftest.py); without it: 8 MiB on Intel, else
    # the last-level cache one core sees, within [4, 64] MiB.
    code = "import kcore._core as c; t = c.tuning(); print(c.cpu_vendor(), t['stream_bytes'], t['cache_bytes'])"
    env = {k: v for k, v in os.environ.items() if k != "KCORE_STREAM_BYTES"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    vendor, got, cache = r.stdout.split()
    mib = 1 << 20
    assert int(got) == (8 * mib if vendor == "intel" else min(max(int(cache), 4 * mib), 64 * mib))
    env["KCORE_STREAM_BYTES"] = "123456"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split()[1] == "123456", r.stderr


@pytest.mark.parametrize("n", [T["stream_bytes"] // 4 + 7, 700001, 1 << 21])
def test_large_casts_stream_exactly(n):
    # Results from stream_bytes up are written with streaming stores, in pieces aligned to the
    # destination's cache lines: sizes and offsets that leave partial lines at both ends (the
    # first size streams into float32 and float64, not into float16).
    rng = np.random.default_rng(n)
    base = rng.standard_normal(n + 3) * 1e3
    for src in FLOATS:
        x = base.astype(src)[3:]  # an offset start
        for dst in FLOATS:
            if dst == src:
                continue
            got = K.cast(x, dst)
            np.testing.assert_array_equal(got.view(np.uint8), x.astype(dst).view(np.uint8))


@given(data=st.data(), dtype=DTYPES)
def test_concatenate_and_stack_of_views_are_exact(data, dtype):
    x = data.draw(views(dtype, allow_special=True))
    if x.ndim == 0:
        return
    ax = data.draw(st.integers(-x.ndim, x.ndim - 1))
    parts = [x, x[::-1], np.flip(x, ax)[:, ...]]
    got = K.concatenate(parts, axis=ax)
    assert got.dtype == dtype and got.tobytes() == np.concatenate(parts, axis=ax).tobytes()
    sax = data.draw(st.integers(-x.ndim - 1, x.ndim))
    got = K.stack(parts, axis=sax)
    assert got.dtype == dtype and got.tobytes() == np.stack(parts, axis=sax).tobytes()


@pytest.mark.parametrize("dtype", [*FLOATS, "uint8", "int8", "int32", "int64"])
def test_concatenate_channels_and_batches(dtype, rng, threads):
    # DenseNet's joins: feature maps of different channel counts along the last axis; rows of a
    # batch along the first; a part with no elements on the axis.
    maps = [(rng.standard_normal((2, 9, 11, c)) * 50).astype(dtype) for c in (3, 64, 0, 17)]
    for n in (1, 2):
        threads.set_num_threads(n)
        got = K.concatenate(maps, axis=-1)
        assert got.tobytes() == np.concatenate(maps, axis=-1).tobytes() and got.dtype == dtype
        assert got.flags.c_contiguous
        thin = [m[..., :1] for m in maps]  # (1-channel slabs: NumPy's join)
        assert K.concatenate(thin, axis=-1).tobytes() == np.concatenate(thin, axis=-1).tobytes()
        big = [np.repeat(m, 40, axis=1) for m in maps]  # (streamed: 8 MB and more for float64)
        assert K.concatenate(big, axis=-1).tobytes() == np.concatenate(big, axis=-1).tobytes()
        assert K.concatenate(big[1:2] * 2, axis=0).tobytes() == np.concatenate(big[1:2] * 2, axis=0).tobytes()
        rows = [m[:, :, :, :3].transpose(3, 1, 2, 0) for m in maps[:2]]
        assert K.concatenate(rows, axis=0).tobytes() == np.concatenate(rows, axis=0).tobytes()
    assert _core.concatenate([maps[0], maps[1].astype(np.float64 if dtype != "float64" else np.float32)], 3) is None
    assert _core.concatenate([maps[0], maps[1]], 4) is None and _core.concatenate([], 0) is None
    assert _core.concatenate([maps[0], maps[1]], 2) is None  # (shapes differ off axis 2)
