/*
 * epoch_multinomial.h -- multinomial (softmax cross-entropy) epochs over
 * dense rows: K margins per row, one model of K columns.
 *
 * The model is stored as (d+1) x K, row-major: params[j*K + k] is the
 * weight of feature j for class k, params[d*K + k] the intercept of class k.
 * Optimizer state and gradient buffers use the same flat layout, so the
 * per-coordinate rules of optim.h apply unchanged.
 *
 * For row x with label c (0..K-1) and margins p = x W + b:
 *   loss   = logsumexp(p) - p_c
 *   dloss  = softmax(p) - onehot(c)        (one value per class)
 */
#ifndef FASTGD_EPOCH_MULTINOMIAL_H
#define FASTGD_EPOCH_MULTINOMIAL_H

#include <stdint.h>
#include "fastgd.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One epoch of mini-batch steps on the softmax cross-entropy.
 *
 * n        rows visited: the length of order, or of X when order is NULL
 * X        rows of d values, row i at X + i*d
 * y        class index (as a double, 0..K-1) of every row of X
 * sw       sample weight of every row of X (divided by their mean), or NULL
 * order    n row indices giving the visiting order (possibly a subset of
 *          the rows, in bounds: checked by the caller), or NULL for 0..n-1
 * params   (d+1) x K model, updated in place
 * state    3 x ((d+1) K) optimizer state, updated in place
 * gbuf     n_threads x ((d+1) K) scratch, zero on entry (left zero)
 * pbuf     n_threads x K doubles of scratch for the margins
 * gsum     (d+1) K doubles: the epoch's mini-batch gradients are added here
 * avg      (d+1) K running average of the iterates, or NULL
 * cfg      the loss field is ignored (always softmax cross-entropy)
 * Returns 0, or -1 on an invalid config or label.
 */
int fgd_epoch_multinomial_f64(const double *X, int64_t n, int64_t d, int64_t K,
                              const double *y, const double *sw, const int64_t *order,
                              double *params, double *state, double *gbuf, double *pbuf,
                              double *gsum, double *avg, const fgd_config *cfg, int64_t t0,
                              fgd_stats *stats);
int fgd_epoch_multinomial_f32(const float *X, int64_t n, int64_t d, int64_t K,
                              const double *y, const double *sw, const int64_t *order,
                              float *params, float *state, float *gbuf, double *pbuf,
                              double *gsum, float *avg, const fgd_config *cfg, int64_t t0,
                              fgd_stats *stats);

/*
 * Phase 2 of a multinomial mini-batch step for flat coordinates [lo, hi)
 * of the (d+1) x K model: sum the nt buffers of gbuf (nt x (d+1) K) in
 * thread order, scale by inv_m, penalize the coefficients, apply the
 * optimizer, zero the buffers, add to gsum, and fold the iterate after step
 * number t into avg (when averaging). The CSR softmax epoch's dense steps
 * (fastgd_csr.h) take their updates here.
 */
void fgd_mn_step_range_f64(const fgd_config *cfg, double *params, double *state,
                           double *gbuf, double *gsum, double *avg, int nt, int64_t d,
                           int64_t K, int64_t lo, int64_t hi, double inv_m, double lr,
                           const double *pc, int64_t t);
void fgd_mn_step_range_f32(const fgd_config *cfg, float *params, float *state, float *gbuf,
                           double *gsum, float *avg, int nt, int64_t d, int64_t K,
                           int64_t lo, int64_t hi, double inv_m, double lr,
                           const double *pc, int64_t t);

#ifdef __cplusplus
}
#endif
#endif /* FASTGD_EPOCH_MULTINOMIAL_H */
