// The gemm family's entry, compiled once per ISA level (CMakeLists.txt).
#include "kcore/kernels/gemm.hpp"
#include "kcore/kernels/entries.hpp"

namespace kcore {
namespace KCORE_ISA {

void gemm(const GemmPlan& g) {
  visit_float(g.dtype, "gemm", [&](auto t) {
    using T = decltype(t);
    if (g.M * g.N * g.K <= kSmallWork) return gemm_small<T>(g);
    if constexpr (!std::is_same_v<T, half>)
      if (std::min({g.M, g.N, g.K}) > blas_min_dim() && gemm_blas<T>(g)) return;
    gemm_typed<T>(g);
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
