// Kernel code is compiled once per ISA level (see CMakeLists.txt). Everything in this folder
// lives in namespace kcore::KCORE_ISA, templates included, so that no instance compiled with
// AVX-512 flags can be picked by the linker for the baseline path.
#pragma once
#ifndef KCORE_ISA
#error "kernel sources must be compiled with -DKCORE_ISA=<level>"
#endif
#ifndef KCORE_VEC_BYTES
#error "kernel sources must be compiled with -DKCORE_VEC_BYTES=<native vector bytes>"
#endif
#define KCORE_STR2(x) #x
#define KCORE_STR(x) KCORE_STR2(x)
#define KCORE_ISA_NAME KCORE_STR(KCORE_ISA)
// For the small helpers of the hot loops (conversions, register transposes, offset walks): the
// inliner's budget for a template used from many places varies with unrelated code, and an
// out-of-line call in these loops costs several percent.
#define KCORE_INLINE inline __attribute__((always_inline))
