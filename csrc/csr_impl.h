/*
 * csr_impl.h -- the CSR epoch loop, written once and instantiated by
 * epoch_csr.c for REAL in {double, float} x INDEX in {int32_t, int64_t}
 * (SFX names the pair, e.g. f64_i32).
 *
 * One step (mini-batch B at step t):
 *   1. for each row of B (weight != 0), for each stored entry (j, x_ij):
 *      if column j is not yet in this step's list, bring it up to date
 *      (lazy.h: apply the steps last[j] .. t-1 in which it had no gradient),
 *      mark it (last[j] = t + 1) and list it; accumulate the margin.
 *      Then the loss derivative, and the gradient into gacc[j].
 *   2. for each listed column: the dense loop's coordinate step
 *      (fgd_coord_step: penalty, rule, L1 prox) with its gradient; the
 *      intercept likewise.
 * At the end of the epoch every column is brought up to date, so the model
 * Python sees is complete. The work per step is proportional to the batch's
 * stored entries, plus the catch-up of lazy.h (O(1) per column except in
 * LOOP mode).
 *
 * Plain SGD with a penalty (lazy mode SCALED) keeps w = scale * v: params
 * holds v during the epoch, L2 multiplies the global scale by 1 - lr l2, and
 * L1 adds lr l1 / scale to a cumulative threshold U; a column's v is
 * soft-thresholded by U - snap[j] when it is next touched. When the scale
 * falls below FGD_MIN_SCALE every column is folded back (w = scale * v) and
 * the scale restarts at 1.
 */

#define FGD_CAT_(a, b) a##_##b
#define FGD_CAT(a, b) FGD_CAT_(a, b)
#define FN(name) FGD_CAT(name, SFX)

#ifndef FGD_HOG_MOMENTS
#define FGD_HOG_MOMENTS   /* (this file is included once per SFX) */
/*
 * Hogwild! reads a coordinate's state while another thread may be writing
 * it, so a read can pair a new first moment with an old second one: at a
 * coordinate's first step (v = 0) Adam then steps by lr m / eps, and a probe
 * found a weight of -1.9e5 where the serial loop's was 1.1, the loss 1000
 * times the serial one (about one epoch of three in 300 on 2000 x 500, two
 * threads); centered RMSprop would take the root of square_avg - grad_avg^2
 * < 0. The serial iterates keep |m| <= K sqrt(v) (Cauchy-Schwarz over the
 * two averages from zero: K = (1 - b1) / sqrt((1 - b2)(1 - b1^2 / b2)) where
 * b1^2 < b2) and grad_avg^2 <= square_avg, so a pair outside twice that
 * bound for Adam, or outside it for centered RMSprop, is a torn read and is
 * brought back to the bound before the state is used. The serial loops
 * never reach it; this runs in Hogwild! only.
 *
 * Sets *mrow (the first moment's state row, or -1: nothing to check),
 * *vrow (the second moment's) and *k (the bound's factor).
 */
static void fgd_hog_moment_bound(const fgd_config *c, int *mrow, int *vrow, double *k)
{
    const double *h = c->hyper;
    *mrow = -1;
    *vrow = 0;
    *k = 0.0;
    if ((c->optimizer == FGD_ADAM || c->optimizer == FGD_ADAMW) && h[0] >= 0.0 &&
        h[1] < 1.0 && h[0] * h[0] < h[1]) {
        *mrow = 0;
        *vrow = 1;
        *k = 2.0 * (1.0 - h[0]) / sqrt((1.0 - h[1]) * (1.0 - h[0] * h[0] / h[1]));
    } else if (c->optimizer == FGD_RMSPROP && h[3] != 0.0) {   /* centered */
        *mrow = 1;
        *vrow = 0;
        *k = 1.0;
    }
}

/* Bring the first moment s[mrow] within k sqrt(s[vrow]) (see
 * fgd_hog_moment_bound), in the thread's own copy of the state. */
static inline void fgd_hog_repair(double *s, int mrow, int vrow, double k)
{
    const double lim = k * sqrt(s[vrow] > 0.0 ? s[vrow] : 0.0);
    if (fabs(s[mrow]) > lim) s[mrow] = s[mrow] > 0.0 ? lim : -lim;
}

#endif

/* Bring column j from step last[j] to step t, in the lazy mode of L; with
 * asum (averaged SGD), add the iterates of the averaged skipped steps to
 * asum[j]. mrow >= 0 (Hogwild!): the state, read once into this copy, is
 * repaired first (fgd_hog_repair). */
static inline void FN(csr_catch_up_checked)(const fgd_lazy *L, REAL *params, REAL *state,
                                            int64_t D, double *gsum, double *asum, int64_t j,
                                            int64_t ta, int64_t tb, int mrow, int vrow,
                                            double mk)
{
    double w, s[3] = {0.0, 0.0, 0.0};
    int k;
    if (ta >= tb || (L->mode == FGD_LAZY_IDENTITY && !asum)) return;
    w = (double)params[j];
    for (k = 0; k < L->ns; k++) s[k] = (double)state[k * D + j];
    if (mrow >= 0) fgd_hog_repair(s, mrow, vrow, mk);
    fgd_lazy_catch_up(L, &w, s, &gsum[j], ta, tb, asum ? &asum[j] : NULL);
    params[j] = (REAL)w;
    for (k = 0; k < L->ns; k++) state[k * D + j] = (REAL)s[k];
}

static inline void FN(csr_catch_up)(const fgd_lazy *L, REAL *params, REAL *state,
                                    int64_t D, double *gsum, double *asum, int64_t j,
                                    int64_t ta, int64_t tb)
{
    FN(csr_catch_up_checked)(L, params, state, D, gsum, asum, j, ta, tb, -1, 0, 0.0);
}

/*
 * Catch-ups deferred into lanes (fgd_lazy_replay_lanes) where the mode
 * replays every step: columns are added one by one and replayed eight at a
 * time; otherwise each is caught up at once, as csr_catch_up.
 */
typedef struct {
    int n, on;
    int64_t j[FGD_LAZY_LANES], ta[FGD_LAZY_LANES];
} FN(csr_lanes);

static inline void FN(csr_lanes_flush)(FN(csr_lanes) *ln, const fgd_lazy *L, REAL *params,
                                       REAL *state, int64_t D, double *gsum, int64_t tb)
{
    double w[FGD_LAZY_LANES], s[FGD_LAZY_LANES][3], gs[FGD_LAZY_LANES];
    int64_t ia[FGD_LAZY_LANES] = {0};
    int k, q;
    if (ln->n == 0) return;
    for (k = 0; k < ln->n; k++) {
        const int64_t j = ln->j[k];
        w[k] = (double)params[j];
        for (q = 0; q < 3; q++) s[k][q] = q < L->ns ? (double)state[q * D + j] : 0.0;
        gs[k] = gsum[j];
        ia[k] = ln->ta[k] - L->t0;
    }
    fgd_lazy_replay_lanes(L, ln->n, w, s, gs, ia, tb - L->t0);
    for (k = 0; k < ln->n; k++) {
        const int64_t j = ln->j[k];
        params[j] = (REAL)w[k];
        for (q = 0; q < L->ns; q++) state[q * D + j] = (REAL)s[k][q];
        gsum[j] = gs[k];
    }
    ln->n = 0;
}

static inline void FN(csr_lanes_add)(FN(csr_lanes) *ln, const fgd_lazy *L, REAL *params,
                                     REAL *state, int64_t D, double *gsum, double *asum,
                                     int64_t j, int64_t ta, int64_t tb)
{
    if (!ln->on || ta >= tb) {
        FN(csr_catch_up)(L, params, state, D, gsum, asum, j, ta, tb);
        return;
    }
    ln->j[ln->n] = j;
    ln->ta[ln->n++] = ta;
    if (ln->n == FGD_LAZY_LANES) FN(csr_lanes_flush)(ln, L, params, state, D, gsum, tb);
}

/* SCALED mode: bring v_j up to the cumulative L1 threshold U. */
static inline void FN(csr_catch_up_scaled)(const fgd_config *c, REAL *params, double *snap,
                                           int64_t j, double U)
{
    if (c->l1 > 0.0) {
        params[j] = (REAL)fgd_soft((double)params[j], U - snap[j]);
        snap[j] = U;
    }
}

/* SCALED mode: fold the scale back into every column (w = scale * v). */
static void FN(csr_fold_scale)(const fgd_config *c, REAL *params, double *snap, int64_t d,
                               double scale, double U)
{
    int64_t j;
    for (j = 0; j < d; j++) {
        double v = (double)params[j];
        if (c->l1 > 0.0) {
            v = fgd_soft(v, U - snap[j]);
            snap[j] = 0.0;
        }
        params[j] = (REAL)(scale * v);
    }
}

/* Averaged SGD, epoch start: avg (n coordinates) holds the mean of the
 * t0 - start iterates so far; asum gets their sum. */
static inline void FN(csr_average_begin)(const REAL *avg, double *asum, int64_t n, int64_t t0,
                                         int64_t start)
{
    const double m0 = t0 > start ? (double)(t0 - start) : 0.0;
    int64_t j;
    for (j = 0; j < n; j++) asum[j] = m0 * (double)avg[j];
}

/* Averaged SGD, epoch end at step t: the mean back into avg (unchanged
 * while no step after `start` was taken). */
static inline void FN(csr_average_end)(REAL *avg, const double *asum, int64_t n, int64_t t,
                                       int64_t start)
{
    int64_t j;
    if (t > start) {
        const double inv = 1.0 / (double)(t - start);
        for (j = 0; j < n; j++) avg[j] = (REAL)(asum[j] * inv);
    }
}

/* A row's margin without the intercept: the sum over its stored entries
 * [lo, hi) of data[q] w[indices[q]], in four interleaved partial sums added
 * as (s0 + s1) + (s2 + s3). With one running sum the loop waited on a chain
 * of dependent additions, one per stored value. Every binary CSR loop takes
 * its margins here (after its catch-ups), so all of them add in one order. */
static inline double FN(csr_row_dot)(const REAL *data, const INDEX *indices, int64_t lo,
                                     int64_t hi, const REAL *w)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t q = lo;
    for (; q + 4 <= hi; q += 4) {
        s0 += (double)data[q] * (double)w[indices[q]];
        s1 += (double)data[q + 1] * (double)w[indices[q + 1]];
        s2 += (double)data[q + 2] * (double)w[indices[q + 2]];
        s3 += (double)data[q + 3] * (double)w[indices[q + 3]];
    }
    for (; q < hi; q++) s0 += (double)data[q] * (double)w[indices[q]];
    return (s0 + s1) + (s2 + s3);
}

/* SCALED mode's L1 at batch 1 (csr_sgd_rows, csr_hogwild_scaled): each of
 * the row's v_j soft-thresholded up to the cumulative threshold U (by
 * U - snap[j], where positive: a Hogwild! thread behind snap[j] leaves it),
 * snap[j] = U, in the pass that takes the margin v . x, in csr_row_dot's
 * order and so with its bits. A column the row names twice is caught up at
 * its first entry; the second finds snap[j] = U. One pass instead of the
 * catch-ups' and then the margin's, one piece of code for both loops:
 * elastic net on 200k x 100k, Hogwild! on two threads 0.080-0.081 ->
 * 0.073-0.075 s; the serial loop within noise (0.083-0.088 s), its random
 * reads of v and snap, not the passes, being its cost. */
static inline double FN(csr_l1_caught_up)(REAL *w, double *snap, int64_t j, double U)
{
    const double behind = U - snap[j];
    if (behind > 0.0) {
        w[j] = (REAL)fgd_soft((double)w[j], behind);
        snap[j] = U;
    }
    return (double)w[j];
}

