/*
 * epoch_common.h -- what every epoch loop shares (dense rows in
 * kernels_impl.h, CSR rows in csr_impl.h, softmax in multinomial_impl.h):
 * the mini-batch loop itself (fgd_run_batches), the averaged iterate and the
 * stats an epoch reports.
 */
#ifndef FASTGD_EPOCH_COMMON_H
#define FASTGD_EPOCH_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "fastgd.h"
#include "omp_shim.h"
#include "optim.h"
#include "schedules.h"

/* Upper bound on threads, so per-thread loss sums live on the stack. */
#ifndef FGD_MAX_THREADS
#define FGD_MAX_THREADS 256
#endif

/* Averaged SGD: fold the iterate after step number k into the running mean
 * of the iterates after step number `start`, for coordinates [lo, hi). */
#define FGD_DEFINE_AVERAGE_RANGE(REAL_T, NAME)                                   \
    static inline void NAME(const REAL_T *w, REAL_T *avg, int64_t lo, int64_t hi, \
                            int64_t k, int64_t start)                            \
    {                                                                            \
        int64_t j;                                                               \
        double inv;                                                              \
        if (k <= start) return;                                                  \
        inv = 1.0 / (double)(k - start);                                         \
        for (j = lo; j < hi; j++)                                                \
            avg[j] = (REAL_T)((double)avg[j] + ((double)w[j] - (double)avg[j]) * inv); \
    }
FGD_DEFINE_AVERAGE_RANGE(double, fgd_average_range_f64)
FGD_DEFINE_AVERAGE_RANGE(float, fgd_average_range_f32)
#undef FGD_DEFINE_AVERAGE_RANGE

/* What an epoch from step t0 to step t reports. */
static inline void fgd_finish_stats(fgd_stats *stats, double loss_sum, double weight_sum,
                                    int64_t t0, int64_t t, double lr_last, int nonfinite)
{
    stats->loss_sum = loss_sum;
    stats->weight_sum = weight_sum;
    stats->t = t;
    stats->n_steps = t - t0;
    stats->lr_last = lr_last;
    stats->nonfinite = nonfinite;
    stats->end_sums = 0;
}

/*
 * The end sums of an epoch (fgd_stats: coef_sq, coef_abs, gsum_sq), taken
 * in a loop's last pass over the d coordinates where the caller asked for
 * them (cfg->end_sums). FGD_SIMD_SUMS(sums...) before that loop lets the
 * compiler add the sums in vector lanes (OpenMP's simd reduction):
 * in one order for a given build, as the model's own bits are; without it
 * the sums were a chain of dependent adds, 3x slower than the pass itself.
 * Like NumPy's sums (which they replace), their last bits may differ
 * between builds for other instruction sets; the weights do not.
 */
/* Whether the floating type T (a loop's REAL) is float: a constant the
 * compiler folds, for the few steps float32 must take differently. */
#define FGD_IS_F32(T) (sizeof(T) == sizeof(float))

#if defined(_OPENMP)
#define FGD_PRAGMA(x) _Pragma(#x)
#define FGD_SIMD_SUMS(...) FGD_PRAGMA(omp simd reduction(+:__VA_ARGS__))
#else
#define FGD_SIMD_SUMS(...)
#endif

/* Store the sums into *out (end_sums = 1), with the intercept's gradient
 * gsum[d], which is then cleared as the coordinates' were. */
static inline void fgd_end_sums(double coef_sq, double coef_abs, double gsum_sq,
                                double *gsum, int64_t d, fgd_stats *out)
{
    out->coef_sq = coef_sq;
    out->coef_abs = coef_abs;
    out->gsum_sq = gsum_sq + gsum[d] * gsum[d];
    gsum[d] = 0.0;
    out->end_sums = 1;
}

/* The same from per-thread partial sums, added in thread order (fixed: the
 * same thread count gives the same bits). */
static inline void fgd_finish_thread_stats(fgd_stats *stats, const double *tloss,
                                           const double *tweight, int nthreads, int64_t t0,
                                           int64_t t, double lr_last, int nonfinite)
{
    double loss_sum = 0.0, weight_sum = 0.0;
    int k;
    for (k = 0; k < nthreads; k++) {
        loss_sum += tloss[k];
        weight_sum += tweight[k];
    }
    fgd_finish_stats(stats, loss_sum, weight_sum, t0, t, lr_last, nonfinite);
}

/*
 * The two phases of a mini-batch step that differ between models; the loop
 * around them is fgd_run_batches. ctx is the model's own data.
 */
