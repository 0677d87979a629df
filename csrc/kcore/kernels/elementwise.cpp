// The elementwise family's entry, compiled once per ISA level (CMakeLists.txt).
#include "kcore/kernels/elementwise_engine.hpp"
#include "kcore/kernels/entries.hpp"

namespace kcore {
namespace KCORE_ISA {

void elementwise(const ElementwisePlan& p) {
  if (p.size == 0) return;
  if (p.kind == ElementwiseKind::copy) {
    visit_float(p.dtype[kIn], "copy", [&](auto s) {
      visit_float(p.dtype[kOut], "copy", [&](auto d) { copy_typed<decltype(s), decltype(d)>(p); });
    });
    return;
  }
  for (int op = 1; op < p.nops; ++op)
    if (p.dtype[op] != p.dtype[kOut]) throw std::invalid_argument("elementwise: operands must share one dtype");
  visit_float(p.dtype[kOut], "elementwise", [&](auto t) {
    using T = decltype(t);
    switch (p.kind) {
      case ElementwiseKind::add: return run_lines(p, Binary<T, Add>{}, false);
      case ElementwiseKind::subtract: return run_lines(p, Binary<T, Subtract>{}, false);
      case ElementwiseKind::multiply: return run_lines(p, Binary<T, Multiply>{}, false);
      case ElementwiseKind::divide: return run_lines(p, Binary<T, Divide>{}, false);
      case ElementwiseKind::multiply_add: return run_lines(p, Ternary<T, MultiplyAdd>{}, false);
      case ElementwiseKind::clip: {
        bool scalar_bounds = true;  // both bounds one value, broadcast along every dim
        for (int k = 0; k < p.ndim; ++k) scalar_bounds &= p.dim[k].stride[kIn + 1] == 0 && p.dim[k].stride[kIn + 2] == 0;
        if (scalar_bounds) {
          using A = widen_t<T>;
          A lo, hi;
          convert_run(reinterpret_cast<const T*>(p.data[kIn + 1]), &lo, 1);
          convert_run(reinterpret_cast<const T*>(p.data[kIn + 2]), &hi, 1);
          return run_lines(p, ClipScalar<T>{lo, hi}, false);
        }
        return run_lines(p, Ternary<T, Clip>{}, false);
      }
      case ElementwiseKind::copy: break;
    }
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