static inline double FN(csr_row_dot_l1)(const REAL *data, const INDEX *indices, int64_t lo,
                                        int64_t hi, REAL *w, double *snap, double U)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t q = lo;
    for (; q + 4 <= hi; q += 4) {
        s0 += (double)data[q] * FN(csr_l1_caught_up)(w, snap, (int64_t)indices[q], U);
        s1 += (double)data[q + 1] * FN(csr_l1_caught_up)(w, snap, (int64_t)indices[q + 1], U);
        s2 += (double)data[q + 2] * FN(csr_l1_caught_up)(w, snap, (int64_t)indices[q + 2], U);
        s3 += (double)data[q + 3] * FN(csr_l1_caught_up)(w, snap, (int64_t)indices[q + 3], U);
    }
    for (; q < hi; q++)
        s0 += (double)data[q] * FN(csr_l1_caught_up)(w, snap, (int64_t)indices[q], U);
    return (s0 + s1) + (s2 + s3);
}

/* The cumulative L1 penalty in csr_cum_rows (batch size 1). A weight that
 * is not zero owes nothing (its q is -u for a positive weight, u as of its
 * last step: fgd_l1_cum_catch_up's e0 = 0), so only a weight at zero keeps
 * its q in qcum[j] (read back only there, and written for every weight at
 * the end). Its catch-up is then csr_l1_caught_up's soft-threshold by
 * U - snap[j], unless it reaches zero: the tables then give the step that
 * clipped it (fgd_l1_cum_clip), from its last step, the first table index
 * from i0 (the last fold) with U = snap[j] (cU increases). ib: the current
 * table index. */
static inline double FN(csr_cum_caught_up)(REAL *w, double *snap, double *qcum,
                                           const fgd_lazy *L, int64_t j, double U, int64_t i0,
                                           int64_t ib)
{
    const double behind = U - snap[j];
    if (behind > 0.0) {
        const double v = (double)w[j];
        if (v != 0.0) {
            const double a = fabs(v), sgn = v > 0.0 ? 1.0 : -1.0;
            if (a > behind) {
                w[j] = (REAL)(sgn * (a - behind));
            } else {
                int64_t lo = i0, hi = ib;
                while (lo < hi) {
                    const int64_t m = lo + (hi - lo) / 2;
                    if (L->cU[m] >= snap[j]) hi = m;
                    else lo = m + 1;
                }
                qcum[j] = fgd_l1_cum_clip(a, sgn, 0.0, -sgn * L->cu[lo], L->cU, L->cu, L->cs,
                                          lo, ib);
                w[j] = 0;
            }
        }
        snap[j] = U;
    }
    return (double)w[j];
}

static inline double FN(csr_row_dot_cum)(const REAL *data, const INDEX *indices, int64_t lo,
                                         int64_t hi, REAL *w, double *snap, double *qcum,
                                         const fgd_lazy *L, double U, int64_t i0, int64_t ib)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t q = lo;
#define FGD_CUM_W(k) FN(csr_cum_caught_up)(w, snap, qcum, L, (int64_t)indices[k], U, i0, ib)
    for (; q + 4 <= hi; q += 4) {   /* csr_row_dot's order */
        s0 += (double)data[q] * FGD_CUM_W(q);
        s1 += (double)data[q + 1] * FGD_CUM_W(q + 1);
        s2 += (double)data[q + 2] * FGD_CUM_W(q + 2);
        s3 += (double)data[q + 3] * FGD_CUM_W(q + 3);
    }
    for (; q < hi; q++) s0 += (double)data[q] * FGD_CUM_W(q);
#undef FGD_CUM_W
    return (s0 + s1) + (s2 + s3);
}

/* csr_cum_rows: every column up to table
 * index ib, and (end) every weight's q explicit. */
static void FN(csr_cum_all_caught_up)(REAL *params, double *snap, double *qcum,
                                      const fgd_lazy *L, int64_t d, double U, int64_t i0,
                                      int64_t ib, int end)
{
    int64_t j;
    for (j = 0; j < d; j++) {
        const double v = FN(csr_cum_caught_up)(params, snap, qcum, L, j, U, i0, ib);
        if (end && v != 0.0) qcum[j] = v > 0.0 ? -L->cu[ib] : L->cu[ib];
    }
}

/* Prefetch the stored entries of a row visited soon (shuffled order). */
static inline void FN(csr_prefetch_row)(const REAL *data, const INDEX *indices,
                                        const INDEX *indptr, int64_t i)
{
#if defined(__GNUC__)
    /* every 64-byte line the row's entries touch, from the line holding
     * the first byte to the one holding the last (a row rarely starts on a
     * line boundary: stepping 64 bytes from its first byte can miss the
     * last line, which then costs a full memory latency in the loop).
     * Into L2, not L1 (locality 2): a row's ~20 lines fetched into L1
     * measured slower (0.118 vs 0.096 s per epoch, 200k x 100k shuffled),
     * presumably as they crowd the L1 miss buffers and the weights out. */
    const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
    const uintptr_t d0 = (uintptr_t)(data + lo) & ~(uintptr_t)63, d1 = (uintptr_t)(data + hi);
    const uintptr_t i0 = (uintptr_t)(indices + lo) & ~(uintptr_t)63, i1 = (uintptr_t)(indices + hi);
    uintptr_t a;
    for (a = d0; a < d1; a += 64) __builtin_prefetch((const void *)a, 0, 2);
    for (a = i0; a < i1; a += 64) __builtin_prefetch((const void *)a, 0, 2);
#else
    (void)data; (void)indices; (void)indptr; (void)i;
#endif
}

/*
 * The prefetches of a loop that visits positions r, r + stride, ... of the
 * order (stride: 1, or the thread count of the Hogwild! loops), at position
 * r: the stored entries (and y, sw) of the row FGD_CSR_PREFETCH visits
 * ahead, and the row pointer of the row 4 FGD_CSR_PREFETCH visits ahead,
 * which the first prefetch reads (not prefetches): a shuffled order's row
 * pointers miss the cache, and without this the loop waits for one at
 * every row (Hogwild! on 2 threads ran no faster than 1 thread).
 */
static inline void FN(csr_prefetch_rows)(const REAL *data, const INDEX *indices,
                                         const INDEX *indptr, const double *y,
                                         const double *sw, const int64_t *order, int64_t n,
                                         int64_t r, int64_t stride)
{
#if defined(__GNUC__)
    if (order && r + stride * FGD_CSR_PREFETCH < n) {
        const int64_t ia = order[r + stride * FGD_CSR_PREFETCH];
        FN(csr_prefetch_row)(data, indices, indptr, ia);
        __builtin_prefetch(y + ia, 0, 3);
        if (sw) __builtin_prefetch(sw + ia, 0, 3);
    }
    if (order && r + 4 * stride * FGD_CSR_PREFETCH < n)
        __builtin_prefetch(indptr + order[r + 4 * stride * FGD_CSR_PREFETCH], 0, 3);
#else
    (void)data; (void)indices; (void)indptr; (void)y; (void)sw; (void)order; (void)n;
    (void)r; (void)stride;
#endif
}

/*
 * The general loop's prefetches at position r of the order: the rows'
 * (csr_prefetch_rows), and with pf_cols the weights and step counters of
 * the columns of the row FGD_CSR_WAHEAD ahead (its entries are in cache by
 * then).
 */
static inline void FN(csr_prefetch_ahead)(const REAL *data, const INDEX *indices,
                                          const INDEX *indptr, const double *y,
                                          const double *sw, const int64_t *order, int64_t n,
                                          int64_t r, const REAL *params, const int64_t *last,
                                          int pf_cols)
{
    FN(csr_prefetch_rows)(data, indices, indptr, y, sw, order, n, r, 1);
#if defined(__GNUC__)
    if (pf_cols && r + FGD_CSR_WAHEAD < n) {
        const int64_t ia = order ? order[r + FGD_CSR_WAHEAD] : r + FGD_CSR_WAHEAD;
        const int64_t la = (int64_t)indptr[ia], ha = (int64_t)indptr[ia + 1];
        int64_t q;
        for (q = la; q < ha; q++) {
            __builtin_prefetch(params + indices[q], 1, FGD_CSR_WLOC);
            __builtin_prefetch(last + indices[q], 1, FGD_CSR_WLOC);
        }
    }
#else
    (void)params; (void)last; (void)pf_cols;
#endif
}

/*
 * How plain SGD at batch_size 1 (w = scale v, scale_r = prod_{k <= r}
 * (1 - lr_k l2) after step r) gets the epoch's summed gradient gsum without
 * adding to it at every stored entry:
 *   1  a constant step size and no L1: the summed gradient (loss and L2) of
 *      every coordinate is (w_start - w_end) / lr exactly;
 *   2  no L1, and the step on v, c_r = lr_r / scale_r, the same at every
 *      step r of the chunk (to 1e-10) though lr is not: v_j moves by
 *      -c dl x at each step, so the loss part of gsum_j is
 *      (v_start - v_end) / c (*ratio = c). That is the 'optimal' schedule
 *      1/(alpha (t0 + t)) with L2 of the same alpha: scale_r =
 *      (t0 + t_start - 1)/(t0 + t_r) falls exactly as lr does. Needs the
 *      scale to stay >= min_scale, the loop's fold threshold (no fold: a
 *      fold changes v's units; averaging folds from FGD_MIN_SCALE_AVG);
 *      Its L2 part is approximate (from v at the start and the end: see
 *      l2v, l2s at csr_sgd_rows' end): not taken where cfg->exact_gsum asks
 *      for the exact sum (gtol stops on it);
 *   0  otherwise: per entry; and also where the chunk's rows (at
 *      positions of `order`, or 0..n-1) hold fewer than d / FGD_GSUM_FEW
 *      stored values and mode 0 is as exact (not mode 1 with L2, whose L2
 *      part mode 0 approximates): a wide model trained in short chunks
 *      (partial_fit), where the two passes over all d coordinates that
 *      modes 1 and 2 take (a copy of v, then the difference) cost more than
 *      adding each value's gradient.
 */
static int FN(csr_gsum_mode)(const fgd_lazy *L, int64_t n, double l1, double l2,
                             double min_scale, const INDEX *indptr, const int64_t *order,
                             int64_t rows, int64_t d, int exact, double *ratio)
{
    double sc = 1.0;
    int64_t r, nnz = 0;
    int same = 1, mode = 2;
    if (l1 != 0.0 || n <= 0 || !(L->lr[0] > 0.0)) return 0;
    for (r = 1; r < n && same; r++) same = L->lr[r] == L->lr[0];
    if (same) {
        mode = 1;
    } else {
        if (!(l2 > 0.0) || exact) return 0;
        for (r = 0; r < n; r++) {
            double cr;
            sc *= 1.0 - L->lr[r] * l2;
            cr = L->lr[r] / sc;
            if (r == 0) *ratio = cr;
            if (!(sc >= min_scale && fabs(cr - *ratio) <= 1e-10 * *ratio)) return 0;
        }
    }
    if ((mode == 2 || l2 == 0.0) && rows < d / FGD_GSUM_FEW) {   /* counting costs < d / 16 */
        for (r = 0; r < rows; r++) {
            const int64_t i = order ? order[r] : r;
            nnz += (int64_t)indptr[i + 1] - (int64_t)indptr[i];
        }
        if (nnz < d / FGD_GSUM_FEW) return 0;
    }
    return mode;
}

/* The end of a run in SCALED mode (csr_sgd_rows, the general loop),
 * coordinate q: v's L1 catch-up, w = scale v stored,
 * and the coordinate's summed gradient (*g: gsum[q], its loss part from v
 * where ratio != 0, with the L2 part's start term l2s v_start, then the L2
 * part l2v v: from v, not the stored w, whose rounding times l2v / scale
 * (up to 1e9 near a fold) would swamp the exact sum's cancellations).
 * Returns w. No branch on l2v, so that the loops vectorize. */
