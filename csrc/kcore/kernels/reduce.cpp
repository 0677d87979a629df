// The reduce family's entry, compiled once per ISA level (CMakeLists.txt).
#include "kcore/kernels/reduce_engine.hpp"
#include "kcore/kernels/entries.hpp"

namespace kcore {
namespace KCORE_ISA {

void reduce(const ReducePlan& p) {
  visit_float(p.in_dtype, "reduce", [&](auto t) { reduce_typed<decltype(t)>(p); });
}

}  // namespace KCORE_ISA
}  // namespace kcore
