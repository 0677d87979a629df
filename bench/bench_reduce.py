"""Reductions, kcore vs NumPy (each benchmark checks its result first)."""
import pytest

from conftest import reduction_cases
from kcore import bench as B

CASES = reduction_cases()


@pytest.mark.parametrize("lib", ["kcore", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reduce(benchmark, case, lib, thread_count):
    thread_count(case.threads)
    x = B.make_input(case.dtype, case.shape, case.order)
    kfn, nfn = B.reduction_fns(case, x)
    B.check_case(case, x, kfn())
    benchmark.group = case.name
    benchmark(kfn if lib == "kcore" else nfn)