static inline FGD_LAZY_ALWAYS_INLINE double FN(csr_scaled_end_coord)(
    REAL *params, double *snap, const double *gsum, int64_t q, double scale, double U,
    double l1, double l2v, double ratio, double l2s, double *g)
{
    double v = (double)params[q], gq = gsum[q];
    REAL w;
    if (ratio != 0.0) gq += (snap[q] - v) / ratio + l2s * snap[q];
    if (l1 > 0.0) {
        v = fgd_soft(v, U - snap[q]);
        snap[q] = 0.0;
    }
    params[q] = w = (REAL)(scale * v);
    *g = gq + l2v * v;   /* (l2v = 0: the same, but for the sign of a zero) */
    return (double)w;
}

/* csr_scaled_end_coord over all d coordinates, taking the end sums and
 * clearing gsum (cfg->end_sums). gsum is cleared by a store to every entry
 * (as the pass without the sums stores its value), not only where non-zero:
 * a branch would stop the vectorization. Always inlined, so that a caller's
 * constant l1 and ratio remove their branches. */
static inline FGD_LAZY_ALWAYS_INLINE void FN(csr_scaled_end_sums)(
    REAL *restrict params, double *restrict snap, double *restrict gsum, int64_t d,
    double scale, double U, double l1, double l2v, double ratio, double l2s, fgd_stats *end)
{
    double w2 = 0.0, wa = 0.0, g2 = 0.0;
    int64_t q;
    FGD_SIMD_SUMS(w2, wa, g2)
    for (q = 0; q < d; q++) {
        double g;
        const double w = FN(csr_scaled_end_coord)(params, snap, gsum, q, scale, U, l1, l2v,
                                                  ratio, l2s, &g);
        w2 += w * w;
        wa += fabs(w);
        g2 += g * g;
        gsum[q] = 0.0;
    }
    fgd_end_sums(w2, wa, g2, gsum, d, end);
}

/*
 * Plain SGD (lazy modes IDENTITY and SCALED; no L1 when batch_size > 1):
 * the rows' margins and updates are fused, without the column list and the
 * gradient accumulator of the general loop. w = scale * v as above. A
 * mini-batch takes its rows' margins first (the weights at the start of the
 * step), keeps their weighted loss derivatives / m in dlbuf (B doubles),
 * then adds each row's part of the gradient to v from the row itself, still
 * in cache: the general loop's step with the sum over rows taken in another
 * order (to rounding); at batch_size 1 the same operations as before the
 * batches existed. Returns the step counter after the rows; sets *abort on
 * a non-finite margin or loss.
 *
 * gsum per entry (csr_gsum_mode 0) without L1 takes its L2 part exactly,
 * at no cost per entry: the L2 gradients of steps k = 0..T-1 sum to
 * l2 sum_k s_k v_k (s_k, v_k before step k), which by parts is
 * l2 (v_T A_T - sum_k dv_k A_k) with A_k = s_0 + ... + s_k and dv_k step k's
 * change of v. So each entry adds dl x - l2 A_k dv (l2A: a factor per step).
 * In float32, dv is the change as stored: with the computed -lr_k dl x /
 * s_{k+1} instead, float32's rounding of the stored v came back times
 * A / scale (up to 1e9 before a fold), 89x the norm in a probe. In float64
 * the computed change (a factor on dl x per row: no cost per entry; the
 * stored form cost 8% per epoch) is as good as the dense path's own
 * rounding. The end adds l2 A v_T (from v, not the rounded w, for the same
 * reason). A mid-run fold adds l2 A v first and
 * restarts A (v changes units). Before, the end's l2 (steps) w_T stood for
 * it, 2.5x off in an epoch whose weights moved (the 'optimal' schedule).
 * With L1, and in ratio mode, that approximation stays (see above).
 *
 * Averaged SGD (asum not NULL; no L1): the sum of the iterates w_k = s_k v_k
 * over the averaged steps is v_j S - u_j with S the sum of their scales s_k
 * and u_j += dv_j S_before at each change of v_j (Xu 2011's trick, as in
 * scikit-learn's sparse averaged SGD): O(1) per stored entry, no catch-up.
 * On entry asum holds the sums so far (the epoch function's m0 avg), on
 * return the sums to this step; the intercept's are added step by step.
 */
FGD_NOINLINE static int64_t FN(csr_sgd_rows)(const REAL *data, const INDEX *indices,
                                             const INDEX *indptr, int64_t n, int64_t d,
                                             const double *y, const double *sw,
                                             const int64_t *order, REAL *params,
                                             REAL *state, double *gsum, const fgd_config *c,
                                             const fgd_lazy *L, int64_t t0, int64_t B,
                                             double *dlbuf, double *snap, double *asum,
                                             double *loss_sum, double *weight_sum,
                                             double *lr_last, int *abort, fgd_stats *end)
{
    const int64_t D = d + 1, nb = (n + B - 1) / B;
    const double l1 = c->l1, l2 = c->l2;
    double scale = 1.0, U = 0.0, ratio = 0.0, S = 0.0, A = 0.0, AS = 0.0;
    int64_t t = t0, q, b;
    const int gmode = FN(csr_gsum_mode)(L, nb, l1, l2, asum ? FGD_MIN_SCALE_AVG : FGD_MIN_SCALE,
                                        indptr, order, n, d, c->exact_gsum, &ratio);
    const int delta_gsum = gmode == 1, ratio_gsum = gmode == 2;
    /* gsum per entry without L1: its L2 part exactly (see above: l2A) */
    const int exact_l2 = gmode == 0 && l1 == 0.0 && l2 > 0.0;
    const int plain_intercept = c->fit_intercept && c->optimizer == FGD_SGD && c->hyper[0] == 0.0;
    const int pf_w = (double)d * sizeof(REAL) > FGD_CSR_WPF_BYTES && fgd_csr_weight_prefetch();
    fgd_loss_queue lq = {{0}};   /* the log-loss values wait here (fgd_row_loss) */
    int64_t r;
    if (delta_gsum || ratio_gsum)
        for (q = 0; q < d; q++) snap[q] = (double)params[q];
    if (asum)   /* u = -(the sums so far), S = 0 */
        for (q = 0; q < d; q++) asum[q] = -asum[q];
    for (b = 0; b < nb; b++) {
        const int64_t start = b * B, end = start + B < n ? start + B : n;
        const double inv_m = 1.0 / (double)(end - start);
        double batch_weight = 0.0, gb = 0.0, lr, thr = 0.0, l2A = 0.0;
        /* the margins and loss derivatives of the batch's rows */
        for (r = start; r < end; r++) {
            const int64_t i = order ? order[r] : r;
            const double s = sw ? sw[i] : 1.0;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            double p = 0.0, dl;
            /* the row FGD_CSR_PREFETCH ahead (with its y and sw) */
            FN(csr_prefetch_rows)(data, indices, indptr, y, sw, order, n, r, 1);
#if defined(__GNUC__)
            if (pf_w && r + FGD_CSR_WAHEAD < n) {   /* the weights a row visited soon uses */
                const int64_t ia = order ? order[r + FGD_CSR_WAHEAD] : r + FGD_CSR_WAHEAD;
                const int64_t la = (int64_t)indptr[ia], ha = (int64_t)indptr[ia + 1];
                for (q = la; q < ha; q++) __builtin_prefetch(params + indices[q], 1, FGD_CSR_WLOC);
            }
#endif
            dlbuf[r - start] = 0.0;
            batch_weight += s;
            if (s == 0.0) continue;
            if (l1 > 0.0) {   /* batch_size 1 only */
                p = FN(csr_row_dot_l1)(data, indices, lo, hi, params, snap, U);
            } else {
                if (!delta_gsum && !ratio_gsum) {
                    /* gsum[j] is read and written by the update below: start
                     * loading its line now, before the margin's gathers (into
                     * L2, locality 1: measured ~10% faster per epoch than
                     * into L1) */
#if defined(__GNUC__)
                    for (q = lo; q < hi; q++) __builtin_prefetch(gsum + indices[q], 1, 1);
#endif
                }
                p = FN(csr_row_dot)(data, indices, lo, hi, params);
            }
            p = scale * p + (double)params[d];
            if (!fgd_row_loss(c->loss, c->loss_param, y[i], p, s, &lq, loss_sum, &dl)) {
                *abort = 1;
                break;
            }
            dl *= s;
            *weight_sum += s;
            dlbuf[r - start] = dl * inv_m;
        }
        if (*abort) break;
        if (!(batch_weight > 0.0)) continue;   /* a batch of weight zero: no step */
        lr = L->lr[t - t0];
        /* w - lr (g + l2 w) = scale' v - lr g with scale' = scale (1 - lr l2) */
        A += scale;
        AS += A;   /* (ratio mode: see the end) */
        scale *= 1.0 - lr * l2;
        if (exact_l2) l2A = l2 * A;
        if (l1 > 0.0) {
            thr = l1 * lr / scale;
            U += thr;
        }
        /* the step: each row's part of the gradient, from the row */
        for (r = start; r < end; r++) {
            const double dl = dlbuf[r - start];
            int64_t i, lo, hi;
            double step, dlg;
            if (dl == 0.0) continue;
            i = order ? order[r] : r;
            lo = (int64_t)indptr[i];
            hi = (int64_t)indptr[i + 1];
            step = lr * dl / scale;
            dlg = dl * (1.0 + l2A * lr / scale);   /* (float64: the change as computed) */
            gb += dl;
            for (q = lo; q < hi; q++) {
                const int64_t j = (int64_t)indices[q];
                const double x = (double)data[q];
                double v = (double)params[j] - step * x;
                if (l1 > 0.0) {
                    v = fgd_soft(v, thr);
                    snap[j] = U;
                }
                if (!delta_gsum && !ratio_gsum)
                    gsum[j] += FGD_IS_F32(REAL) ? dl * x - l2A * ((double)(REAL)v
                                                                 - (double)params[j])
                                                : dlg * x;
                if (asum && S != 0.0) {
                    const REAL stored = (REAL)v;
                    asum[j] += ((double)stored - (double)params[j]) * S;
                }
                params[j] = (REAL)v;
            }
        }
        if (plain_intercept) {   /* fgd_coord_step of plain SGD, unpenalized, written out */
            gsum[d] += gb;
            params[d] = (REAL)((double)params[d] - lr * gb);
        } else if (c->fit_intercept) {
            const double pc[2] = {L->pc0[t - t0], L->pc1[t - t0]};
            double st[3] = {(double)state[d], (double)state[D + d], (double)state[2 * D + d]};
            params[d] = (REAL)fgd_coord_step(c, (double)params[d], gb, st, lr, pc, 0, &gsum[d]);
        }
        if (asum && t - t0 >= L->astart) {
            S += scale;
            asum[d] += (double)params[d];
        }
        t++;
        *lr_last = lr;
        if (scale < (asum ? FGD_MIN_SCALE_AVG : FGD_MIN_SCALE)) {
            if (asum) {   /* u in the units of v after the fold (scale 1) */
                for (q = 0; q < d; q++) asum[q] -= (double)params[q] * S;
                S = 0.0;
            }
            if (exact_l2) {   /* the L2 part so far, before v changes units */
                for (q = 0; q < d; q++) gsum[q] += l2 * A * (double)params[q];
                A = 0.0;
            }
            FN(csr_fold_scale)(c, params, snap, d, scale, U);
            scale = 1.0;
            U = 0.0;
        }
    }
    fgd_loss_queue_flush(&lq, loss_sum);
    if (!*abort) {
        if (asum)   /* the sums of the iterates: v S - u */
            for (q = 0; q < d; q++) asum[q] = (double)params[q] * S - asum[q];
        if (delta_gsum) {
            FN(csr_fold_scale)(c, params, snap, d, scale, U);
            for (q = 0; q < d; q++) gsum[q] += (snap[q] - (double)params[q]) / L->lr[0];
        } else {
            /* one pass: gsum's loss part from v (ratio_gsum, where l1 = 0 and
             * snap holds v at the start), csr_fold_scale, and the approximate
             * L2 part from w, as in the general loop (two or three passes
             * over all d before; on a wide model in short partial_fit chunks,
             * the default SGDClassifier's call: 2M features 6.2-6.5 -> 5.7-5.8
             * ms, 5M features 19.5-19.9 -> 17.7-17.9 ms). Written out: the
             * same pass as csr_fold_scale taking gsum's parts as arguments
             * measured 5-8% slower per call at 2M features.
             * With c->end_sums the same pass takes the end sums (fgd_end_sums)
             * and clears gsum instead of storing it. */
            /* the L2 part, l2v v: exact (l2 A v, the rest of the sum by
             * parts), or in ratio mode l2 ((A - Abar) v_end + Abar v_start),
             * the sum by parts with each step's change of v taken as the
             * run's mean change (Abar: the mean of the steps' A), or with L1
             * l2 (steps) w_end */
            const double Abar = t > t0 ? AS / (double)(t - t0) : 0.0;
            const double l2v = exact_l2 ? l2 * A
                               : ratio_gsum ? l2 * (A - Abar) : l2 * (double)(t - t0) * scale;
            const double l2s = ratio_gsum ? l2 * Abar : 0.0;
            if (c->end_sums) {
                /* without L1 or the ratio (wide partial_fit chunks): constants,
                 * a body without branches that the compiler vectorizes */
                if (l1 == 0.0 && !ratio_gsum)
                    FN(csr_scaled_end_sums)(params, snap, gsum, d, scale, U, 0.0, l2v, 0.0, 0.0,
                                            end);
                else
                    FN(csr_scaled_end_sums)(params, snap, gsum, d, scale, U, l1, l2v,
                                            ratio_gsum ? ratio : 0.0, l2s, end);
            } else {
                for (q = 0; q < d; q++)
                    FN(csr_scaled_end_coord)(params, snap, gsum, q, scale, U, l1, l2v,
                                             ratio_gsum ? ratio : 0.0, l2s, &gsum[q]);
            }
        }
    }
    return t;
}

