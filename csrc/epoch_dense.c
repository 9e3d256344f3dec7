/*
 * epoch_dense.c -- the compiled training core: instantiates the dense epoch
 * loop of kernels_impl.h for float and double, plus the seeded epoch order
 * and the small exported helpers the tests and show_config() use.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fastgd.h"
#include "losses.h"
#include "optim.h"
#include "schedules.h"
#include "omp_shim.h"
#include "epoch_common.h"
#include "prefetch.h"
#include "dispatch.h"

/* Coordinates per run of an optimizer rule (a double buffer on the stack). */
#define FGD_CHUNK 256

/* Leaf kernels are inlined into the dispatched loops, so that each clone
 * gets its own vector code and no call per row goes through the resolver. */
#if defined(__GNUC__)
#define FGD_INLINE static inline __attribute__((always_inline))
#else
#define FGD_INLINE static inline
#endif

/* fgd_loss_and_deriv over a group of FGD_GROUP margins (slots beyond the
 * group's rows hold y = p = 0): for the log-loss a loop the compiler turns
 * into SIMD code (same bits as one row at a time). */
#define FGD_GROUP 8
FGD_INLINE void fgd_loss_group(int loss, double eps, const double *y, const double *p,
                                  double *l, double *dl)
{
    int k;
    if (loss == FGD_LOG_LOSS) {
        for (k = 0; k < FGD_GROUP; k++) {
            double sig;
            l[k] = fgd_logistic(y[k] * p[k], &sig);
            dl[k] = -y[k] * sig;
        }
    } else {
        for (k = 0; k < FGD_GROUP; k++) l[k] = fgd_loss_and_deriv(loss, eps, y[k], p[k], &dl[k]);
    }
}

#define REAL double
#define SFX f64
#define FGD_REAL_IS_FLOAT 0
#define FGD_LANES 16
#include "kernels_impl.h"
#undef REAL
#undef SFX
#undef FGD_REAL_IS_FLOAT
#undef FGD_LANES

#define REAL float
#define SFX f32
#define FGD_REAL_IS_FLOAT 1
#define FGD_LANES 32
#include "kernels_impl.h"
#undef REAL
#undef SFX
#undef FGD_REAL_IS_FLOAT
#undef FGD_LANES

/* ---- seeded epoch order ------------------------------------------------ */

static inline uint64_t fgd_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* High 64 bits of a 64x64-bit product, portably. */
static inline uint64_t fgd_mulhi64(uint64_t a, uint64_t b)
{
#if defined(__SIZEOF_INT128__)
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
#else
    uint64_t a_lo = (uint32_t)a, a_hi = a >> 32, b_lo = (uint32_t)b, b_hi = b >> 32;
    uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
    uint64_t mid = (p0 >> 32) + (uint32_t)p1 + (uint32_t)p2;
    return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
#endif
}

