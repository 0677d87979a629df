"""Every compiled ISA level gives the same bits (the accumulation order is fixed across levels;
exp, log and the activations are fixed sequences of IEEE operations) and the cap in
KCORE_CPU_LEVEL is honoured."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from kcore._runtime import _core

SCRIPT = textwrap.dedent("""
    import sys, numpy as np, kcore
    from kcore import backend as K
    from kcore._runtime import _core
    rng = np.random.default_rng(7)
    out = {"level": np.array(_core.cpu_level())}
    for dt in (np.float16, np.float32, np.float64):
        x = (rng.standard_normal((300, 517)) + 3).astype(dt)
        x[5, 7] = np.nan
        for view_name, v in (("c", x), ("t", x.T), ("s", x[::2, ::-3])):
            for op in ("sum", "mean", "prod", "max", "min", "var", "std", "any", "all"):
                for ax in (None, 0, 1):
                    out[f"{dt.__name__}-{view_name}-{op}-{ax}"] = np.asarray(getattr(K, op)(v, axis=ax))
            for op in ("argmax", "argmin"):
                for ax in (0, 1):
                    out[f"{dt.__name__}-{view_name}-{op}-{ax}"] = np.asarray(getattr(K, op)(v, axis=ax))
            for op in ("cumsum", "cumprod"):
                for ax in (0, 1):
                    out[f"{dt.__name__}-{view_name}-{op}-{ax}"] = getattr(K, op)(v, axis=ax)
        # Long rows: float32 sums add runs in float32, then pair each block's halves; row 1's first
        # run overflows float32 in one lane, row 2's only where lanes 0 and 32 pair, and both cancel
        # (redone in float64).
        w = rng.standard_normal((3, 5000)).astype(dt)
        w[1, [0, 64]] = w[2, [0, 32]] = np.finfo(dt).max * 0.75
        w[1, [128, 192]] = w[2, [1, 33]] = -np.finfo(dt).max * 0.75
        for ax in (None, 1):
            out[f"{dt.__name__}-long-sum-{ax}"] = np.asarray(K.sum(w, axis=ax))
        # The activations (vmath.hpp) and softmax, tails and odd lengths included.
        z = np.concatenate([rng.uniform(-120, 100, 4099), [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40]])
        with np.errstate(all="ignore"):
            z = z.astype(dt)
        for op in ("exp", "log", "tanh", "sigmoid", "softplus", "softsign", "elu", "hard_sigmoid", "square", "abs",
                   "sqrt", "sign", "round"):
            out[f"{dt.__name__}-{op}"] = getattr(K, op)(z)
            out[f"{dt.__name__}-{op}-small"] = getattr(K, op)(z[:37] / 40)
        out[f"{dt.__name__}-leaky"] = K.relu(z, alpha=0.3, max_value=6.0, threshold=0.5)
        out[f"{dt.__name__}-softmax"] = K.softmax((x[:, :301] * 9).astype(dt))
        # Running products through the subnormal range (computed apart from the hardware's path).
        t = rng.uniform(0.05, 1.2, (40, 2100)) * rng.choice([1.0, 1e-30, 1e20], (40, 2100), p=[0.8, 0.1, 0.1])
        with np.errstate(over="ignore"):
            t = t.astype(dt)
        for ax in (0, 1):
            out[f"{dt.__name__}-tiny-cumprod-{ax}"] = K.cumprod(t, axis=ax)
    # The bench's bandwidth probes: exact copies (odd lengths, unaligned ends), the XOR of words.
    src = rng.integers(0, 256, (3 << 20) + 77, dtype=np.uint8)
    for lo, hi in ((0, 0), (1, 64), (3, 4096 + 5), (5, src.size)):
        dst = np.zeros(hi - lo, np.uint8)
        _core.stream_copy(dst, src[lo:hi])
        assert np.array_equal(dst, src[lo:hi]), (lo, hi)
    words = rng.integers(0, 2**63, 300001, dtype=np.uint64)
    assert _core.stream_read(words) == int(np.bitwise_xor.reduce(words))
    np.savez(sys.argv[1], **out)
""")


def _levels():
    return _core.supported_cpu_levels().split(",")


def test_every_level_gives_identical_bits(tmp_path):
    results = {}
    for level in _levels():
        path = tmp_path / f"{level}.npz"
        env = dict(os.environ, KCORE_CPU_LEVEL=level)
        r = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        results[level] = dict(np.load(path))
        assert str(results[level].pop("level")) == level
    base = results["baseline"]
    for level, res in results.items():
        for key, value in res.items():
            assert value.tobytes() == base[key].tobytes(), (level, key)


def test_invalid_level_is_a_clear_error():
    env = dict(os.environ, KCORE_CPU_LEVEL="sse9")
    r = subprocess.run([sys.executable, "-c", "import kcore"], env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "KCORE_CPU_LEVEL must be one of baseline, avx2, avx512; got 'sse9'" in r.stderr


@pytest.mark.skipif("avx2" not in _core.supported_cpu_levels(), reason="CPU without AVX2")
def test_level_cap_is_reported():
    env = dict(os.environ, KCORE_CPU_LEVEL="avx2")
    r = subprocess.run([sys.executable, "-m", "kcore"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "cpu level in use:  avx2 (capped by KCORE_CPU_LEVEL=avx2)" in r.stdout