/*
 * Plain SGD at batch size 1 with the cumulative L1 penalty (lazy mode
 * SCALED, no averaging): csr_sgd_rows' scheme, w = scale * v, with
 * csr_cum_caught_up's catch-up in the margin's pass and fgd_l1_cum_step
 * after each stored value's update; L.cU, L.cu and L.cs get each step's U,
 * u and scale. Its own loop rather than a branch in csr_sgd_rows: the
 * branches and the live values they add slowed csr_sgd_rows' L2 epoch (the
 * default) by 60% on 200,000 x 100,000. A row whose loss derivative is 0
 * updates nothing: its columns take the step's scale and penalty in their
 * next catch-up, as skipped steps. gsum's L2 part is approximated at the
 * end as with the proximal L1 (l2 (steps) w). Returns the step counter
 * after the rows; sets *abort on a non-finite margin or loss.
 */
FGD_NOINLINE static int64_t FN(csr_cum_rows)(const REAL *data, const INDEX *indices,
                                             const INDEX *indptr, int64_t n, int64_t d,
                                             const double *y, const double *sw,
                                             const int64_t *order, REAL *params,
                                             double *gsum, const fgd_config *c,
                                             const fgd_lazy *L, int64_t t0, double *snap,
                                             double *loss_sum, double *weight_sum,
                                             double *lr_last, int *abort, fgd_stats *end)
{
    const double l1 = c->l1, l2 = c->l2;
    double *qcum = c->l1_cum;
    double scale = 1.0, U = 0.0, u = L->cu[0];
    int64_t t = t0, r, q, i0 = 0;   /* i0: the table index of the last fold */
    fgd_loss_queue lq = {{0}};   /* the log-loss values wait here (fgd_row_loss) */
    for (r = 0; r < n; r++) {
        const int64_t i = order ? order[r] : r;
        const double s = sw ? sw[i] : 1.0;
        const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
        double p, dl, lr, step, u_prev, inv_scale;
        FN(csr_prefetch_rows)(data, indices, indptr, y, sw, order, n, r, 1);
        if (s == 0.0) continue;   /* no weight: no step */
#if defined(__GNUC__)
        /* this row's gsum lines, which the step writes, load while the
         * margin gathers (as in csr_sgd_rows) */
        for (q = lo; q < hi; q++) __builtin_prefetch(gsum + indices[q], 1, 1);
#endif
        p = FN(csr_row_dot_cum)(data, indices, lo, hi, params, snap, qcum, L, U, i0, t - t0);
        p = scale * p + (double)params[d];
        if (!fgd_row_loss(c->loss, c->loss_param, y[i], p, s, &lq, loss_sum, &dl)) {
            *abort = 1;
            break;
        }
        dl *= s;
        *weight_sum += s;
        lr = L->lr[t - t0];
        scale *= 1.0 - lr * l2;
        U += l1 * lr / scale;
        u_prev = u;
        u += l1 * lr;
        L->cU[t - t0 + 1] = U;
        L->cu[t - t0 + 1] = u;
        L->cs[t - t0 + 1] = scale;
        if (dl != 0.0) {
            inv_scale = 1.0 / scale;
            step = lr * dl / scale;
            for (q = lo; q < hi; q++) {
                const int64_t j = (int64_t)indices[q];
                const double x = (double)data[q], v0 = (double)params[j], qz = qcum[j];
                /* the q of a weight that is not zero: -u as of its last
                 * step (csr_cum_caught_up); loaded and stored always (selects,
                 * not branches), used only where the weight is zero */
                double qj = v0 == 0.0 ? qz : (v0 > 0.0 ? -u_prev : u_prev);
                const double v = fgd_l1_cum_step(v0 - step * x, u, scale, inv_scale, &qj);
                qcum[j] = qj;
                snap[j] = U;
                gsum[j] += dl * x;   /* (the L2 part: at the end) */
                params[j] = (REAL)v;
            }
        }
        if (c->fit_intercept) {   /* plain SGD, unpenalized */
            gsum[d] += dl;
            params[d] = (REAL)((double)params[d] - lr * dl);
        }
        t++;
        *lr_last = lr;
        if (scale < FGD_MIN_SCALE) {   /* every column up to date, the tables from scale 1 */
            FN(csr_cum_all_caught_up)(params, snap, qcum, L, d, U, i0, t - t0, 0);
            for (q = 0; q < d; q++) {
                params[q] = (REAL)(scale * (double)params[q]);
                snap[q] = 0.0;
            }
            L->cU[t - t0] = 0.0;
            L->cs[t - t0] = 1.0;
            i0 = t - t0;
            scale = 1.0;
            U = 0.0;
        }
    }
    fgd_loss_queue_flush(&lq, loss_sum);
    if (!*abort) {
        /* the catch-up, then csr_sgd_rows' end without L1: the fold and
         * gsum's approximate L2 part, l2 (steps) w (or the end sums) */
        const double l2v = l2 * (double)(t - t0) * scale;
        FN(csr_cum_all_caught_up)(params, snap, qcum, L, d, U, i0, t - t0, 1);
        if (c->end_sums)
            FN(csr_scaled_end_sums)(params, snap, gsum, d, scale, U, 0.0, l2v, 0.0, 0.0, end);
        else
            for (q = 0; q < d; q++)
                FN(csr_scaled_end_coord)(params, snap, gsum, q, scale, U, 0.0, l2v, 0.0, 0.0,
                                         &gsum[q]);
    }
    return t;
}

/* Load a coordinate and the ns state rows its rule uses, apply
 * fgd_coord_step, store. */
static inline void FN(csr_step_coord_checked)(const fgd_config *c, int ns, REAL *params,
                                              REAL *state, int64_t D, int64_t j, double g,
                                              double lr, const double *pc, int penalized,
                                              double *gs, int mrow, int vrow, double mk)
{
    double st[3] = {0.0, 0.0, 0.0};
    int k;
    for (k = 0; k < ns; k++) st[k] = (double)state[k * D + j];
    if (mrow >= 0) fgd_hog_repair(st, mrow, vrow, mk);   /* (Hogwild!: csr_catch_up_checked) */
    params[j] = (REAL)fgd_coord_step(c, (double)params[j], g, st, lr, pc, penalized, gs);
    for (k = 0; k < ns; k++) state[k * D + j] = (REAL)st[k];
}

static inline void FN(csr_step_coord)(const fgd_config *c, int ns, REAL *params, REAL *state,
                                      int64_t D, int64_t j, double g, double lr,
                                      const double *pc, int penalized, double *gs)
{
    FN(csr_step_coord_checked)(c, ns, params, state, D, j, g, lr, pc, penalized, gs, -1, 0,
                               0.0);
}

/*
 * FTRL at batch_size 1 with one step size over the whole chunk (lazy mode
 * LAST): w = f(z, n, lr) stays valid for every column a step skips, so the
 * rows run fused, without catch-up. Before the first step, every column's w
 * is recomputed at this step size, as the dense loop's first step would.
 */
static int64_t FN(csr_ftrl_rows)(const REAL *data, const INDEX *indices, const INDEX *indptr,
                                 int64_t n, int64_t d, const double *y, const double *sw,
                                 const int64_t *order, REAL *params, REAL *state,
                                 double *gsum, const fgd_config *c, const fgd_lazy *L,
                                 int64_t t0, double *loss_sum, double *weight_sum,
                                 double *lr_last, int *abort)
{
    const int64_t D = d + 1;
    const double lr = L->lr[0];
    const double pc[2] = {L->pc0[0], L->pc1[0]};
    int64_t t = t0, r, q, j;
    int first = 1;
    for (r = 0; r < n; r++) {
        const int64_t i = order ? order[r] : r;
        const double s = sw ? sw[i] : 1.0;
        const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
        double p = 0.0, l, dl;
        FN(csr_prefetch_rows)(data, indices, indptr, y, sw, order, n, r, 1);
        if (s == 0.0) continue;
        p = FN(csr_row_dot)(data, indices, lo, hi, params) + (double)params[d];
        l = fgd_loss_and_deriv(c->loss, c->loss_param, y[i], p, &dl);
        if (!isfinite(l) || !isfinite(p)) {
            *abort = 1;
            break;
        }
        *loss_sum += s * l;
        *weight_sum += s;
        dl *= s;
        for (q = lo; q < hi; q++)
            FN(csr_step_coord)(c, 2, params, state, D, (int64_t)indices[q],
                               dl * (double)data[q], lr, pc, 1, &gsum[indices[q]]);
        if (c->fit_intercept)
            FN(csr_step_coord)(c, 2, params, state, D, d, dl, lr, pc, 0, &gsum[d]);
        if (first) {
            /* w of every column at this run's step size (state unchanged: g = 0),
             * as the dense step leaves it. After the first row's step, which
             * (margin and update alike) reads the weights of the step before:
             * done before it, a run starting at a new step size (the 'adaptive'
             * schedule's next epoch, a chunk where a step schedule changes)
             * was 1e-2 off (found by a helper's probe). The row's own columns
             * get the same w again. */
            double unused = 0.0;
            for (j = 0; j < d; j++) {
                double st[3] = {(double)state[j], (double)state[D + j], 0.0};
                params[j] = (REAL)fgd_coord_step(c, (double)params[j], 0.0, st, lr, pc, 1,
                                                 &unused);
            }
            first = 0;
        }
        t++;
        *lr_last = lr;
    }
    return t;
}

/* A Hogwild! thread's plain-SGD intercept (fgd_hog_intercept, omp_shim.h
 * says why): atomic_add, hog_b_step at each of its rows, hog_b_done at its
 * end. */

