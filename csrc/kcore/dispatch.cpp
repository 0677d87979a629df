#include "kcore/dispatch.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <stdexcept>

#include "kcore/tuning.hpp"

namespace kcore {
namespace {

const KernelTable* g_table = &baseline::kernel_table();
const ProbeTable* g_probes = &baseline::probe_table();

bool cpu_has_avx2() {
#if KCORE_HAVE_X86_LEVELS
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("f16c");
#else
  return false;
#endif
}

bool cpu_has_avx512() {
#if KCORE_HAVE_X86_LEVELS
  __builtin_cpu_init();
  return cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

}  // namespace

const char* cpu_vendor() {
#if KCORE_HAVE_X86_LEVELS
  __builtin_cpu_init();
  if (__builtin_cpu_is("amd")) return "amd";
  if (__builtin_cpu_is("intel")) return "intel";
#endif
  return "other";
}

void select_level(const std::string& cap) {
  int max_level;
  if (cap.empty() || cap == "avx512") max_level = 2;
  else if (cap == "avx2") max_level = 1;
  else if (cap == "baseline") max_level = 0;
  else throw std::invalid_argument("KCORE_CPU_LEVEL must be one of baseline, avx2, avx512; got '" + cap + "'");
  const KernelTable* t = &baseline::kernel_table();
  const ProbeTable* p = &baseline::probe_table();
#if KCORE_HAVE_X86_LEVELS
  if (max_level >= 1 && cpu_has_avx2()) t = &avx2::kernel_table(), p = &avx2::probe_table();
  if (max_level >= 2 && cpu_has_avx512()) t = &avx512::kernel_table(), p = &avx512::probe_table();
#else
  (void)max_level;
#endif
  g_table = t;
  g_probes = p;
}

const KernelTable& kernels() { return *g_table; }
const ProbeTable& probes() { return *g_probes; }

std::string supported_levels() {
  std::string s = "baseline";
  if (cpu_has_avx2()) s += ",avx2";
  if (cpu_has_avx512()) s += ",avx512";
  return s;
}

namespace tuning {
namespace {
bool on_intel() {
  static const bool intel = std::string(cpu_vendor()) == "intel";
  return intel;
}
}  // namespace

// From sysfs: sysconf reports a whole EPYC package's L3, ten times what one core's CCD has.
std::int64_t last_level_cache_bytes() {
  std::int64_t best = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::FILE* f = std::fopen((dir + "size").c_str(), "r");
    if (f == nullptr) break;
    long long kib = 0;
    char unit = 0;
    const int got = std::fscanf(f, "%lld%c", &kib, &unit);
    std::fclose(f);
    if (got >= 1) best = std::max<std::int64_t>(best, kib << (unit == 'M' ? 20 : 10));
  }
  return best;
}

const bool prefetch_reads = [] {
  if (const char* e = std::getenv("KCORE_PREFETCH"); e != nullptr && (e[0] == '0' || e[0] == '1') && e[1] == '\0')
    return e[0] == '1';
  return std::string(cpu_vendor()) != "amd";
}();

std::int64_t stream_bytes() {
  static const std::int64_t bytes = [] {
    if (const char* e = std::getenv("KCORE_STREAM_BYTES")) {
      char* end = nullptr;
      const long long v = std::strtoll(e, &end, 10);
      if (end != e && *end == '\0' && v > 0) return static_cast<std::int64_t>(v);
    }
    if (on_intel()) return kStreamBytesIntel;
    return std::clamp<std::int64_t>(last_level_cache_bytes(), std::int64_t(4) << 20, std::int64_t(64) << 20);
  }();
  return bytes;
}

bool stream_writes(std::int64_t bytes) { return (on_intel() ? bytes : 2 * bytes) >= stream_bytes(); }

bool stream_cast(std::int64_t written) { return written >= stream_bytes(); }
}  // namespace tuning

}  // namespace kcore
