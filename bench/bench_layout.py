"""Scans, transposes/permutes and casts, kcore vs NumPy (each benchmark checks its result first)."""
import pytest

from conftest import layout_cases
from kcore import bench as B

CASES = layout_cases()


@pytest.mark.parametrize("lib", ["kcore", "numpy"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_layout(benchmark, case, lib, thread_count):
    thread_count(case.threads)
    x = B.make_input(case.src_dtype, case.shape, case.order)
    kfn, nfn = B.case_fns(case, x)
    B.check_case(case, x, kfn())
    benchmark.group = case.name
    benchmark(kfn if lib == "kcore" else nfn)
