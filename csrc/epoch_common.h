/*
 * epoch_common.h -- the bookkeeping every epoch loop shares (dense rows in
 * kernels_impl.h, CSR rows in csr_impl.h, softmax in multinomial_impl.h):
 * the averaged iterate and the stats an epoch reports.
 */
#ifndef FASTGD_EPOCH_COMMON_H
#define FASTGD_EPOCH_COMMON_H

#include <stdint.h>
#include "fastgd.h"

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

#endif /* FASTGD_EPOCH_COMMON_H */
