// The kernel families' entries of one ISA level: each is defined in its own translation unit
// (reduce.cpp, elementwise.cpp, scan.cpp, gemm.cpp, conv.cpp, resize.cpp, pad.cpp, norm.cpp,
// probe.cpp) and collected into the level's tables by kernels.cpp.
#pragma once
#include <cstdint>

#include "kcore/conv_plan.hpp"
#include "kcore/elementwise_plan.hpp"
#include "kcore/gemm_plan.hpp"
#include "kcore/kernels/isa.hpp"
#include "kcore/reduce_plan.hpp"
#include "kcore/scan_plan.hpp"

namespace kcore {
namespace KCORE_ISA {

void reduce(const ReducePlan& p);
void elementwise(const ElementwisePlan& p);
void chain(const ChainPlan& p);
void concat(const ConcatPlan& p);
void softmax(const SoftmaxPlan& p);
void scan(const ScanPlan& p);
void gemm(const GemmPlan& g);
void conv(const ConvPlan& p);
void pool(const PoolPlan& p);
void resize(const ResizePlan& p);
void pad(const PadPlan& p);
void norm_grad(const NormGradPlan& p);
// The benchmark's bandwidth probes: the XOR of n 64-bit words read with the kernels' threads,
// and a copy of n bytes written as the kernels write large results.
std::uint64_t stream_read(const std::uint64_t* p, std::int64_t n);
void stream_copy(char* dst, const char* src, std::int64_t n);

}  // namespace KCORE_ISA
}  // namespace kcore
