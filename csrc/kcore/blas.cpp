#include "kcore/blas.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>

#include "kcore/tuning.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#define KCORE_HAVE_DLOPEN 1
#endif

namespace kcore {
namespace {

Blas g_blas{nullptr, nullptr, nullptr, nullptr};
std::string g_path;
std::mutex g_mutex;
std::atomic<const Blas*> g_active{nullptr};
std::atomic<bool> g_enabled{true};
std::atomic<std::int64_t> g_min_dim{-1};  // -1: this CPU's default

}  // namespace

void load_blas(const std::string& path, const std::string& prefix) {
#ifdef KCORE_HAVE_DLOPEN
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_blas.sgemm) {
    if (path == g_path) return;
    throw std::runtime_error("load_blas: a BLAS is already loaded from " + g_path);
  }
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw std::runtime_error("load_blas: cannot open " + path + ": " + dlerror());
  auto sym = [&](const char* name) {
    void* p = dlsym(handle, (prefix + name).c_str());
    if (!p) {
      dlclose(handle);
      throw std::runtime_error("load_blas: " + path + " has no symbol " + prefix + name);
    }
    return p;
  };
  auto sgemm = reinterpret_cast<SgemmFn>(sym("cblas_sgemm"));
  auto dgemm = reinterpret_cast<DgemmFn>(sym("cblas_dgemm"));
  auto get_threads = reinterpret_cast<int (*)()>(sym("openblas_get_num_threads"));
  auto set_threads = reinterpret_cast<void (*)(int)>(sym("openblas_set_num_threads"));
  set_threads(1);
  g_blas = Blas{sgemm, dgemm, get_threads, set_threads};
  g_path = path;
  if (g_enabled.load()) g_active.store(&g_blas);
#else
  (void)prefix;
  throw std::runtime_error("load_blas: run-time loading is not supported on this platform (" + path + ")");
#endif
}

void set_blas_enabled(bool enabled) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_enabled.store(enabled);
  g_active.store(enabled && g_blas.sgemm ? &g_blas : nullptr);
}

const Blas* blas() { return g_active.load(std::memory_order_acquire); }

void set_blas_min_dim(std::int64_t n) { g_min_dim.store(n, std::memory_order_relaxed); }

std::int64_t default_blas_min_dim() { return tuning::kBlasMinDim; }

std::int64_t blas_min_dim() {
  const std::int64_t n = g_min_dim.load(std::memory_order_relaxed);
  return n >= 0 ? n : default_blas_min_dim();
}

namespace {
std::atomic<std::uint64_t> g_products{0};
}  // namespace

void count_blas_product() { g_products.fetch_add(1, std::memory_order_relaxed); }
std::uint64_t blas_products() { return g_products.load(std::memory_order_relaxed); }

std::string blas_path() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_path;
}

}  // namespace kcore