void fgd_epoch_order(int64_t *order, int64_t n, uint64_t seed)
{
    uint64_t state = seed;
    int64_t i;
    for (i = 0; i < n; i++) order[i] = i;
    for (i = n - 1; i > 0; i--) {
        const int64_t j = (int64_t)fgd_mulhi64(fgd_splitmix64(&state), (uint64_t)(i + 1));
        const int64_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

/* Block shuffle: the contiguous blocks [k*block, min((k+1)*block, n)) are
 * visited in the seeded order fgd_epoch_order gives to the nb = ceil(n/block)
 * block indices, rows in order within a block (sequential memory access).
 * No scratch memory: the block permutation is built in the last nb slots of
 * `order` and expanded from the front. Every block holds at least one row,
 * so after expanding blocks 0..k at most n - nb + k slots are written: the
 * entries k+1.. of the permutation are read before they are overwritten. */
void fgd_epoch_order_blocks(int64_t *order, int64_t n, int64_t block, uint64_t seed)
{
    int64_t nb, k, pos = 0;
    if (n <= 0) return;
    if (block < 1) block = 1;
    nb = n / block + (n % block != 0);
    fgd_epoch_order(order + (n - nb), nb, seed);
    for (k = 0; k < nb; k++) {
        const int64_t lo = order[n - nb + k] * block;
        const int64_t hi = lo + block < n ? lo + block : n;
        int64_t r;
        for (r = lo; r < hi; r++) order[pos++] = r;
    }
}

/* ---- streaming read, the bandwidth yardstick of the benchmarks ---------- */

FGD_CLONES static uint64_t fgd_read_words(const uint64_t *p, int64_t n)
{
    uint64_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    int k;
    for (; i + 8 <= n; i += 8)
        for (k = 0; k < 8; k++) acc[k] += p[i + k];
    for (; i < n; i++) acc[0] += p[i];
    for (k = 1; k < 8; k++) acc[0] += acc[k];
    return acc[0];
}

uint64_t fgd_stream_read(const void *data, int64_t nbytes, int n_threads)
{
    const uint64_t *p = (const uint64_t *)data;
    const int64_t n = nbytes / 8;
    uint64_t total = 0;
    if (n_threads < 1) n_threads = 1;
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) reduction(+ : total) if (n_threads > 1)
#endif
    {
        const int tid = fgd_thread_num(), nt = fgd_num_threads();
        const int64_t lo = n * tid / nt, hi = n * (tid + 1) / nt;
        total += fgd_read_words(p + lo, hi - lo);
    }
    return total;
}

/* ---- small exported helpers ------------------------------------------- */

#define FGD_DEFINE_COPY_SUMS(REAL_T, NAME)                                              \
    void NAME(const REAL_T *src, REAL_T *dst, int64_t n, int64_t m, double *sq,          \
              double *sabs)                                                             \
    {                                                                                   \
        double s2 = 0.0, s1 = 0.0;                                                      \
        int64_t j;                                                                      \
        if (m > n) m = n;                                                               \
        FGD_SIMD_SUMS(s2, s1)                                                           \
        for (j = 0; j < m; j++) {                                                       \
            const double v = (double)src[j];                                            \
            s2 += v * v;                                                                \
            s1 += fabs(v);                                                              \
            dst[j] = src[j];                                                            \
        }                                                                               \
        for (j = m; j < n; j++) dst[j] = src[j];                                        \
        *sq = s2;                                                                       \
        *sabs = s1;                                                                     \
    }
FGD_DEFINE_COPY_SUMS(double, fgd_copy_sums_f64)
FGD_DEFINE_COPY_SUMS(float, fgd_copy_sums_f32)
#undef FGD_DEFINE_COPY_SUMS

double fgd_schedule_lr(const fgd_config *cfg, int64_t t) { return fgd_lr_at(cfg, t); }

double fgd_loss_value(int loss, double param, double y, double p)
{
    return fgd_loss(loss, param, y, p);
}

double fgd_loss_deriv(int loss, double param, double y, double p)
{
    return fgd_dloss(loss, param, y, p);
}

static const char *const fgd_loss_names[FGD_N_LOSSES] = {
    "squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive",
    "log_loss", "hinge", "squared_hinge", "modified_huber", "perceptron"};
static const char *const fgd_optimizer_names[FGD_N_OPTIMIZERS] = {
    "sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "ftrl"};
static const char *const fgd_schedule_names[FGD_N_SCHEDULES] = {
    "constant", "invscaling", "optimal", "step", "exponential", "cosine"};

const char *fgd_loss_name(int code)
{
    return code >= 0 && code < FGD_N_LOSSES ? fgd_loss_names[code] : "";
}
const char *fgd_optimizer_name(int code)
{
    return code >= 0 && code < FGD_N_OPTIMIZERS ? fgd_optimizer_names[code] : "";
}
const char *fgd_schedule_name(int code)
{
    return code >= 0 && code < FGD_N_SCHEDULES ? fgd_schedule_names[code] : "";
}

int fgd_have_openmp(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fgd_max_threads(void) { return fgd_omp_max_threads(); }

const char *fgd_simd_dispatch(void)
{
#if FGD_HAVE_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("avx2")) return "avx2";
    return "baseline (x86-64)";
#else
    return "baseline (no run-time dispatch on this platform)";
#endif
}
