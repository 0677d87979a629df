// The translation unit compiled once per ISA level (CMakeLists.txt): it instantiates every
// kernel family inside kcore::KCORE_ISA and exports them as that level's table.
#include "kcore/dispatch.hpp"
#include "kcore/kernels/copy_engine.hpp"
#include "kcore/kernels/gemm.hpp"
#include "kcore/kernels/probe.hpp"
#include "kcore/kernels/reduce_engine.hpp"
#include "kcore/kernels/scan_engine.hpp"

namespace kcore {
namespace KCORE_ISA {

const KernelTable& kernel_table() {
  static const KernelTable table{KCORE_ISA_NAME, &reduce, &copy, &scan, &gemm, &stream_read, &stream_copy};
  return table;
}

}  // namespace KCORE_ISA
}  // namespace kcore
