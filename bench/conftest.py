"""pytest-benchmark suite: the same case matrix as `python -m kcore.bench`, one group per case so
kcore and NumPy sit side by side. Run: pytest bench/ --benchmark-only [-k 'sum and float32'].
Set KCORE_BENCH_FULL=1 for the whole matrix (it is large); the default is the quick subset."""
import os

import pytest

import kcore
from kcore import bench as B


def reduction_cases():
    full = bool(os.environ.get("KCORE_BENCH_FULL"))
    threads = sorted({1, kcore.get_num_threads()})
    return B.reduction_cases(B.REDUCE_OPS if full else B.QUICK_OPS, B.DTYPES,
                             tuple(B.SHAPES) if full else B.QUICK_SHAPES, threads)


@pytest.fixture
def thread_count():
    """Sets kcore's thread count for one benchmark and restores it."""
    before = kcore.get_num_threads()

    def set_threads(n):
        kcore.set_num_threads(n)

    yield set_threads
    kcore.set_num_threads(before)
