// Element types the native kernels understand, and the small facts about them.
#pragma once
#include <cstdint>

namespace kcore {

// u8, i8 and i32 are cast sources (images arrive as uint8); i64 and b8 also results.
enum class DType : std::uint8_t { f16, f32, f64, i64, b8, u8, i8, i32 };

constexpr int itemsize(DType t) {
  switch (t) {
    case DType::b8: case DType::u8: case DType::i8: return 1;
    case DType::f16: return 2;
    case DType::f32: case DType::i32: return 4;
    default: return 8;
  }
}

// float16 is a storage type only: arithmetic always happens in a wider type. No conversion code
// lives here on purpose; conversions are kernel code and are compiled per ISA level.
struct half {
  std::uint16_t bits;
};
static_assert(sizeof(half) == 2, "half must be 16 bits");

}  // namespace kcore