/* *x += v, atomically where threads run */
static inline void FN(atomic_add)(REAL *x, double v)
{
    const REAL add = (REAL)v;
#ifdef _OPENMP
#pragma omp atomic update
#endif
    *x += add;
}

/* The plain SGD step -lr dl of the intercept *b (fgd_coord_step written out) */
static inline void FN(hog_b_step)(fgd_hog_intercept *h, REAL *b, double lr, double dl)
{
    h->g += dl;
    h->b -= lr * dl;
    if (--h->left <= 0) {
        FN(atomic_add)(b, h->b);
        h->b = 0.0;
        h->left = FGD_PACE_EVERY;
    }
}

/* The thread's steps not yet added, at its end */
static inline void FN(hog_b_done)(fgd_hog_intercept *h, REAL *b)
{
    FN(atomic_add)(b, h->b);
    h->b = 0.0;
}

/* Claim a column's catch-up in csr_hogwild_sgd: last[j] from *seen to t,
 * atomically where threads run; on failure *seen is the value found. */
static inline int FN(hog_claim)(int64_t *last, int64_t *seen, int64_t t)
{
#if defined(_OPENMP) && defined(__GNUC__)
    return __atomic_compare_exchange_n(last, seen, t, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
#else
    *last = t;
    return 1;
#endif
}

/* A Hogwild! loop's intercept and its state rows under a stateful optimizer,
 * with their lock (fgd_lock, omp_shim.h says why) on the same cache line:
 * the thread that takes the lock finds the values there. */
typedef struct {
    FGD_CACHE_LINE fgd_lock lock;
    REAL v[4];   /* the intercept, then its L->ns state rows */
} FN(hog_box);

/*
 * Hogwild!: batch_size 1, n_threads threads, lock-free (see fastgd_csr.h)
 * but for the intercept, which every row steps: its step takes a lock
 * (hog_box), and a thread's margins use the intercept its last step left.
 * Every lazy mode except SCALED (converted to SGD_CLOSED by the caller).
 */
static int64_t FN(csr_hogwild)(const REAL *data, const INDEX *indices, const INDEX *indptr,
                               int64_t n, int64_t d, const double *y, const double *sw,
                               const int64_t *order, REAL *params, REAL *state,
                               double *gsum, const fgd_config *c, const fgd_lazy *L,
                               int64_t t0, int64_t *last, int nthreads, double *loss_sum,
                               double *weight_sum, double *lr_last, int *abort)
{
    const int64_t D = d + 1;
    double tloss[FGD_MAX_THREADS], tweight[FGD_MAX_THREADS], tgb[FGD_MAX_THREADS];
    fgd_pace_slot pace[FGD_MAX_THREADS] = {{0}};
    FN(hog_box) box;
    int abort_flag = 0, k, mrow, vrow;
    double mk;
    fgd_hog_moment_bound(c, &mrow, &vrow, &mk);
    for (k = 0; k < FGD_MAX_THREADS; k++) tloss[k] = tweight[k] = tgb[k] = 0.0;
    fgd_lock_init(&box.lock);
    box.v[0] = params[d];
    for (k = 0; k < L->ns; k++) box.v[1 + k] = state[k * D + d];
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
        const int tid = fgd_thread_num(), nt = fgd_num_threads();
        double my_loss = 0.0, my_weight = 0.0, my_gb = 0.0, my_b = (double)params[d];
        int64_t r, q;
        int pace_in = 0;
        for (r = tid; r < n; r += nt) {
            const int64_t i = order ? order[r] : r, t = t0 + r;
            const double s = sw ? sw[i] : 1.0;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            const double lr = L->lr[r];
            const double pc[2] = {L->pc0[r], L->pc1[r]};
            double p = 0.0, l, dl;
            int stop;
            fgd_pace(pace, nt, tid, r, &abort_flag, &pace_in);
            FN(csr_prefetch_rows)(data, indices, indptr, y, sw, order, n, r, nt);
#ifdef _OPENMP
#pragma omp atomic read
#endif
            stop = abort_flag;
            if (stop) break;
            if (s == 0.0) continue;
            for (q = lo; q < hi; q++) {
                const int64_t j = (int64_t)indices[q], ta = last[j];
                if (ta <= t) {   /* another thread may be ahead: then nothing to do */
                    FN(csr_catch_up_checked)(L, params, state, D, gsum, NULL, j, ta, t, mrow,
                                             vrow, mk);
                    last[j] = t + 1;
                }
            }
            p = FN(csr_row_dot)(data, indices, lo, hi, params) + my_b;
            l = fgd_loss_and_deriv(c->loss, c->loss_param, y[i], p, &dl);
            if (!isfinite(l) || !isfinite(p)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                abort_flag = 1;
                break;
            }
            my_loss += s * l;
            my_weight += s;
            dl *= s;
            for (q = lo; q < hi; q++)
                FN(csr_step_coord_checked)(c, L->ns, params, state, D, (int64_t)indices[q],
                                           dl * (double)data[q], lr, pc, 1, &gsum[indices[q]],
                                           mrow, vrow, mk);
            if (c->fit_intercept) {   /* box.v as a model of one coordinate */
                fgd_lock_set(&box.lock);
                FN(csr_step_coord)(c, L->ns, box.v, box.v + 1, 1, 0, dl, lr, pc, 0, &my_gb);
                my_b = (double)box.v[0];
                fgd_lock_unset(&box.lock);
            }
        }
        fgd_pace_done(pace, tid);
        tloss[tid] = my_loss;
        tweight[tid] = my_weight;
        tgb[tid] = my_gb;
    }
    fgd_lock_destroy(&box.lock);
    for (k = 0; k < nthreads; k++) {
        *loss_sum += tloss[k];
        *weight_sum += tweight[k];
        gsum[d] += tgb[k];
    }
    params[d] = box.v[0];
    for (k = 0; k < L->ns; k++) state[k * D + d] = box.v[1 + k];
    *abort = abort_flag;
    if (n > 0) *lr_last = L->lr[n - 1];
    return t0 + n;
}

/*
 * Hogwild! for plain SGD without momentum (lazy modes IDENTITY and
 * SGD_CLOSED, the latter only where csr_hogwild_scaled's weight scale
 * would fall below FGD_MIN_SCALE; the caller runs it for nothing else): the same
 * lock-free scheme as csr_hogwild, with the coordinate step written out
 * (w <- (1 - lr l2) w - lr g, then the L1 prox) instead of the general rule,
 * and the closed-form catch-up inline.
 */
static int64_t FN(csr_hogwild_sgd)(const REAL *data, const INDEX *indices, const INDEX *indptr,
                                   int64_t n, int64_t d, const double *y, const double *sw,
                                   const int64_t *order, REAL *params, double *gsum,
                                   const fgd_config *c, const fgd_lazy *L, int64_t t0,
                                   int64_t *last, int nthreads, double *loss_sum,
                                   double *weight_sum, double *lr_last, int *abort)
{
    const double l1 = c->l1, l2 = c->l2;
    const int lazy = L->mode == FGD_LAZY_SGD_CLOSED;
    const double *E = L->cum, *Q = L->lrmax;   /* prefix tables of SGD_CLOSED */
    double tloss[FGD_MAX_THREADS], tweight[FGD_MAX_THREADS], tgb[FGD_MAX_THREADS];
    fgd_pace_slot pace[FGD_MAX_THREADS] = {{0}};
    int abort_flag = 0, k;
    for (k = 0; k < FGD_MAX_THREADS; k++) tloss[k] = tweight[k] = tgb[k] = 0.0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
        const int tid = fgd_thread_num(), nt = fgd_num_threads();
        double my_loss = 0.0, my_weight = 0.0;
        fgd_hog_intercept hb = {0.0, 0.0, FGD_PACE_EVERY};
        int64_t r, q;
        int pace_in = 0;
        for (r = tid; r < n; r += nt) {
            const int64_t i = order ? order[r] : r, t = t0 + r;
            const double s = sw ? sw[i] : 1.0;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            const double lr = L->lr[r], shrink = 1.0 - lr * l2, thr = l1 * lr;
            double p = 0.0, l, dl;
            fgd_pace(pace, nt, tid, r, &abort_flag, &pace_in);
            FN(csr_prefetch_rows)(data, indices, indptr, y, sw, order, n, r, nt);
            if (s == 0.0) continue;
            if (lazy) {
                for (q = lo; q < hi; q++) {
                    const int64_t j = (int64_t)indices[q];
                    int64_t seen = last[j];
                    /* catch up the steps ia .. r-1, claiming them first: two
                     * threads that both saw the same last[j] decayed w twice
                     * over the steps they shared (with strong L2, Hogwild!
                     * weights a third smaller than the serial ones) */
                    while (seen - t0 < r && !FN(hog_claim)(&last[j], &seen, t)) {
                    }
                    if (seen - t0 < r) {
                        const int64_t ia = seen - t0;
                        const double w = (double)params[j];
                        const double a = E[r] / E[ia] * fabs(w) - E[r] * (Q[r] - Q[ia]);
                        const double wr = a > 0.0 ? (w > 0.0 ? a : -a) : 0.0;
                        /* their L2 gradients l2 w_k, exactly (as fgd_lazy_catch_up):
                         * this loop runs only where the weight scale underflows
                         * (else csr_hogwild_scaled), whose steps shrink w fast
                         * enough that the trapezoid rule was 5x off */
                        if (l2 > 0.0)
                            gsum[j] += l2 * (w + fgd_lazy_closed_sgd_sum(L, w, ia, ia, r - 1));
                        params[j] = (REAL)wr;
                    }
                }
            }
            p = FN(csr_row_dot)(data, indices, lo, hi, params) + (double)params[d] + hb.b;
            l = fgd_loss_and_deriv(c->loss, c->loss_param, y[i], p, &dl);
            if (!isfinite(l) || !isfinite(p)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                abort_flag = 1;
            }
            {
                int stop;
#ifdef _OPENMP
#pragma omp atomic read
#endif
                stop = abort_flag;
                if (stop) break;
            }
            my_loss += s * l;
            my_weight += s;
            dl *= s;
            for (q = lo; q < hi; q++) {
                const int64_t j = (int64_t)indices[q];
                const double g = dl * (double)data[q];
                double w = (double)params[j];
                gsum[j] += g + l2 * w;
                w = shrink * w - lr * g;
                if (thr > 0.0) w = fgd_soft(w, thr);
                params[j] = (REAL)w;
                if (lazy) last[j] = t + 1;
            }
            if (c->fit_intercept) FN(hog_b_step)(&hb, params + d, lr, dl);
        }
        fgd_pace_done(pace, tid);
        FN(hog_b_done)(&hb, params + d);
        tloss[tid] = my_loss;
        tweight[tid] = my_weight;
        tgb[tid] = hb.g;
    }
    for (k = 0; k < nthreads; k++) {
        *loss_sum += tloss[k];
        *weight_sum += tweight[k];
        gsum[d] += tgb[k];
    }
    *abort = abort_flag;
    if (n > 0) *lr_last = L->lr[n - 1];
    return t0 + n;
}

/*
 * Hogwild! for plain SGD with L2 and/or L1 (lazy mode SGD_CLOSED): at
 * position r of the chunk w_j = E[r] v_j, with E = L->cum the prefix
 * product of (1 - lr_k l2) -- the serial loop's weight scale, tabulated by
 * position, so that the threads share it without writing it. params holds v
 * during the chunk; a touched coordinate costs one read and one write of v,
 * with no step counter per coordinate (csr_hogwild_sgd's closed-form
 * catch-up read last[j] and two tables at random for every entry: 5x the
 * serial epoch's time on one thread). L1 is the serial loop's cumulative
 * threshold tabulated by position too, Q = L->lrmax (Q[r + 1] - Q[r] =
 * l1 lr_r / E[r + 1]): snap[j] holds the Q up to which v_j is thresholded,
 * and a thread at position r thresholds v_j by Q[r] - snap[j] when that is
 * positive (another thread may be ahead). The caller checks E[n] >=
 * FGD_MIN_SCALE. gsum as in csr_sgd_rows (csr_gsum_mode); without L1,
 * snap is scratch for it.
 */
