/*
 * epoch_csr.c -- the CSR (sparse rows) training epoch: instantiates the loop
 * of csr_impl.h for float/double values x int32/int64 indices. The loss,
 * optimizer and schedule math is that of losses.h, optim.h and schedules.h;
 * the lazy catch-up of features absent from a step is lazy.h. The
 * multinomial (softmax) model's CSR epoch is csr_multinomial_impl.h.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#endif

#include "fastgd.h"
#include "fastgd_csr.h"
#include "epoch_multinomial.h"
#include "losses.h"
#include "schedules.h"
#include "optim.h"
#include "lazy.h"
#include "omp_shim.h"
#include "epoch_common.h"

/* The fused batch-1 loop of plain SGD is kept out of the epoch function:
 * inlined there it measured about 5% slower (200k x 100k, batch 1,
 * interleaved runs, 0.069 vs 0.075 s per epoch), presumably as it then
 * shares registers and layout with the general loop around it. */
#if defined(__GNUC__)
#define FGD_NOINLINE __attribute__((noinline))
#else
#define FGD_NOINLINE
#endif

/* Below this weight scale (plain SGD with L2), fold it into the weights. */
#define FGD_MIN_SCALE 1e-9
/* The same when averaging: v S - u (csr_sgd_rows) cancels digits as v grows
 * like 1 / scale; folding at 1e-4 keeps the sums' rounding near 1e4 eps of
 * the weights (1e-9 measured 1.4e-10 relative error on the average when the
 * scale halved at every step). */
#define FGD_MIN_SCALE_AVG 1e-4
/* Upper bound on threads, so per-thread sums live on the stack. */
#define FGD_MAX_THREADS 256
/* How many rows ahead plain SGD prefetches the weights a row reads and
 * writes, into which cache (__builtin_prefetch locality; 1: L2), and above
 * which size of the weights (below it they stay in L2 anyway, and the
 * prefetches only cost instructions). Measured on 200k rows of 100 values,
 * epoch of the batch-1 loop, shuffled: 1M features 0.149 -> 0.086 s, 250k
 * 0.076 -> 0.071 s, 150k 0.068 -> 0.065 s, 100k (800 KB) no change, and in
 * row order 15% slower at 100k; 4 or 8 rows ahead, or into L1, were slower
 * (the later rows' column indices are not in cache yet). */
#ifndef FGD_CSR_WPF_BYTES
#define FGD_CSR_WPF_BYTES (1 << 20)
#endif
#ifndef FGD_CSR_WAHEAD
#define FGD_CSR_WAHEAD 2
#endif
/* Whether plain SGD's loops (csr_sgd_rows, csr_hogwild_scaled) take that
 * prefetch of the weights on this CPU. The figures above are AMD Zen 4's.
 * On Zen 5 (AMD family 1Ah) the same prefetches made those epochs 8-12%
 * slower (2M x 1M and 200k x 1M, shuffled and in blocks: benchmarks/
 * README.md, session 13): its larger out-of-order window overlaps a row's
 * weight misses by itself, and the prefetches only compete with the rows'
 * own for the core's outstanding misses. Other CPUs keep the prefetch. */
int fgd_csr_weight_prefetch(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    unsigned a, b, c, d, family;
    if (!__get_cpuid(0, &a, &b, &c, &d) || b != 0x68747541u /* "Auth"enticAMD */ ||
        !__get_cpuid(1, &a, &b, &c, &d))
        return 1;
    family = (a >> 8) & 0xfu;
    if (family == 0xfu) family += (a >> 20) & 0xffu;
    return family < 0x1au;
#else
    return 1;
#endif
}
#ifndef FGD_CSR_WLOC
#define FGD_CSR_WLOC 1
#endif
/* Plain SGD's chunks of fewer than d / FGD_GSUM_FEW stored values sum
 * their gradients per value (csr_impl.h: csr_gsum_mode). */
#ifndef FGD_GSUM_FEW
#define FGD_GSUM_FEW 16
#endif

/* How far ahead in a shuffled order the rows are prefetched. */
#ifndef FGD_CSR_PREFETCH
#define FGD_CSR_PREFETCH 4
#endif

#define REAL double
#define FGD_CSR_DENSE_STEP fgd_dense_step_range_f64
#define FGD_CSR_MN_DENSE_STEP fgd_mn_step_range_f64
#define INDEX int32_t
#define SFX f64_i32
#include "csr_impl.h"
#include "csr_multinomial_impl.h"
#undef INDEX
#undef SFX
#define INDEX int64_t
#define SFX f64_i64
#include "csr_impl.h"
#include "csr_multinomial_impl.h"
#undef INDEX
#undef SFX
#undef REAL
#undef FGD_CSR_DENSE_STEP
#undef FGD_CSR_MN_DENSE_STEP

