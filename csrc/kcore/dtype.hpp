// Element types the native kernels understand, and the small facts about them.
#pragma once
#include <cstdint>

namespace kcore {

enum class DType : std::uint8_t { f16, f32, f64, i64, b8 };

constexpr int itemsize(DType t) {
  return t == DType::f16 ? 2 : t == DType::f32 ? 4 : t == DType::b8 ? 1 : 8;
}

// float16 is a storage type only: arithmetic always happens in a wider type. No conversion code
// lives here on purpose; conversions are kernel code and are compiled per ISA level.
struct half {
  std::uint16_t bits;
};
static_assert(sizeof(half) == 2, "half must be 16 bits");

}  // namespace kcore