static int64_t FN(csr_hogwild_scaled)(const REAL *data, const INDEX *indices,
                                      const INDEX *indptr, int64_t n, int64_t d,
                                      const double *y, const double *sw, const int64_t *order,
                                      REAL *params, double *gsum, const fgd_config *c,
                                      const fgd_lazy *L, int64_t t0, double *snap,
                                      int nthreads, double *loss_sum, double *weight_sum,
                                      double *lr_last, int *abort)
{
    const double *E = L->cum, *Q = L->lrmax;
    const double l1 = c->l1, l2 = c->l2;
    const int pf_w = (double)d * sizeof(REAL) > FGD_CSR_WPF_BYTES && fgd_csr_weight_prefetch();
    double ratio = 0.0;
    const int gmode = FN(csr_gsum_mode)(L, n, c->l1, l2, FGD_MIN_SCALE, indptr, order, n, d,
                                        c->exact_gsum, &ratio);
    /* gsum per entry without L1: its L2 part exactly, as in csr_sgd_rows,
     * with A_r = E[0] + ... + E[r] (each thread adds the positions up to
     * its row: nt values per row) */
    const int exact_l2 = gmode == 0 && l1 == 0.0 && l2 > 0.0;
    double tloss[FGD_MAX_THREADS], tweight[FGD_MAX_THREADS], tgb[FGD_MAX_THREADS];
    fgd_pace_slot pace[FGD_MAX_THREADS] = {{0}};
    int abort_flag = 0, k;
    int64_t q;
    for (k = 0; k < FGD_MAX_THREADS; k++) tloss[k] = tweight[k] = tgb[k] = 0.0;
    if (gmode)
        for (q = 0; q < d; q++) snap[q] = (double)params[q];
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
        const int tid = fgd_thread_num(), nt = fgd_num_threads();
        double my_loss = 0.0, my_weight = 0.0;
        fgd_loss_queue lq = {{0}};
        fgd_hog_intercept hb = {0.0, 0.0, FGD_PACE_EVERY};
        int64_t r, qq, rA = 0;
        double Ar = 0.0;
        int pace_in = 0;
        for (r = tid; r < n; r += nt) {
            const int64_t i = order ? order[r] : r;
            const double s = sw ? sw[i] : 1.0;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            const double lr = L->lr[r];
            double p = 0.0, dl;
            int stop;
            fgd_pace(pace, nt, tid, r, &abort_flag, &pace_in);
            FN(csr_prefetch_rows)(data, indices, indptr, y, sw, order, n, r, nt);
#if defined(__GNUC__)
            if (pf_w && r + nt * FGD_CSR_WAHEAD < n) {   /* as in csr_sgd_rows */
                const int64_t ia = order ? order[r + nt * FGD_CSR_WAHEAD]
                                         : r + nt * FGD_CSR_WAHEAD;
                const int64_t la = (int64_t)indptr[ia], ha = (int64_t)indptr[ia + 1];
                for (qq = la; qq < ha; qq++)
                    __builtin_prefetch(params + indices[qq], 1, FGD_CSR_WLOC);
            }
#endif
            if (s == 0.0) continue;
            p = l1 > 0.0 ? FN(csr_row_dot_l1)(data, indices, lo, hi, params, snap, Q[r])
                         : FN(csr_row_dot)(data, indices, lo, hi, params);
            p = E[r] * p + (double)params[d] + hb.b;
            if (!fgd_row_loss(c->loss, c->loss_param, y[i], p, s, &lq, &my_loss, &dl)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                abort_flag = 1;
            }
#ifdef _OPENMP
#pragma omp atomic read
#endif
            stop = abort_flag;
            if (stop) break;
            dl *= s;
            my_weight += s;
            if (dl != 0.0 && l1 > 0.0) {   /* the step, then its own threshold */
                const double step = lr * dl / E[r + 1], thr = Q[r + 1] - Q[r], u = Q[r + 1];
                for (qq = lo; qq < hi; qq++) {
                    const int64_t j = (int64_t)indices[qq];
                    const double x = (double)data[qq];
                    gsum[j] += dl * x;
                    params[j] = (REAL)fgd_soft((double)params[j] - step * x, thr);
                    if (snap[j] < u) snap[j] = u;
                }
            } else if (dl != 0.0) {
                const double step = lr * dl / E[r + 1];
                double l2A = 0.0;
                if (exact_l2) {
                    while (rA <= r) Ar += E[rA++];
                    l2A = l2 * Ar;
                }
                for (qq = lo; qq < hi; qq++) {
                    const int64_t j = (int64_t)indices[qq];
                    const double x = (double)data[qq];
                    const double old = (double)params[j];
                    const REAL stored = (REAL)(old - step * x);
                    if (!gmode)   /* (as in csr_sgd_rows) */
                        gsum[j] += FGD_IS_F32(REAL) ? dl * x - l2A * ((double)stored - old)
                                                    : dl * x * (1.0 + l2A * lr / E[r + 1]);
                    params[j] = stored;
                }
            }
            if (c->fit_intercept) FN(hog_b_step)(&hb, params + d, lr, dl);
        }
        fgd_pace_done(pace, tid);
        fgd_loss_queue_flush(&lq, &my_loss);
        FN(hog_b_done)(&hb, params + d);
        tloss[tid] = my_loss;
        tweight[tid] = my_weight;
        tgb[tid] = hb.g;
    }
    for (k = 0; k < nthreads; k++) {
        *loss_sum += tloss[k];
        *weight_sum += tweight[k];
        gsum[d] += tgb[k];
    }
    *abort = abort_flag;
    if (!abort_flag) {
        const double e = E[n];
        double A = 0.0, AS = 0.0;   /* the steps' scales summed, as in csr_sgd_rows */
        int64_t r;
        for (r = 0; r < n && (exact_l2 || gmode == 2); r++) {
            A += E[r];
            AS += A;
        }
        if (l1 > 0.0)   /* every v thresholded up to the chunk's end */
            for (q = 0; q < d; q++) {
                (void)FN(csr_l1_caught_up)(params, snap, q, Q[n]);
                snap[q] = 0.0;
            }
        if (gmode == 2) {   /* loss part and approximate L2 part, from v before the fold */
            const double Abar = n > 0 ? AS / (double)n : 0.0;
            for (q = 0; q < d; q++) {
                const double v = (double)params[q];
                gsum[q] += (snap[q] - v) / ratio + l2 * ((A - Abar) * v + Abar * snap[q]);
            }
        }
        if (gmode == 0) {   /* the L2 part from v: exact, or approximate with L1 */
            const double l2v = exact_l2 ? l2 * A : l2 * (double)n * e;
            for (q = 0; q < d; q++) gsum[q] += l2v * (double)params[q];
        }
        for (q = 0; q < d; q++) params[q] = (REAL)(e * (double)params[q]);
        if (gmode == 1)
            for (q = 0; q < d; q++) gsum[q] += (snap[q] - (double)params[q]) / L->lr[0];
    } else {   /* the model Python restores; leave w, not v */
        for (q = 0; q < d; q++) params[q] = (REAL)(E[n] * (double)params[q]);
    }
    if (n > 0) *lr_last = L->lr[n - 1];
    return t0 + n;
}

/*
 * Deterministic mini-batch parallelism (see fastgd_csr.h). Not for SCALED
 * (converted to SGD_CLOSED by the caller). Returns the step counter.
 */
static int64_t FN(csr_parallel_batches)(const REAL *data, const INDEX *indices,
                                        const INDEX *indptr, int64_t n, int64_t d,
                                        const double *y, const double *sw,
                                        const int64_t *order, REAL *params, REAL *state,
                                        double *gsum, double *asum, const fgd_config *c,
                                        const fgd_lazy *L, int64_t t0,
                                        const fgd_csr_scratch *scr, int nthreads,
                                        double *loss_sum, double *weight_sum,
                                        double *lr_last, int *abort)
{
    const int64_t D = d + 1, B = c->batch_size, nb = (n + B - 1) / B;
    int64_t *last = scr->last, *cols = scr->cols, *prev = scr->prev;
    double *tbuf = scr->tbuf;
    double tloss[FGD_MAX_THREADS], tweight[FGD_MAX_THREADS], tgb[FGD_MAX_THREADS];
    int64_t nc = 0, t_end = t0;
    int abort_flag = 0, k;
    double lr_out = 0.0;
    fgd_barrier bar = FGD_BARRIER_INIT;
    for (k = 0; k < FGD_MAX_THREADS; k++) tloss[k] = tweight[k] = tgb[k] = 0.0;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
    {
        const int tid = fgd_thread_num(), nt = fgd_num_threads();
        double *tb = tbuf + (int64_t)tid * d;
        double my_loss = 0.0, my_weight = 0.0, gb_mine;
        int64_t t = t0, b, r, q, kk;
        int sense = 0;
        for (b = 0; b < nb; b++) {
            const int64_t start = b * B, end = start + B < n ? start + B : n;
            const int64_t m = end - start;
            const int64_t r0 = start + m * tid / nt, r1 = start + m * (tid + 1) / nt;
            double batch_weight = 0.0;
            int stop;
            if (sw) {
                for (r = start; r < end; r++) batch_weight += sw[order ? order[r] : r];
            } else {
                batch_weight = (double)m;
            }
            /* A: the batch's columns, in the order the rows list them (one thread) */
            if (tid == 0) {
                nc = 0;
                for (r = start; r < end; r++) {
                    const int64_t i = order ? order[r] : r;
                    if (sw && sw[i] == 0.0) continue;
                    for (q = (int64_t)indptr[i]; q < (int64_t)indptr[i + 1]; q++) {
                        const int64_t j = (int64_t)indices[q];
                        if (last[j] <= t) {
                            prev[nc] = last[j];
                            cols[nc++] = j;
                            last[j] = t + 1;
                        }
                    }
                }
            }
            fgd_barrier_wait(&bar, nt, &sense);
            /* B: catch the listed columns up to step t */
            {
                const int64_t k0 = nc * tid / nt, k1 = nc * (tid + 1) / nt;
                FN(csr_lanes) lanes;
                lanes.n = 0;
                lanes.on = fgd_lazy_lanes_apply(L, asum);
                for (kk = k0; kk < k1; kk++)
                    FN(csr_lanes_add)(&lanes, L, params, state, D, gsum, asum, cols[kk],
                                      prev[kk], t);
                FN(csr_lanes_flush)(&lanes, L, params, state, D, gsum, t);
            }
            fgd_barrier_wait(&bar, nt, &sense);
            /* C: this thread's rows: margins, losses, gradients into its buffer
             * (the intercept's in a register: tgb[] shares a cache line
             * between threads, so it is written once per batch, not per row) */
            gb_mine = 0.0;
            for (r = r0; r < r1; r++) {
                const int64_t i = order ? order[r] : r;
                const double s = sw ? sw[i] : 1.0;
                const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
                double p = 0.0, l, dl;
                FN(csr_prefetch_ahead)(data, indices, indptr, y, sw, order, r1, r, params,
                                       last, 0);
                if (s == 0.0) continue;
                p = FN(csr_row_dot)(data, indices, lo, hi, params) + (double)params[d];
                l = fgd_loss_and_deriv(c->loss, c->loss_param, y[i], p, &dl);
                if (!isfinite(l) || !isfinite(p)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                    abort_flag = 1;
                    break;
                }
                my_loss += s * l;
                my_weight += s;
                dl *= s;
                if (dl != 0.0) {
                    for (q = lo; q < hi; q++) tb[indices[q]] += dl * (double)data[q];
                    gb_mine += dl;
                }
            }
            tgb[tid] = gb_mine;
            fgd_barrier_wait(&bar, nt, &sense);
#ifdef _OPENMP
#pragma omp atomic read
#endif
            stop = abort_flag;
            if (stop) {
                /* leave the thread buffers zero */
                const int64_t k0 = nc * tid / nt, k1 = nc * (tid + 1) / nt;
                int u;
                for (kk = k0; kk < k1; kk++)
                    for (u = 0; u < nt; u++) tbuf[(int64_t)u * d + cols[kk]] = 0.0;
                break;
            }
            /* D: update the listed columns (sum of the thread buffers in thread order) */
            if (batch_weight > 0.0) {
                const int64_t it = t - t0, k0 = nc * tid / nt, k1 = nc * (tid + 1) / nt;
                const double lr = L->lr[it], inv_m = 1.0 / (double)m;
                const double pc[2] = {L->pc0[it], L->pc1[it]};
                int u;
                for (kk = k0; kk < k1; kk++) {
                    const int64_t j = cols[kk];
                    double g = 0.0;
                    for (u = 0; u < nt; u++) {
                        g += tbuf[(int64_t)u * d + j];
                        tbuf[(int64_t)u * d + j] = 0.0;
                    }
                    FN(csr_step_coord)(c, L->ns, params, state, D, j, g * inv_m, lr, pc, 1, &gsum[j]);
                    if (asum && it >= L->astart) asum[j] += (double)params[j];
                }
                if (tid == 0 && c->fit_intercept) {
                    double gb = 0.0;
                    for (u = 0; u < nt; u++) gb += tgb[u];
                    FN(csr_step_coord)(c, L->ns, params, state, D, d, gb * inv_m, lr, pc, 0, &gsum[d]);
                }
                if (tid == 0 && asum && it >= L->astart) asum[d] += (double)params[d];
                t++;
                if (tid == 0) lr_out = lr;
            } else {
                const int64_t k0 = nc * tid / nt, k1 = nc * (tid + 1) / nt;
                int u;
                for (kk = k0; kk < k1; kk++) {
                    for (u = 0; u < nt; u++) tbuf[(int64_t)u * d + cols[kk]] = 0.0;
                    last[cols[kk]] = t;
                }
            }
            fgd_barrier_wait(&bar, nt, &sense);
        }
        tloss[tid] = my_loss;
        tweight[tid] = my_weight;
        if (tid == 0) t_end = t;
    }
    for (k = 0; k < nthreads; k++) {
        *loss_sum += tloss[k];
        *weight_sum += tweight[k];
    }
    *abort = abort_flag;
    *lr_last = lr_out;
    return t_end;
}