#define REAL float
#define FGD_CSR_DENSE_STEP fgd_dense_step_range_f32
#define FGD_CSR_MN_DENSE_STEP fgd_mn_step_range_f32
#define INDEX int32_t
#define SFX f32_i32
#include "csr_impl.h"
#include "csr_multinomial_impl.h"
#undef INDEX
#undef SFX
#define INDEX int64_t
#define SFX f32_i64
#include "csr_impl.h"
#include "csr_multinomial_impl.h"
#undef INDEX
#undef SFX
#undef REAL
#undef FGD_CSR_DENSE_STEP
#undef FGD_CSR_MN_DENSE_STEP

/* The typed instance of `fn` for (is_f32, is_i64), the pointer arguments
 * cast to its types by FGD_CSR_ARGS(REAL, INDEX). */
#define FGD_CSR_PICK(fn, ARGS)                                                  \
    (is_f32 ? (is_i64 ? fn##_f32_i64(ARGS(float, int64_t))                      \
                      : fn##_f32_i32(ARGS(float, int32_t)))                     \
            : (is_i64 ? fn##_f64_i64(ARGS(double, int64_t))                     \
                      : fn##_f64_i32(ARGS(double, int32_t))))

int fgd_epoch_csr_any(int is_f32, int is_i64, const void *data, const void *indices,
                      const void *indptr, int64_t n, int64_t d, const double *y,
                      const double *sw, const int64_t *order, void *params, void *state,
                      double *gsum, void *avg, const fgd_config *cfg, int64_t t0,
                      const fgd_csr_scratch *scratch, fgd_stats *stats)
{
#define FGD_CSR_ARGS(R, I)                                                          \
    (const R *)data, (const I *)indices, (const I *)indptr, n, d, y, sw, order,    \
        (R *)params, (R *)state, gsum, (R *)avg, cfg, t0, scratch, stats
    return FGD_CSR_PICK(fgd_epoch_csr, FGD_CSR_ARGS);
#undef FGD_CSR_ARGS
}

int fgd_epoch_csr_multinomial_any(int is_f32, int is_i64, const void *data,
                                  const void *indices, const void *indptr, int64_t n,
                                  int64_t d, int64_t K, const double *y, const double *sw,
                                  const int64_t *order, void *params, void *state,
                                  double *gsum, void *avg, const fgd_config *cfg, int64_t t0,
                                  const fgd_csr_scratch *scratch, double *pbuf,
                                  fgd_stats *stats)
{
#define FGD_CSR_ARGS(R, I)                                                          \
    (const R *)data, (const I *)indices, (const I *)indptr, n, d, K, y, sw, order, \
        (R *)params, (R *)state, gsum, (R *)avg, cfg, t0, scratch, pbuf, stats
    return FGD_CSR_PICK(fgd_epoch_csr_multinomial, FGD_CSR_ARGS);
#undef FGD_CSR_ARGS
}
#undef FGD_CSR_PICK

int fgd_csr_lazy_table_rows(const fgd_config *cfg) { return fgd_lazy_table_rows(cfg); }

void fgd_csr_lazy_setup_closed(const fgd_config *cfg, int64_t t0, int64_t nsteps,
                               double *tables)
{
    fgd_lazy L;
    fgd_lazy_setup(&L, cfg, t0, nsteps, tables, 0);
    fgd_lazy_closed_sgd(&L, tables, 1);
}

int fgd_csr_lazy_mode(const fgd_config *cfg, int64_t t0, int64_t nsteps, double *tables)
{
    fgd_lazy L;
    fgd_lazy_setup(&L, cfg, t0, nsteps, tables, 0);
    return L.mode * 2 + L.trunc;
}

int fgd_csr_lazy_replays(const fgd_config *cfg, int64_t t0, int64_t nsteps, double *tables)
{
    fgd_lazy L;
    fgd_lazy_setup(&L, cfg, t0, nsteps, tables, 0);
    return fgd_lazy_replays(&L, cfg->average_start >= 0);
}

int fgd_csr_dense_steps(const fgd_config *cfg, int64_t t0, int64_t nsteps, double *tables,
                        double fill)
{
    fgd_lazy L;
    if (cfg->batch_size <= 1) return 0;
    fgd_lazy_setup(&L, cfg, t0, nsteps, tables, 0);
    return fill >= fgd_lazy_dense_fill(&L, cfg);
}

int fgd_csr_lazy_catch_up(const fgd_config *cfg, int64_t t0, int64_t nsteps, double *tables,
                          double *w, double *s, double *gs, int64_t ta, int64_t tb,
                          int replay)
{
    fgd_lazy L;
    int closed_form;
    fgd_lazy_setup(&L, cfg, t0, nsteps, tables, 0);
    if (replay) {
        L.mode = FGD_LAZY_LOOP;
        L.trunc = 0;
    }
    closed_form = L.mode == FGD_LAZY_ADAGRAD_L2 || L.mode == FGD_LAZY_ADAM;
    return !(fgd_lazy_catch_up(&L, w, s, gs, ta, tb, NULL) && closed_form);
}
