"""pytest-benchmark suite: the same case matrix as `python -m kcore.bench`, one group per case so
kcore and NumPy sit side by side. Run: pytest bench/ --benchmark-only [-k 'sum and float32'].
Set KCORE_BENCH_FULL=1 for the whole matrix (it is large); the default is the quick subset."""
import os

import pytest

import kcore
from kcore import bench as B

FULL = bool(os.environ.get("KCORE_BENCH_FULL"))
SHAPES = tuple(B.SHAPES) if FULL else B.QUICK_SHAPES
THREADS = sorted({1, kcore.get_num_threads()})


def reduction_cases():
    return B.reduction_cases(B.REDUCE_OPS if FULL else B.QUICK_OPS, B.DTYPES, SHAPES, THREADS)


def layout_cases():
    return (B.scan_cases(B.SCAN_OPS, B.DTYPES, SHAPES, THREADS) + B.transpose_cases(B.DTYPES, SHAPES, THREADS)
            + B.cast_cases(B.CAST_PAIRS, SHAPES, THREADS))


@pytest.fixture
def thread_count():
    """Sets kcore's thread count for one benchmark and restores it."""
    before = kcore.get_num_threads()

    def set_threads(n):
        kcore.set_num_threads(n)

    yield set_threads
    kcore.set_num_threads(before)
