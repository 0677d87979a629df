"""The issues' speed targets for `python -m kcore.bench --targets bench/targets.py`: each is
(description, measured figure, target, met), checked on the results of the cases that were run."""
from __future__ import annotations

import numpy as np

from kcore.bench import LARGE, Case, geomean


def is_large_contiguous(c: Case) -> bool:
    return (c.op in ("sum", "max", "min", "mean") and c.shape_name == "4096x4096" and c.order == "C"
            and c.dtype in ("float32", "float64") and c.axis in (None, -1, 0))


def targets(results):
    """The issues' targets: (description, measured, target, passed)."""
    out = []
    if not results:
        return out
    red = [r for r in results if r.case.family == "reduce"]
    rest = [r for r in results if r.case.family not in ("reduce", "dot", "elementwise", "conv")]
    dots = [r for r in results if r.case.family == "dot"]
    out += _reduction_targets(red)
    out += _layout_targets(rest)
    out += _dot_targets(dots)
    out += _elementwise_targets([r for r in results if r.case.family == "elementwise"])
    out += _conv_targets([r for r in results if r.case.family == "conv"])
    core = [r for r in results if r.case.family not in ("elementwise", "conv")]
    if rest:
        g = geomean(r.speedup for r in core)
        out.append(("geometric mean over everything run", f"{g:.2f}x", "(info)", True))
    return out


def _worst(rs, desc, target, key=lambda r: r.speedup, fmt=lambda r: f"{r.speedup:.2f}x"):
    if not rs:
        return []
    w = min(rs, key=key)
    return [(desc, f"{fmt(w)} ({w.case.name})", f">= {target}", key(w) >= target)]


def _macs(c: Case) -> int:
    if c.op == "batch_dot":
        return int(np.prod([int(v) for v in c.shape_name.split("x")][1:]))
    if c.op == "batch_dot_keras_doc":
        return 1 * 20 * 30
    xs, ys = (tuple(map(int, part.split("x"))) for part in c.shape_name.split("."))
    return int(np.prod(xs) * ys[-1])


def _elementwise_targets(rs):
    """Issue 18: elementwise, activations, bias_add, batch_normalization on 4M elements."""
    out = []
    ops = [r for r in rs if r.case.op != "preprocess"]
    for dtype, target in (("float32", 1.5), ("float16", 5)):
        out += _worst([r for r in ops if r.case.dtype == dtype], f"elementwise/activations {dtype} vs NumPy (worst)",
                      target)
    pre = [r for r in rs if r.case.op == "preprocess"]
    out += _worst(pre, "preprocessing pipeline (uint8 NHWC -> normalized float16 NCHW) vs NumPy", 5)
    out += _worst([r for r in pre if not np.isnan(r.torch_speedup)],
                  "preprocessing pipeline vs PyTorch", 2, key=lambda r: r.torch_speedup,
                  fmt=lambda r: f"{r.torch_speedup:.2f}x")
    return out


def _conv_targets(rs):
    """Issue 18: conv2d float32 NHWC against PyTorch CPU; float16 against NumPy-based math."""
    out = []
    vs_torch = [r for r in rs if r.case.dtype == "float32" and not np.isnan(r.torch_speedup)]
    regular = [r for r in vs_torch if not r.case.op.startswith(("dw", "transpose", "upsample"))]  # ResNet/MobileNet
    depthwise = [r for r in vs_torch if r.case.op.startswith("dw")]
    key = lambda r: r.torch_speedup  # noqa: E731
    fmt = lambda r: f"{r.torch_speedup:.2f}x"  # noqa: E731
    out += _worst(regular, "conv2d float32 vs PyTorch, every case (worst)", 0.75, key=key, fmt=fmt)
    if regular:
        g = geomean(r.torch_speedup for r in regular)
        out.append(("conv2d float32 vs PyTorch, geomean", f"{g:.2f}x", ">= 1.0", g >= 1.0))
    out += _worst(depthwise, "depthwise 3x3 float32 vs PyTorch (worst)", 1.5, key=key, fmt=fmt)
    out += _worst([r for r in rs if r.case.dtype == "float16"], "conv float16 vs NumPy-based float16 math (worst)", 10)
    return out


def _dot_targets(rs):
    out = []
    out += _worst(rs, "dot/batch_dot: every case (worst)", 1.0)
    out += _worst([r for r in rs if r.case.dtype == "float16" and _macs(r.case) >= 4096],
                  "dot/batch_dot float16 with M*K*N >= 4096 (worst)", 20)
    out += _worst([r for r in rs if r.case.dtype == "float32" and r.case.op.startswith("batch_dot")
                   and r.case.shape_name != "8x512x512x512"], "batch_dot float32 small/medium (worst)", 1.5)
    return out


def _layout_targets(rs):
    out = []
    out += _worst(rs, "scans, transposes, casts: every case (worst)", 1.0)
    out += _worst([r for r in rs if r.case.family == "scan" and r.case.axis == 0 and r.case.order == "C"
                   and r.case.shape_name == "2048x2048" and r.case.dtype == "float32"],
                  "cumsum/cumprod axis 0, 2048x2048 float32 (worst)", 10)
    out += _worst([r for r in rs if r.case.op == "transpose" and r.case.shape_name == "4096x4096"
                   and r.case.dtype == "float32"], "transpose 4096x4096 float32", 4)
    big = [r for r in rs if r.case.family == "cast" and np.prod(r.case.shape) >= 1 << 20]
    for pair, target in (("float32->float16", 5), ("float16->float32", 3)):
        out += _worst([r for r in big if r.case.dtype == pair], f"cast {pair}, >= 1M elements (worst)", target)
    large = [r for r in rs if r.case.shape_name == "4096x4096" and r.case.order == "C"]
    out += _worst(large, "large scans/casts/transposes, share of copy bandwidth (worst)", 0.70,
                  key=lambda r: r.bw_fraction, fmt=lambda r: f"{100 * r.bw_fraction:.0f}%")
    return out


def _reduction_targets(results):
    out = []
    if not results:
        return out
    worst = min(results, key=lambda r: r.speedup)
    out.append(("every case >= 1.0x NumPy (worst case)", f"{worst.speedup:.2f}x ({worst.case.name})",
                ">= 1.0x", worst.speedup >= 1.0))
    f16 = [r for r in results if r.case.dtype == "float16" and r.case.shape_name in LARGE]
    if f16:
        w = min(f16, key=lambda r: r.speedup)
        out.append(("float16, 512x512 and up (worst)", f"{w.speedup:.1f}x ({w.case.name})", ">= 10x", w.speedup >= 10))
    vs = [r for r in results if r.case.op in ("var", "std") and r.case.dtype != "float16"
          and r.case.shape_name in LARGE]
    if vs:
        w = min(vs, key=lambda r: r.speedup)
        out.append(("var/std f32/f64, 512x512 and up (worst)", f"{w.speedup:.2f}x ({w.case.name})", ">= 2.5x",
                    w.speedup >= 2.5))
    big = [r for r in results if is_large_contiguous(r.case)]
    if big:
        w = min(big, key=lambda r: r.bw_fraction)
        out.append(("large contiguous sum/max/min/mean, share of read bandwidth (worst)",
                    f"{100 * w.bw_fraction:.0f}% ({w.case.name})", ">= 85%", w.bw_fraction >= 0.85))
    g = geomean(r.speedup for r in results)
    out.append(("reductions: geometric mean over the matrix", f"{g:.2f}x", ">= 4x", g >= 4))
    return out
