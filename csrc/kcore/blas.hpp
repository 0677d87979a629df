// An optional external BLAS for large float32/float64 products: OpenBLAS from the
// scipy-openblas32 wheel, opened at run time by path (so the build does not need it, and kcore
// still works with its own packed kernel when it is missing or disabled). kcore threads the
// calls itself and keeps the library single-threaded: no second thread pool spinning beside
// OpenMP's.
#pragma once
#include <cstdint>
#include <string>

namespace kcore {

// CBLAS row-major entry points (32-bit integers: callers check the sizes fit).
using SgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a,
                         int lda, const float* b, int ldb, float beta, float* c, int ldc);
using DgemmFn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, double alpha, const double* a,
                         int lda, const double* b, int ldb, double beta, double* c, int ldc);
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;

struct Blas {
  SgemmFn sgemm;
  DgemmFn dgemm;
  int (*get_threads)();
  void (*set_threads)(int);
  // Before a product's calls: the library back to one thread where something else in the process
  // (threadpoolctl's threadpool_limits sets every OpenBLAS it finds) gave it more; otherwise each
  // of kcore's threads would start the library's pool on the same cores.
  void keep_single_threaded() const {
    if (get_threads() != 1) set_threads(1);
  }
};

// Opens the library at `path` and resolves `prefix`cblas_sgemm/dgemm and
// `prefix`openblas_get/set_num_threads. Throws std::runtime_error naming what failed.
void load_blas(const std::string& path, const std::string& prefix);
void set_blas_enabled(bool enabled);
const Blas* blas();        // nullptr when none is loaded or it is disabled
std::string blas_path();   // "" when none is loaded

// Products go to the BLAS only when every dimension (M, N, K) exceeds blas_min_dim():
// default_blas_min_dim() (tuning::kBlasMinDim) unless set.
void set_blas_min_dim(std::int64_t n);
std::int64_t blas_min_dim();
std::int64_t default_blas_min_dim();

// Products the BLAS has computed since the process started (tests check the routing with it).
void count_blas_product();
std::uint64_t blas_products();

}  // namespace kcore
