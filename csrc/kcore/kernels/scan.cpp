// The scan family's entry, compiled once per ISA level (CMakeLists.txt).
#include "kcore/kernels/scan_engine.hpp"
#include "kcore/kernels/entries.hpp"

namespace kcore {
namespace KCORE_ISA {

void scan(const ScanPlan& p) {
  visit_float(p.dtype, "scan", [&](auto t) {
    using T = decltype(t);
    if (p.kind == ScanKind::sum) scan_typed<T, Fold::add>(p);
    else scan_typed<T, Fold::mul>(p);
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
