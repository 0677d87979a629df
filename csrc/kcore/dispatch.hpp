// Run-time choice of the instruction-set level the kernels were compiled for.
#pragma once
#include <cstdint>
#include <string>

#include "kcore/conv_plan.hpp"
#include "kcore/elementwise_plan.hpp"
#include "kcore/gemm_plan.hpp"
#include "kcore/reduce_plan.hpp"
#include "kcore/scan_plan.hpp"

namespace kcore {

// One entry per kernel family; each ISA level provides a table.
struct KernelTable {
  const char* level;
  void (*reduce)(const ReducePlan&);
  void (*elementwise)(const ElementwisePlan&);
  void (*concat)(const ConcatPlan&);
  void (*softmax)(const SoftmaxPlan&);
  void (*scan)(const ScanPlan&);
  void (*gemm)(const GemmPlan&);
  void (*conv)(const ConvPlan&);
  void (*pool)(const PoolPlan&);
  void (*resize)(const ResizePlan&);
  void (*pad)(const PadPlan&);
  void (*chain)(const ChainPlan&);
  void (*norm_grad)(const NormGradPlan&);
};

// The benchmark's memory-bandwidth probes, compiled per level like the kernels they measure.
struct ProbeTable {
  std::uint64_t (*stream_read)(const std::uint64_t*, std::int64_t);
  void (*stream_copy)(char*, const char*, std::int64_t);
};

#define KCORE_DECLARE_LEVEL(ns)        \
  namespace ns {                       \
  const KernelTable& kernel_table();   \
  const ProbeTable& probe_table();     \
  }
KCORE_DECLARE_LEVEL(baseline)
#if KCORE_HAVE_X86_LEVELS
KCORE_DECLARE_LEVEL(avx2)
KCORE_DECLARE_LEVEL(avx512)
#endif
#undef KCORE_DECLARE_LEVEL

// Picks the best level the CPU supports, capped by `cap` ("", "baseline", "avx2", "avx512").
// Throws std::invalid_argument for an unknown cap.
void select_level(const std::string& cap);
const KernelTable& kernels();
const ProbeTable& probes();
std::string supported_levels();  // levels this CPU can run, comma-separated
const char* cpu_vendor();        // "amd", "intel" or "other"

}  // namespace kcore
