"""An array of more than 2**31 elements: reductions and a cast index it with 64-bit offsets (a
32-bit index would wrap before the values placed past 2**31). Marked slow; it runs wherever the
machine has the memory and otherwise skips, saying how much it needs and how much there is."""
import numpy as np
import pytest

from kcore import backend as K

N = 2**31 + 3
ROWS, COLS = 83 * 1277, 20261  # N's factors: a 2-D view of the same memory
# The input, its float32 cast, and a margin for the interpreter and the checks' small temporaries.
NEEDED = N * (2 + 4) + 2**30
# Sparse values over zeros, so that every result is exact whatever the order of accumulation: ones
# every 2**21 elements, a value just before 2**31, the minimum at 2**31, the maximum after it and
# again at the end (argmax takes the first).
PLACED = {7 + k * 2**21: 1.0 for k in range(1024)}
PLACED.update({2**31 - 1: 2.0, 2**31: -16.0, 2**31 + 1: 8.0, N - 1: 8.0})
assert len(PLACED) == 1028 and max(PLACED) == N - 1


def _mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _columns():
    """The expected max and argmax over axis 0 of the (ROWS, COLS) view: every column holds zeros
    (row 0 is all zero), so a column's maximum is 0 unless a placed value beats it."""
    best = np.zeros(COLS, np.float64)
    first = np.zeros(COLS, np.int64)
    for pos in sorted(PLACED):
        row, col = divmod(pos, COLS)
        if PLACED[pos] > best[col]:
            best[col], first[col] = PLACED[pos], row
    return best, first


@pytest.fixture(scope="module")
def huge():
    available = _mem_available()
    if available is None or available < NEEDED:
        have = "unknown (no /proc/meminfo)" if available is None else f"{available / 2**30:.1f} GiB"
        pytest.skip(f"needs {NEEDED / 2**30:.1f} GiB of available memory (a {N}-element float16 array, its float32 "
                    f"cast and a margin); MemAvailable is {have}")
    x = np.empty(N, np.float16)
    x.fill(0)  # every page really written, as a user's data would be
    for pos, value in PLACED.items():
        x[pos] = value
    yield x


@pytest.mark.slow
def test_reductions_past_2_31(huge):
    x = huge
    assert K.sum(x) == np.float16(sum(PLACED.values()))
    assert K.max(x) == 8.0 and K.min(x) == -16.0
    assert K.argmax(x) == 2**31 + 1 and K.argmin(x) == 2**31
    assert np.asarray(K.argmax(x)).dtype == np.int64
    grid = x.reshape(ROWS, COLS)
    row_sums = np.zeros(ROWS)
    for pos, value in PLACED.items():
        row_sums[pos // COLS] += value
    np.testing.assert_array_equal(K.sum(grid, axis=1), row_sums.astype(np.float16))
    best, first = _columns()
    np.testing.assert_array_equal(K.max(grid, axis=0), best.astype(np.float16))
    np.testing.assert_array_equal(K.argmax(grid, axis=0), first)


@pytest.mark.slow
def test_cast_past_2_31(huge):
    y = K.cast(huge, "float32")
    assert y.dtype == np.float32 and y.shape == (N,)
    positions = np.array(sorted(PLACED))
    np.testing.assert_array_equal(y[positions], np.array([PLACED[p] for p in positions], np.float32))
    assert np.count_nonzero(y) == len(PLACED)  # and zeros everywhere else
