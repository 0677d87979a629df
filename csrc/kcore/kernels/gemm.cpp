// The gemm family's entry, compiled once per ISA level (CMakeLists.txt).
#include "kcore/kernels/gemm.hpp"
#include "kcore/kernels/entries.hpp"

namespace kcore {
namespace KCORE_ISA {

void gemm(const GemmPlan& g) {
  visit_float(g.dtype, "gemm", [&](auto t) {
    using T = decltype(t);
    constexpr bool kHalf = std::is_same_v<T, half>;
    const bool own = g.epilogue.apply != nullptr || g.a_rows.active();
    if (own && g.batch != 1) throw std::invalid_argument("gemm: an epilogue or rows of A need one product");
    // The small kernel rounds float16 into C at once, and an epilogue works before that rounding.
    const bool epilogue_after_rounding = kHalf && g.epilogue.apply != nullptr;
    if (!g.a_rows.active() && !epilogue_after_rounding && g.M * g.N * g.K <= kSmallWork) {
      gemm_small<T>(g);
      return g.epilogue(g.c, g.M, g.N, g.N, 0, 0);
    }
    // The packed kernel applies an epilogue to each block while it is in L2 (an external BLAS
    // would leave a pass over memory) and reads A's rows where they lie.
    if constexpr (!kHalf)
      if (!own && g.blas_allowed && std::min({g.M, g.N, g.K}) > blas_min_dim() && gemm_blas<T>(g)) return;
    gemm_typed<T>(g);
  });
}

}  // namespace KCORE_ISA
}  // namespace kcore
