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

/* Upper bound on threads, so per-thread loss sums live on the stack. */
#define FGD_MAX_THREADS 256
/* How far ahead in a shuffled order rows are prefetched. */
#define FGD_PREFETCH_ROWS 4

/* Run-time choice of instruction set for the hot leaf kernels (GCC/Clang on
 * x86-64 Linux): the build stays baseline x86-64, and AVX2/AVX-512 are used
 * where the running CPU has them. The kernels' summation order does not
 * depend on the vector width, so every clone returns the same bits. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FGD_NO_DISPATCH)
#define FGD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define FGD_HAVE_DISPATCH 1
#else
#define FGD_CLONES
#define FGD_HAVE_DISPATCH 0
#endif

static inline void fgd_prefetch_row(const void *row, int64_t nbytes)
{
#if defined(__GNUC__)
    const char *p = (const char *)row;
    int64_t off;
    for (off = 0; off < nbytes; off += 64) __builtin_prefetch(p + off, 0, 0);
#else
    (void)row;
    (void)nbytes;
#endif
}

#define REAL double
#define SFX f64
#define FGD_LANES 16
#include "kernels_impl.h"
#undef REAL
#undef SFX
#undef FGD_LANES

#define REAL float
#define SFX f32
#define FGD_LANES 32
#include "kernels_impl.h"
#undef REAL
#undef SFX
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

/* ---- small exported helpers ------------------------------------------- */

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
