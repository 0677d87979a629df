// The level's kernel tables. Every file of this folder is compiled once per ISA level
// (CMakeLists.txt) into namespace kcore::KCORE_ISA; each family's entry has its own translation
// unit (entries.hpp).
#include "kcore/dispatch.hpp"
#include "kcore/kernels/entries.hpp"

namespace kcore {
namespace KCORE_ISA {

const KernelTable& kernel_table() {
  static const KernelTable table{KCORE_ISA_NAME, &reduce, &elementwise, &concat, &softmax, &scan, &gemm, &conv, &pool, &resize, &pad, &chain,
                                 &norm_grad};
  return table;
}

const ProbeTable& probe_table() {
  static const ProbeTable table{&stream_read, &stream_copy};
  return table;
}

}  // namespace KCORE_ISA
}  // namespace kcore