/* Dense steps (fastgd_csr.h): the epoch as fgd_run_batches' two phases,
 * for the binary model (csr_dense_rows/_update) and the softmax one
 * (csr_multinomial_impl.h: K classes, pbuf K doubles per thread). */
typedef struct {
    const REAL *data;
    const INDEX *indices, *indptr;
    int64_t d, K;
    const double *y, *sw;
    const int64_t *order;
    REAL *params, *state, *gbuf, *avg;
    double *pbuf, *gsum;
    const fgd_config *c;
} FN(csr_dense_ctx);

/* One epoch of dense steps over the first n positions of order: the rows
 * and update phases given, n_coords = (d + 1) K coordinates, the gradient
 * buffers in scr->gbuf. */
static void FN(csr_dense_run)(const REAL *data, const INDEX *indices, const INDEX *indptr,
                              int64_t n, int64_t d, int64_t K, const double *y,
                              const double *sw, const int64_t *order, REAL *params,
                              REAL *state, double *gsum, REAL *avg, double *pbuf,
                              const fgd_config *c, int64_t t0, const fgd_csr_scratch *scr,
                              int (*rows)(void *, int, int, int64_t, int64_t, int64_t,
                                          double *, double *),
                              void (*update)(void *, int, int64_t, int64_t, double, double,
                                             const double *, int64_t),
                              fgd_stats *stats)
{
    FN(csr_dense_ctx) k;
    fgd_batch_ops ops;
    k.data = data; k.indices = indices; k.indptr = indptr; k.d = d; k.K = K;
    k.y = y; k.sw = sw; k.order = order; k.params = params; k.state = state;
    k.gbuf = (REAL *)scr->gbuf; k.avg = avg; k.pbuf = pbuf; k.gsum = gsum; k.c = c;
    ops.rows = rows;
    ops.update = update;
    ops.ctx = &k;
    ops.n_coords = (d + 1) * K;
    ops.scratch = scr->gbuf;
    ops.scratch_bytes = (size_t)ops.n_coords * sizeof(REAL);
    fgd_run_batches(c, n, order, sw, t0, &ops, stats);
}

/* Phase 1: margins and losses of rows [r0, r1), their gradients scattered
 * into the thread's buffer (formed in REAL as the dense loop's axpy forms
 * them). Returns 1 on a non-finite margin or loss. */
static int FN(csr_dense_rows)(void *ctx, int tid, int nt, int64_t start, int64_t r0,
                              int64_t r1, double *loss, double *weight)
{
    const FN(csr_dense_ctx) *k = (const FN(csr_dense_ctx) *)ctx;
    const int64_t d = k->d;
    const REAL *params = k->params;
    REAL *gb = k->gbuf + (int64_t)tid * (d + 1);
    int64_t r, q;
    (void)start;
    (void)nt;
    for (r = r0; r < r1; r++) {
        const int64_t i = k->order ? k->order[r] : r;
        const double s = k->sw ? k->sw[i] : 1.0;
        const int64_t lo = (int64_t)k->indptr[i], hi = (int64_t)k->indptr[i + 1];
        double p, l, dl;
        FN(csr_prefetch_ahead)(k->data, k->indices, k->indptr, k->y, k->sw, k->order, r1, r,
                               params, NULL, 0);
        if (s == 0.0) continue;
        p = FN(csr_row_dot)(k->data, k->indices, lo, hi, params) + (double)params[d];
        l = fgd_loss_and_deriv(k->c->loss, k->c->loss_param, k->y[i], p, &dl);
        if (!isfinite(l) || !isfinite(p)) return 1;
        *loss += s * l;
        *weight += s;
        dl *= s;
        if (dl != 0.0) {
            const REAL a = (REAL)dl;
            for (q = lo; q < hi; q++) gb[k->indices[q]] += a * k->data[q];
            gb[d] += a;
        }
    }
    return 0;
}

/* Phase 2: every coordinate of [lo, hi), as the dense loop. */
static void FN(csr_dense_update)(void *ctx, int nt, int64_t lo, int64_t hi, double inv_m,
                                 double lr, const double *pc, int64_t t)
{
    const FN(csr_dense_ctx) *k = (const FN(csr_dense_ctx) *)ctx;
    FGD_CSR_DENSE_STEP(k->c, k->params, k->state, k->gbuf, k->gsum, k->avg, nt, k->d, lo, hi,
                       inv_m, lr, pc, t);
}