typedef struct fgd_batch_ops {
    /* Phase 1, thread tid of nt: rows [r0, r1) of the batch starting at
     * position `start` of the order. Adds their gradient to the thread's
     * own buffer and their weighted loss and weight to *loss and *weight;
     * returns 1 if a margin or a loss is not finite (the epoch stops). */
    int (*rows)(void *ctx, int tid, int nt, int64_t start, int64_t r0, int64_t r1,
                double *loss, double *weight);
    /* Phase 2: coordinates [lo, hi) of n_coords. Sums the nt buffers in
     * thread order and scales by inv_m (the mean over the batch's rows),
     * applies the optimizer at step size lr with per-step constants pc,
     * zeroes the buffers, and folds the iterate after step number t into
     * the average when averaging. */
    void (*update)(void *ctx, int nt, int64_t lo, int64_t hi, double inv_m, double lr,
                   const double *pc, int64_t t);
    void *ctx;
    int64_t n_coords;
    /* the per-thread gradient buffers (scratch_bytes each, one after the
     * other), zeroed again when an epoch stops on a non-finite loss so that
     * the caller's next call starts from zero */
    void *scratch;
    size_t scratch_bytes;
} fgd_batch_ops;

/*
 * One epoch of mini-batches over the first n positions of `order` (rows in
 * storage order when order is NULL), from step t0, on c->n_threads threads
 * (at most FGD_MAX_THREADS). Inside one OpenMP parallel region (opened once
 * per epoch, not once per batch) each batch takes the two phases of `ops`,
 * each followed by a barrier: rows split into one contiguous slice per
 * thread, then coordinates split the same way. A batch whose sample weights
 * sum to zero takes no step; a non-finite loss or margin stops the epoch
 * (stats->nonfinite) with the scratch buffers zeroed. Loss and weight sums are added in thread order,
 * so the same thread count gives the same bits. Nothing here allocates.
 */
static inline void fgd_run_batches(const fgd_config *c, int64_t n, const int64_t *order,
                                   const double *sw, int64_t t0, const fgd_batch_ops *ops,
                                   fgd_stats *stats)
{
    const int64_t B = c->batch_size, P = ops->n_coords;
    const int64_t nb = (n + B - 1) / B;
    double tloss[FGD_MAX_THREADS], tweight[FGD_MAX_THREADS];
    int nthreads = c->n_threads, abort_flag = 0, k;
    int64_t t_end = t0;
    double lr_last = 0.0;
    fgd_barrier bar = FGD_BARRIER_INIT;

    if (nthreads < 1) nthreads = 1;
    if (nthreads > FGD_MAX_THREADS) nthreads = FGD_MAX_THREADS;
    for (k = 0; k < FGD_MAX_THREADS; k++) tloss[k] = tweight[k] = 0.0;

#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
#endif
    {
        const int tid = fgd_thread_num(), nt = fgd_num_threads();
        const int64_t c_lo = P * tid / nt, c_hi = P * (tid + 1) / nt;
        double my_loss = 0.0, my_weight = 0.0;
        int64_t t = t0, b, r;
        int sense = 0;
        for (b = 0; b < nb; b++) {
            const int64_t start = b * B, end = start + B < n ? start + B : n;
            const int64_t m = end - start;
            const int64_t r0 = start + m * tid / nt, r1 = start + m * (tid + 1) / nt;
            double batch_weight = 0.0;
            int stop;
            /* Every thread sums the batch's weights in the same order, so all
             * agree without a third barrier on whether the step happens. */
            if (sw) {
                for (r = start; r < end; r++) batch_weight += sw[order ? order[r] : r];
            } else {
                batch_weight = (double)m;
            }
            /* the cumulative L1's u for this step (coordinate P - 1 holds
             * it: the intercept's, which the penalty skips), written here and
             * read by every thread only after the barrier below */
            if (c->l1_cum && tid == 0 && batch_weight > 0.0)
                c->l1_cum[P - 1] += c->l1 * fgd_lr_at(c, t);
            if (ops->rows(ops->ctx, tid, nt, start, r0, r1, &my_loss, &my_weight)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                abort_flag = 1;
            }
            fgd_barrier_wait(&bar, nt, &sense);
#ifdef _OPENMP
#pragma omp atomic read
#endif
            stop = abort_flag;
            if (stop) break;
            if (batch_weight > 0.0) {
                const double lr = fgd_lr_at(c, t);
                double pc[2];
                fgd_step_constants(c->optimizer, c->hyper, lr, t + 1, pc);
                t++;
                ops->update(ops->ctx, nt, c_lo, c_hi, 1.0 / (double)m, lr, pc, t);
                if (tid == 0) lr_last = lr;
            }
            fgd_barrier_wait(&bar, nt, &sense);
        }
        tloss[tid] = my_loss;
        tweight[tid] = my_weight;
        if (tid == 0) t_end = t;
    }
    fgd_finish_thread_stats(stats, tloss, tweight, nthreads, t0, t_end, lr_last, abort_flag);
    if (abort_flag) memset(ops->scratch, 0, (size_t)nthreads * ops->scratch_bytes);
}

#endif /* FASTGD_EPOCH_COMMON_H */
