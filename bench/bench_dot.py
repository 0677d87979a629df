"""dot and batch_dot, kcore vs NumPy (each benchmark checks its result first)."""
import pytest

from conftest import THREADS
from kcore import bench as B

CASES = B.dot_cases(B.DTYPES, THREADS)


@pytest.mark.parametrize("lib", ["kcore", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_dot(benchmark, case, lib, thread_count):
    thread_count(case.threads)
    x, y = B.dot_inputs(case)
    kfn, nfn = B.dot_fns(case, x, y)
    B.check_dot(case, x, y, kfn())
    benchmark.group = case.name
    benchmark(kfn if lib == "kcore" else nfn)