int FN(fgd_epoch_csr)(const REAL *data, const INDEX *indices, const INDEX *indptr,
                      int64_t n, int64_t d, const double *y, const double *sw,
                      const int64_t *order, REAL *params, REAL *state, double *gsum,
                      REAL *avg, const fgd_config *c, int64_t t0,
                      const fgd_csr_scratch *scr, fgd_stats *stats)
{
    const int64_t D = d + 1;
    const int64_t B = c->batch_size;
    int64_t nb = B > 0 ? (n + B - 1) / B : 0;
    int64_t *last = scr->last, *cols = scr->cols;
    double *gacc = scr->gacc, *snap = scr->snap;
    /* averaged SGD: the running sums of the iterates (see lazy.h) */
    double *asum = avg && c->average_start >= 0 ? scr->asum : NULL;
    fgd_lazy L;
    int64_t t = t0, b, r, j, q;
    double loss_sum = 0.0, weight_sum = 0.0, lr_last = 0.0;
    double scale = 1.0, U = 0.0;
    double *end_asum;
    int scaled, fused_sgd, abort_flag = 0;
    /* the cumulative L1 penalty (fgd_l1_cum_catch_up): its q (c->l1_cum), u,
     * and the per-step tables of U, u and the scale (L.cU, L.cu, L.cs) */
    const int cum = c->l1_cum != NULL && c->l1 > 0.0;
    double *qcum = c->l1_cum, u = cum ? c->l1_cum[d] : 0.0;
    double *TU = NULL, *Tu = NULL, *Ts = NULL;
    fgd_stats end;   /* the end sums, where a loop takes them (cfg->end_sums) */
    FN(csr_lanes) lanes;
    /* the per-column arrays a step reads at random (weights, step counters,
     * gradient accumulators, gsum and the state rows) outgrow L2 */
    const int pf_cols = (double)d * (double)(3 * sizeof(double) + 2 * sizeof(REAL)) >
                        FGD_CSR_WPF_BYTES;

    if (n < 0 || d < 0 || B <= 0 || c->loss < 0 || c->loss >= FGD_N_LOSSES ||
        c->optimizer < 0 || c->optimizer >= FGD_N_OPTIMIZERS ||
        c->schedule < 0 || c->schedule >= FGD_N_SCHEDULES || scr->nsteps < nb ||
        scr->table_rows < fgd_lazy_table_rows(c) ||
        (avg && c->average_start >= 0 && !scr->asum) || !fgd_l1_cum_ok(c, 1))
        return -1;
    end_asum = asum;
    end.end_sums = 0;
    fgd_lazy_setup(&L, c, t0, nb, scr->tables, sizeof(REAL) == sizeof(float));
    if (scr->gbuf && B > 1 && scr->fill >= fgd_lazy_dense_fill(&L, c)) {   /* dense steps */
        FN(csr_dense_run)(data, indices, indptr, n, d, 1, y, sw, order, params, state, gsum,
                          avg, NULL, c, t0, scr, FN(csr_dense_rows), FN(csr_dense_update),
                          stats);
        return 0;
    }
    scaled = L.mode == FGD_LAZY_SCALED;
    if (cum) {
        /* SCALED mode only (csr_cum_rows at batch size 1, else the general
         * loop), on one thread */
        if (c->n_threads > 1) return -2;
        if (!scaled) return -3;   /* a factor 1 - lr l2 <= 0 */
        TU = L.cU;
        Tu = L.cu;
        Ts = L.cs;
        Tu[0] = u;
    }
    /* plain SGD's fused loop (csr_sgd_rows) runs this epoch on one thread */
    fused_sgd = !cum && c->optimizer == FGD_SGD && (scaled || L.mode == FGD_LAZY_IDENTITY) &&
                (c->n_threads <= 1 || (B == 1 && !scr->hogwild)) &&
                (B == 1 ? (!asum || c->l1 == 0.0) : (c->l1 == 0.0 && scr->rowbuf != NULL));
    /* The fused loop never reads last (nor does the end below, where
     * nothing is behind), and reads snap as zeros only for L1: on wide data
     * in short chunks (partial_fit) these passes over freshly mapped pages
     * cost more than the rows. */
    if (!fused_sgd)
        for (j = 0; j < d; j++) last[j] = t0;
    if (!fused_sgd || c->l1 > 0.0)
        for (j = 0; j < d; j++) snap[j] = 0.0;
    if (asum) {
        FN(csr_average_begin)(avg, asum, D, t0, c->average_start);
        /* elsewhere one global scale cannot give each column's sum of iterates:
         * the per-coordinate closed form can (or, out of its range, the replay) */
        if (scaled && !fused_sgd) {
            if (!fgd_lazy_closed_sgd(&L, scr->tables, 1)) L.mode = FGD_LAZY_LOOP;
            scaled = 0;
        }
    }
    if (!fused_sgd && c->n_threads > 1 && (B > 1 || (scr->hogwild && !asum)) && scr->tbuf &&
        scr->prev) {
        const int nthreads = c->n_threads < FGD_MAX_THREADS ? c->n_threads : FGD_MAX_THREADS;
        const int plain_hog = B == 1 && c->optimizer == FGD_SGD && c->hyper[0] == 0.0;
        int scaled_hog;
        /* csr_hogwild_scaled reads no sums of iterates (it leaves no column
         * behind), but whether it runs is known only from the products */
        if (!fgd_lazy_closed_sgd(&L, scr->tables, !plain_hog)) return -2;
        scaled_hog = plain_hog && L.mode == FGD_LAZY_SGD_CLOSED && L.cum[nb] >= FGD_MIN_SCALE;
        if (plain_hog && L.mode == FGD_LAZY_SGD_CLOSED && !scaled_hog)
            fgd_lazy_closed_sgd_iterate_sums(&L, scr->tables);
        if (scaled_hog) {
            t = FN(csr_hogwild_scaled)(data, indices, indptr, n, d, y, sw, order, params, gsum,
                                       c, &L, t0, snap, nthreads, &loss_sum, &weight_sum,
                                       &lr_last, &abort_flag);
            L.mode = FGD_LAZY_IDENTITY;   /* every w is current: no end catch-up */
        } else if (plain_hog &&
                   (L.mode == FGD_LAZY_IDENTITY || L.mode == FGD_LAZY_SGD_CLOSED))
            t = FN(csr_hogwild_sgd)(data, indices, indptr, n, d, y, sw, order, params, gsum,
                                    c, &L, t0, last, nthreads, &loss_sum, &weight_sum,
                                    &lr_last, &abort_flag);
        else if (B == 1)
            t = FN(csr_hogwild)(data, indices, indptr, n, d, y, sw, order, params, state,
                                gsum, c, &L, t0, last, nthreads, &loss_sum, &weight_sum,
                                &lr_last, &abort_flag);
        else
            t = FN(csr_parallel_batches)(data, indices, indptr, n, d, y, sw, order, params,
                                         state, gsum, asum, c, &L, t0, scr, nthreads,
                                         &loss_sum, &weight_sum, &lr_last, &abort_flag);
        scaled = 0;
        nb = 0;   /* done: skip the serial loops, catch up below */
    } else if (!asum && B == 1 && c->optimizer == FGD_FTRL && L.mode == FGD_LAZY_LAST &&
               L.lrmax[0] == L.lr[0] && L.const_lr) {
        t = FN(csr_ftrl_rows)(data, indices, indptr, n, d, y, sw, order, params, state, gsum,
                              c, &L, t0, &loss_sum, &weight_sum, &lr_last, &abort_flag);
        nb = 0;
        L.mode = FGD_LAZY_IDENTITY;   /* every w is current: no end catch-up */
    } else if (fused_sgd) {
        double dl1;
        t = FN(csr_sgd_rows)(data, indices, indptr, n, d, y, sw, order, params, state, gsum,
                             c, &L, t0, B, B == 1 ? &dl1 : scr->rowbuf, snap, asum, &loss_sum,
                             &weight_sum, &lr_last, &abort_flag, &end);
        nb = 0;   /* done: skip the general loop */
        end_asum = NULL;   /* the sums are complete */
    } else if (cum && B == 1) {
        t = FN(csr_cum_rows)(data, indices, indptr, n, d, y, sw, order, params, gsum, c, &L, t0,
                             snap, &loss_sum, &weight_sum, &lr_last, &abort_flag, &end);
        u = Tu[t - t0];
        nb = 0;   /* done: skip the general loop */
    }

    lanes.n = 0;
    lanes.on = fgd_lazy_lanes_apply(&L, asum);
    for (b = 0; b < nb && !abort_flag; b++) {
        const int64_t start = b * B, end = start + B < n ? start + B : n;
        const int64_t m = end - start;
        double batch_weight = 0.0, gb = 0.0, dl1 = 0.0;
        int64_t nc = 0, k, lo1 = 0, hi1 = 0;
        /* batch_size 1 with no column twice in the row (canonical CSR): the
         * step takes each entry's gradient from the row, still in cache,
         * instead of through gacc (one array fewer read and written at
         * random per stored value); the same values, as gacc[j] would hold
         * 0 + dl x_j */
        int direct = B == 1 && !scaled;
        for (r = start; r < end; r++) {
            const int64_t i = order ? order[r] : r;
            const double s = sw ? sw[i] : 1.0;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            double p = 0.0, l, dl;
            FN(csr_prefetch_ahead)(data, indices, indptr, y, sw, order, n, r, params, last,
                                   pf_cols);
            batch_weight += s;
            if (s == 0.0) continue;
            for (q = lo; q < hi; q++) {
                j = (int64_t)indices[q];
                if (last[j] <= t) { /* first time in this step: catch up, list it */
                    if (cum)
                        params[j] = (REAL)fgd_l1_cum_catch_up((double)params[j], &qcum[j], TU,
                                                              Tu, Ts, last[j] - t0, t - t0);
                    else if (scaled)
                        FN(csr_catch_up_scaled)(c, params, snap, j, U);
                    else
                        FN(csr_lanes_add)(&lanes, &L, params, state, D, gsum, asum, j,
                                          last[j], t);
                    last[j] = t + 1;
                    cols[nc++] = j;
                } else {
                    direct = 0;
                }
            }
            FN(csr_lanes_flush)(&lanes, &L, params, state, D, gsum, t);
            p = FN(csr_row_dot)(data, indices, lo, hi, params);
            if (scaled) p *= scale;
            p += (double)params[d];
            l = fgd_loss_and_deriv(c->loss, c->loss_param, y[i], p, &dl);
            if (!isfinite(l) || !isfinite(p)) {
                abort_flag = 1;
                break;
            }
            loss_sum += s * l;
            weight_sum += s;
            dl *= s;
            if (direct) {
                lo1 = lo;
                hi1 = hi;
                dl1 = dl;
                gb += dl;
            } else if (dl != 0.0) {
                for (q = lo; q < hi; q++) gacc[indices[q]] += dl * (double)data[q];
                gb += dl;
            }
        }
        if (abort_flag) {
            if (!direct)
                for (k = 0; k < nc; k++) gacc[cols[k]] = 0.0;
            break;
        }
        if (batch_weight > 0.0) {
            const int64_t it = t - t0;
            const double lr = L.lr[it], inv_m = 1.0 / (double)m;
            const double pc[2] = {L.pc0[it], L.pc1[it]};
            if (scaled) {
                /* w = scale v: w - lr (g + l2 w) = scale' v - lr g, scale' = scale (1 - lr l2) */
                double thr = 0.0;
                scale *= 1.0 - lr * c->l2;
                if (c->l1 > 0.0) {
                    thr = c->l1 * lr / scale;
                    U += thr;
                }
                if (cum) {
                    u += c->l1 * lr;
                    TU[it + 1] = U;
                    Tu[it + 1] = u;
                    Ts[it + 1] = scale;
                }
                for (k = 0; k < nc; k++) {
                    const double g = gacc[cols[k]] * inv_m;
                    double v;
                    j = cols[k];
                    gacc[j] = 0.0;
                    v = (double)params[j];
                    gsum[j] += g;   /* the L2 part: at the end (see fastgd_csr.h) */
                    v -= lr * g / scale;
                    if (cum) {
                        v = fgd_l1_cum_step(v, u, scale, 1.0 / scale, &qcum[j]);
                    } else if (thr > 0.0) {
                        v = fgd_soft(v, thr);
                        snap[j] = U;
                    }
                    params[j] = (REAL)v;
                }
            } else if (direct) {
                for (q = lo1; q < hi1; q++) {
                    j = (int64_t)indices[q];
                    FN(csr_step_coord)(c, L.ns, params, state, D, j,
                                       0.0 + dl1 * (double)data[q], lr, pc, 1, &gsum[j]);
                    if (asum && it >= L.astart) asum[j] += (double)params[j];
                }
            } else {
                for (k = 0; k < nc; k++) {
                    const double g = gacc[cols[k]] * inv_m;
                    j = cols[k];
                    gacc[j] = 0.0;
                    FN(csr_step_coord)(c, L.ns, params, state, D, j, g, lr, pc, 1, &gsum[j]);
                    if (asum && it >= L.astart) asum[j] += (double)params[j];
                }
            }
            if (c->fit_intercept) {
                double w = (double)params[d], st[3];
                st[0] = (double)state[d];
                st[1] = (double)state[D + d];
                st[2] = (double)state[2 * D + d];
                w = fgd_coord_step(c, w, gb * inv_m, st, lr, pc, 0, &gsum[d]);
                params[d] = (REAL)w;
                state[d] = (REAL)st[0];
                state[D + d] = (REAL)st[1];
                state[2 * D + d] = (REAL)st[2];
            }
            if (asum && it >= L.astart) asum[d] += (double)params[d];
            t++;
            lr_last = lr;
            if (scaled && scale < FGD_MIN_SCALE) {
                /* fold the scale back into every column before it underflows */
                if (cum) {   /* every column up to date, the tables from scale 1 */
                    for (j = 0; j < d; j++) {
                        params[j] = (REAL)(scale * fgd_l1_cum_catch_up(
                                                       (double)params[j], &qcum[j], TU, Tu,
                                                       Ts, last[j] - t0, t - t0));
                        last[j] = t;
                    }
                    TU[t - t0] = 0.0;
                    Ts[t - t0] = 1.0;
                } else {
                    FN(csr_fold_scale)(c, params, snap, d, scale, U);
                }
                scale = 1.0;
                U = 0.0;
            }
        } else {
            /* no step: the listed columns are up to date at step t */
            for (k = 0; k < nc; k++) {
                if (!direct) gacc[cols[k]] = 0.0;
                last[cols[k]] = t;
            }
        }
    }

    /* End of the epoch: every column up to date, the model complete. */
    if (cum) c->l1_cum[d] = u;
    if (!abort_flag) {
        if (scaled && nb > 0) {
            /* one pass: the fold and gsum's approximate L2 part (see
             * fastgd_csr.h), or with c->end_sums the end sums; the
             * cumulative L1 penalty's catch-up first */
            const double l2v = c->l2 * (double)(t - t0) * scale;   /* on v: l2 (steps) w */
            const double l1s = cum ? 0.0 : c->l1;
            if (cum)
                for (j = 0; j < d; j++)
                    params[j] = (REAL)fgd_l1_cum_catch_up((double)params[j], &qcum[j], TU, Tu,
                                                          Ts, last[j] - t0, t - t0);
            if (c->end_sums)
                FN(csr_scaled_end_sums)(params, snap, gsum, d, scale, U, l1s, l2v, 0.0, 0.0,
                                        &end);
            else
                for (j = 0; j < d; j++)
                    FN(csr_scaled_end_coord)(params, snap, gsum, j, scale, U, l1s, l2v, 0.0, 0.0,
                                             &gsum[j]);
        } else if (!scaled && !(L.mode == FGD_LAZY_IDENTITY && !end_asum)) {
            /* (see csr_catch_up) */
            lanes.on = fgd_lazy_lanes_apply(&L, end_asum);
            for (j = 0; j < d; j++)
                FN(csr_lanes_add)(&lanes, &L, params, state, D, gsum, end_asum, j, last[j], t);
            FN(csr_lanes_flush)(&lanes, &L, params, state, D, gsum, t);
        }
        if (asum) FN(csr_average_end)(avg, asum, D, t, c->average_start);
    }
    fgd_finish_stats(stats, loss_sum, weight_sum, t0, t, lr_last, abort_flag);
    if (end.end_sums && !abort_flag) {
        stats->end_sums = 1;
        stats->coef_sq = end.coef_sq;
        stats->coef_abs = end.coef_abs;
        stats->gsum_sq = end.gsum_sq;
    }
    return 0;
}

#undef FN
