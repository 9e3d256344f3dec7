/*
 * kernels_impl.h -- the dense epoch loop, written once and instantiated for
 * float and double by epoch_dense.c (which defines REAL, SFX and FGD_LANES).
 *
 * One epoch is a loop over mini-batches: fgd_run_batches (epoch_common.h,
 * shared with the softmax loop), one OpenMP parallel region per epoch, with
 * this file's two phases per batch:
 *
 *   1. rows (fgd_batch_rows): the batch's rows are split into one contiguous
 *      slice per thread; each row is read once for its margin (dot), its
 *      loss derivative, and its gradient contribution (axpy into the
 *      thread's own buffer) while it is in cache.
 *   2. coordinates (fgd_update_range): after a barrier, the d+1 coordinates
 *      are split across threads; each thread sums the per-thread buffers in
 *      thread order (a fixed order: same thread count, same bits), adds the
 *      penalty, applies the optimizer rule and the L1 prox, and zeroes the
 *      buffers.
 *
 * A second barrier closes the step. Nothing here allocates or calls Python.
 *
 * Pure SGD on one thread (batch_size == 1) takes a separate loop,
 * fgd_epoch_single: the gradient of a single row is dl * x, so it is fed to
 * the optimizer rule straight from the row (still in L1) instead of going
 * through the scratch buffer, and the per-batch bookkeeping disappears. It
 * performs the same floating-point operations in the same order as the
 * general loop does at batch_size == 1, so both give the same bits.
 *
 * Speed notes (benchmarks/README.md has the measurements):
 * - the optimizer rules run over runs of FGD_CHUNK coordinates with the
 *   choice of rule, of the state rows it uses and of the L1 prox made once
 *   per run, not per coordinate, so the compiler vectorizes them (sqrt and
 *   division are correctly rounded in SIMD too: no change in results);
 * - the rows the thread will visit next are prefetched (prefetch.h) a few
 *   KB ahead, across batch boundaries, hiding DRAM and TLB latency: in a
 *   shuffled order always (otherwise the cost of pure SGD over a shuffled
 *   order), in storage order where the rows exceed the caches;
 * - the mini-batch loop takes rows in groups of FGD_GROUP: each row's
 *   margin as it is reached, the group's losses in one SIMD loop, then one
 *   pass over the thread's buffer adds the group's gradients (fgd_axpy8),
 *   its last partial vector done as a whole vector instead of a scalar
 *   tail. Same operations in the same order as one row at a time: the same
 *   bits.
 */

#define FGD_CAT_(a, b) a##_##b
#define FGD_CAT(a, b) FGD_CAT_(a, b)
#define FN(name) FGD_CAT(name, SFX)

/* Dot product with FGD_LANES independent accumulators combined in a fixed
 * pairwise order (lane k += lane k + width, for width = FGD_LANES/2, ..., 1),
 * then the d % FGD_LANES trailing products summed in order: without
 * -ffast-math the result does not depend on the instruction set chosen at
 * run time.
 *
 * With GCC/Clang the accumulators are four 32-byte vectors (generic vector
 * extensions: 8 floats or 4 doubles each; FGD_LANES is 32 or 16) and the
 * fold is written with shuffles: written as loops over an array, GCC kept
 * the accumulators on the stack and folded them one scalar lane at a time,
 * a fifth of the mini-batch loop's time. 32 bytes, not 64: the AVX2 clone
 * has 16 vector registers of 32 bytes, and with 64-byte vectors it spilled
 * and ran the mini-batch loop 3x slower than the AVX-512 clone (the
 * AVX-512 clone ran at the same speed either way on AMD Zen 4; on Zen 5,
 * 64-byte vectors were 10% faster on two threads and 10% slower on one,
 * for float64). Both
 * forms add the same lanes in the same order (the same bits). */
#if defined(__GNUC__)
#define FGD_VLANES (FGD_LANES / 4)      /* 8 floats or 4 doubles: 32 bytes */
typedef REAL FN(fgd_vec) __attribute__((vector_size(32)));
typedef REAL FN(fgd_uvec) __attribute__((vector_size(32), aligned(sizeof(REAL)), may_alias));

FGD_INLINE double FN(fgd_dot)(const REAL *x, const REAL *w, int64_t d)
{
    typedef FN(fgd_uvec) uvec;
    FN(fgd_vec) a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, v;
    REAL tail = 0;
    int64_t i = 0;
    for (; i + FGD_LANES <= d; i += FGD_LANES) {
        a0 += *(const uvec *)(x + i) * *(const uvec *)(w + i);
        a1 += *(const uvec *)(x + i + FGD_VLANES) * *(const uvec *)(w + i + FGD_VLANES);
        a2 += *(const uvec *)(x + i + 2 * FGD_VLANES) * *(const uvec *)(w + i + 2 * FGD_VLANES);
        a3 += *(const uvec *)(x + i + 3 * FGD_VLANES) * *(const uvec *)(w + i + 3 * FGD_VLANES);
    }
    for (; i < d; i++) tail += x[i] * w[i];
    /* lanes [a0 a1] + [a2 a3] (width FGD_LANES/2), then a-half + b-half */
    v = (a0 + a2) + (a1 + a3);
#if FGD_VLANES == 8
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 2, 3, 2, 3, 2, 3, 2, 3);
    v += __builtin_shufflevector(v, v, 1, 1, 1, 1, 1, 1, 1, 1);
#else
    v += __builtin_shufflevector(v, v, 2, 3, 2, 3);
    v += __builtin_shufflevector(v, v, 1, 1, 1, 1);
#endif
    return (double)v[0] + (double)tail;
}
#undef FGD_VLANES
#else
FGD_INLINE double FN(fgd_dot)(const REAL *x, const REAL *w, int64_t d)
{
    REAL acc[FGD_LANES];
    REAL tail = 0;
    int64_t i = 0;
    int k, width;
    for (k = 0; k < FGD_LANES; k++) acc[k] = 0;
    for (; i + FGD_LANES <= d; i += FGD_LANES)
        for (k = 0; k < FGD_LANES; k++) acc[k] += x[i + k] * w[i + k];
    for (; i < d; i++) tail += x[i] * w[i];
    for (width = FGD_LANES / 2; width > 0; width /= 2)
        for (k = 0; k < width; k++) acc[k] += acc[k + width];
    return (double)acc[0] + (double)tail;
}
#endif

/* y += a[0] x[0]; ...; y += a[7] x[7] -- the additions of eight axpy calls
 * in the same order (same bits), with y loaded and stored once. In scalar
 * code: */
FGD_INLINE void FN(fgd_axpy8_scalar)(const REAL *a, const REAL *const *x, REAL *y, int64_t d)
{
    int64_t i;
    int k;
    for (i = 0; i < d; i++) {
        REAL v = y[i];
        for (k = 0; k < 8; k++) v += a[k] * x[k][i];
        y[i] = v;
    }
}

#if defined(__GNUC__)
/* y[i..i+VL) after the eight additions, from the y given (VL = fgd_vec's
 * lanes) */
FGD_INLINE FN(fgd_vec) FN(fgd_axpy8_window)(const REAL *a, const REAL *const *x,
                                             const REAL *y, int64_t i)
{
    typedef FN(fgd_uvec) uvec;
    FN(fgd_vec) v = *(const uvec *)(y + i);
    int k;
    for (k = 0; k < 8; k++) v += a[k] * *(const uvec *)(x[k] + i);
    return v;
}

/* ... in vectors: the last d % VL entries as a whole vector ending at d,
 * computed from y before the main loop overwrites the entries it shares
 * with it (both compute the same values there). A scalar tail cost as much
 * as the whole vector loop at d = 100. */
FGD_INLINE void FN(fgd_axpy8)(const REAL *a, const REAL *const *x, REAL *y, int64_t d)
{
    typedef FN(fgd_uvec) uvec;
    const int64_t VL = (int64_t)(sizeof(FN(fgd_vec)) / sizeof(REAL));
    FN(fgd_vec) last;
    int64_t i;
    if (d < VL) {
        FN(fgd_axpy8_scalar)(a, x, y, d);
        return;
    }
    last = FN(fgd_axpy8_window)(a, x, y, d - VL);
    for (i = 0; i + VL <= d; i += VL) *(uvec *)(y + i) = FN(fgd_axpy8_window)(a, x, y, i);
    if (i < d) *(uvec *)(y + d - VL) = last;
}
#else
FGD_INLINE void FN(fgd_axpy8)(const REAL *a, const REAL *const *x, REAL *y, int64_t d)
{
    FN(fgd_axpy8_scalar)(a, x, y, d);
}
#endif

/* The optimizer rules over runs of coordinates (rule_run_impl.h), computing
 * in double: the epoch loops. */
#define RT double
#define FGD_RULE(name) name
#define FGD_RUN_NAME(name) FN(name)
#include "rule_run_impl.h"
#undef RT
#undef FGD_RULE
#undef FGD_RUN_NAME

/* ... and in the parameters' own dtype: the standalone optimizer step
 * (fgd_step_chunk; for double storage the same loops as above). */
#if FGD_REAL_IS_FLOAT
#define RT float
#define FGD_RULE(name) name##_f
#define FGD_RUN_NAME(name) FN(name##_native)
#include "rule_run_impl.h"
#undef RT
#undef FGD_RULE
#undef FGD_RUN_NAME
#define FGD_STEP_CHUNK FN(fgd_rule_chunk_native)
#else
#define FGD_STEP_CHUNK FN(fgd_rule_chunk)
#endif

/* The intercept (coordinate d): never penalized, one coordinate, scalar. */
FGD_INLINE void FN(fgd_update_intercept)(const fgd_config *c, REAL *w, REAL *state,
                                     int64_t D, int64_t d, double g, double lr,
                                     const double *pc, double *gsum)
{
    const double *h = c->hyper;
    double wj, eta, s[3];
    if (!c->fit_intercept) return;
    wj = (double)w[d];
    gsum[d] += g;
    s[0] = (double)state[d];
    s[1] = (double)state[D + d];
    s[2] = (double)state[2 * D + d];
    switch (c->optimizer) {
    case FGD_SGD:      wj = fgd_rule_sgd(wj, g, s, h, lr, pc, &eta); break;
    case FGD_ADAGRAD:  wj = fgd_rule_adagrad(wj, g, s, h, lr, pc, &eta); break;
    case FGD_RMSPROP:  wj = fgd_rule_rmsprop(wj, g, s, h, lr, pc, &eta); break;
    case FGD_ADADELTA: wj = fgd_rule_adadelta(wj, g, s, h, lr, pc, &eta); break;
    case FGD_FTRL:     wj = fgd_rule_ftrl(wj, g, s, h, lr, pc, &eta); break;
    default:           wj = fgd_rule_adam(wj, g, s, h, lr, pc, &eta); break;
    }
    (void)eta;
    w[d] = (REAL)wj;
    state[d] = (REAL)s[0];
    state[D + d] = (REAL)s[1];
    state[2 * D + d] = (REAL)s[2];
}

/* g[k] = (sum over threads, in thread order, of gbuf[tt][j0 + k]) * inv_m;
 * the buffers are left zero. */
FGD_INLINE void FN(fgd_gather)(REAL *gbuf, int nt, int64_t D, int64_t j0,
                                      int64_t j1, double inv_m, double *g)
{
    const int64_t len = j1 - j0;
    int64_t k;
    int tt;
    for (k = 0; k < len; k++) g[k] = 0.0;
    for (tt = 0; tt < nt; tt++) {
        REAL *b = gbuf + tt * D + j0;
        for (k = 0; k < len; k++) {
            g[k] += (double)b[k];
            b[k] = 0;
        }
    }
    for (k = 0; k < len; k++) g[k] *= inv_m;
}

/* Phase 2 for coordinates [lo, hi): gather the gradient, penalize, update. */
FGD_CLONES static void FN(fgd_update_range)(const fgd_config *c, int ns, REAL *w, REAL *state,
                                 REAL *gbuf, int nt, int64_t d, int64_t lo,
                                 int64_t hi, double inv_m, double lr,
                                 const double *pc, double *gsum)
{
    const int64_t D = d + 1, pen_hi = hi < d ? hi : d;
    const double l2g = c->l2_decoupled ? 0.0 : c->l2;
    const double decay = c->l2_decoupled ? 1.0 - lr * c->l2 : 1.0;
    double g[FGD_CHUNK];
    int64_t j0;
    for (j0 = lo; j0 < pen_hi; j0 += FGD_CHUNK) {
        const int64_t j1 = j0 + FGD_CHUNK < pen_hi ? j0 + FGD_CHUNK : pen_hi;
        FN(fgd_gather)(gbuf, nt, D, j0, j1, inv_m, g);
        FN(fgd_rule_chunk)(c, ns, w, state, D, j0, j1, g, NULL, 0, lr, pc, l2g, decay,
                           gsum);
    }
    if (hi > d) {
        FN(fgd_gather)(gbuf, nt, D, d, D, inv_m, g);
        FN(fgd_update_intercept)(c, w, state, D, d, g[0], lr, pc, gsum);
    }
}

/* Pure SGD-style epoch on one thread, batch size 1 (see the file comment). */
FGD_CLONES static void FN(fgd_epoch_single)(const REAL *X, int64_t n, int64_t d, const double *y,
                                 const double *sw, const int64_t *order, REAL *params,
                                 REAL *state, double *gsum, REAL *avg,
                                 const fgd_config *c, int ns, int64_t t0,
                                 fgd_stats *stats)
{
    const int64_t D = d + 1;
    const int64_t rowbytes = d * (int64_t)sizeof(REAL), ahead = fgd_prefetch_ahead(rowbytes);
    double loss_sum = 0.0, weight_sum = 0.0, lr_last = 0.0;
    fgd_loss_queue lq = {{0}};   /* the log-loss values wait here (fgd_row_loss) */
    int64_t t = t0, r;
    int nonfinite = 0;

    if (order) fgd_prefetch_first_rows(X, rowbytes, order, 0, n, ahead);
    for (r = 0; r < n; r++) {
        const int64_t i = order ? order[r] : r;
        const REAL *x = X + i * d;
        const double s = sw ? sw[i] : 1.0;
        double p, dl, lr, pc[2], l2g, decay;
        REAL dlr;
        if (order && r + ahead < n) fgd_prefetch_sample(X, rowbytes, y, sw, order[r + ahead]);
        if (s == 0.0) continue; /* no weight: no step */
        p = FN(fgd_dot)(x, params, d) + (double)params[d];
        if (!fgd_row_loss(c->loss, c->loss_param, y[i], p, s, &lq, &loss_sum, &dl)) {
            nonfinite = 1;
            break;
        }
        weight_sum += s;
        dl = s * dl;
        dlr = (REAL)dl;
        lr = fgd_lr_at(c, t);
        fgd_step_constants(c->optimizer, c->hyper, lr, t + 1, pc);
        if (c->l1_cum) c->l1_cum[d] += c->l1 * lr;   /* the cumulative L1's u */
        l2g = c->l2_decoupled ? 0.0 : c->l2;
        decay = c->l2_decoupled ? 1.0 - lr * c->l2 : 1.0;
        /* the row's gradient dl x is formed inside the rule's loop (dl = 0:
         * exact zeros, as when the mini-batch loop skips the row's axpy) */
        FN(fgd_rule_chunk)(c, ns, params, state, D, 0, d, NULL, x, dl != 0.0 ? dlr : 0,
                           lr, pc, l2g, decay, gsum);
        FN(fgd_update_intercept)(c, params, state, D, d,
                                 dl != 0.0 ? (double)((REAL)0 + dlr) : 0.0, lr, pc, gsum);
        t++;
        if (avg && c->average_start >= 0)
            FN(fgd_average_range)(params, avg, 0, D, t, c->average_start);
        lr_last = lr;
    }
    fgd_loss_queue_flush(&lq, &loss_sum);
    fgd_finish_stats(stats, loss_sum, weight_sum, t0, t, lr_last, nonfinite);
}

/* Phase 1 for rows [r0, r1) (this thread's slice of the batch that starts
 * at `start`): margin, loss and loss derivative of each row, and its
 * gradient added to gb. Returns 1 if a margin or a loss is not finite. */
FGD_CLONES static int FN(fgd_batch_rows)(const REAL *X, int64_t n, int64_t d,
                                         const double *y, const double *sw,
                                         const int64_t *order, const REAL *params,
                                         REAL *gb, const fgd_config *c, int64_t B,
                                         int64_t start, int64_t r0, int64_t r1, int tid,
                                         int nt, double *loss_sum, double *weight_sum)
{
    const int64_t rowbytes = d * (int64_t)sizeof(REAL), ahead = fgd_prefetch_ahead(rowbytes);
    const int pf = fgd_prefetches_rows(order, n, rowbytes);
    double my_loss = *loss_sum, my_weight = *weight_sum;
    /* the intercept's gradient, in a register: as gb[d] += dl in memory it
     * was a store-to-load chain through every row */
    REAL g_icpt = gb[d];
    int64_t r;
    int bad = 0, k;
    if (pf && start == 0)   /* the first rows; later ones `ahead` rows ahead */
        fgd_prefetch_first_rows(X, rowbytes, order, r0, r1, ahead);
    /* Rows go in groups of FGD_GROUP: each row's margin as it is reached
     * (the dot products are independent, and the CPU overlaps them), then
     * the group's losses and derivatives in one SIMD loop, then the
     * gradients of its rows, in order, in one pass over the buffer. (The
     * group's dot products taken two rows at a time, with the lanes folded
     * across rows, measured slower on AMD Zen 5: benchmarks/README.md.) */
    for (r = r0; r < r1 && !bad; r += FGD_GROUP) {
        const int64_t re = r + FGD_GROUP < r1 ? r + FGD_GROUP : r1;
        const REAL *gx[FGD_GROUP];
        double gp[FGD_GROUP], gy[FGD_GROUP], gs[FGD_GROUP], gl[FGD_GROUP], gd[FGD_GROUP];
        REAL ga[FGD_GROUP];
        int64_t q;
        int m = 0;
        for (q = r; q < re; q++) {
            const int64_t i = order ? order[q] : q;
            const double s = sw ? sw[i] : 1.0;
            if (pf) {
                const int64_t ip = fgd_row_ahead(order, n, B, start, q, r1, tid, nt, ahead);
                if (ip >= 0) fgd_prefetch_sample(X, rowbytes, y, sw, ip);
            }
            if (s == 0.0) continue;
            gx[m] = X + i * d;
            gy[m] = y[i];
            gs[m] = s;
            gp[m] = FN(fgd_dot)(gx[m], params, d) + (double)params[d];
            m++;
        }
        if (m == 0) continue;
        for (k = m; k < FGD_GROUP; k++) {   /* empty slots: coefficient 0 below */
            gx[k] = gx[0];
            gy[k] = gp[k] = 0.0;
        }
        fgd_loss_group(c->loss, c->loss_param, gy, gp, gl, gd);
        /* a non-finite margin or loss stops the epoch, which is then undone
         * (fgd_run_batches zeroes gb): the group adds nothing */
        for (k = 0; k < m; k++) bad |= !isfinite(gl[k]) | !isfinite(gp[k]);
        if (bad) break;
        for (k = 0; k < m; k++) {
            my_loss += gs[k] * gl[k];
            my_weight += gs[k];
        }
        /* The gradient of the group's rows, in order. A zero coefficient
         * (a zero derivative, or a padding slot) adds +-0 to a buffer that
         * starts at +0 and so never holds -0: no change, the same bits as
         * leaving the row out. */
        for (k = 0; k < FGD_GROUP; k++) {
            ga[k] = k < m ? (REAL)(gs[k] * gd[k]) : (REAL)0;
            g_icpt += ga[k];
        }
        FN(fgd_axpy8)(ga, gx, gb, d);
    }
    gb[d] = g_icpt;
    *loss_sum = my_loss;
    *weight_sum = my_weight;
    return bad;
}

/* The dense model's two phases for fgd_run_batches. */
typedef struct {
    const REAL *X;
    int64_t n, d;
    const double *y, *sw;
    const int64_t *order;
    REAL *params, *state, *gbuf, *avg;
    double *gsum;
    const fgd_config *c;
    int ns;
} FN(fgd_dense_ctx);

static int FN(fgd_dense_rows)(void *ctx, int tid, int nt, int64_t start, int64_t r0,
                              int64_t r1, double *loss, double *weight)
{
    const FN(fgd_dense_ctx) *k = (const FN(fgd_dense_ctx) *)ctx;
    const int64_t D = k->d + 1;
    return FN(fgd_batch_rows)(k->X, k->n, k->d, k->y, k->sw, k->order, k->params,
                              k->gbuf + tid * D, k->c, k->c->batch_size, start, r0, r1,
                              tid, nt, loss, weight);
}

/* Phase 2 (see fastgd.h): update, then fold into the average. */
void FN(fgd_dense_step_range)(const fgd_config *c, REAL *params, REAL *state, REAL *gbuf,
                              double *gsum, REAL *avg, int nt, int64_t d, int64_t lo,
                              int64_t hi, double inv_m, double lr, const double *pc, int64_t t)
{
    FN(fgd_update_range)(c, fgd_n_state(c->optimizer, c->hyper), params, state, gbuf, nt, d,
                         lo, hi, inv_m, lr, pc, gsum);
    if (avg && c->average_start >= 0)
        FN(fgd_average_range)(params, avg, lo, hi, t, c->average_start);
}

static void FN(fgd_dense_update)(void *ctx, int nt, int64_t lo, int64_t hi, double inv_m,
                                 double lr, const double *pc, int64_t t)
{
    const FN(fgd_dense_ctx) *k = (const FN(fgd_dense_ctx) *)ctx;
    FN(fgd_dense_step_range)(k->c, k->params, k->state, k->gbuf, k->gsum, k->avg, nt, k->d,
                             lo, hi, inv_m, lr, pc, t);
}

int FN(fgd_epoch_dense)(const REAL *X, int64_t n, int64_t d, const double *y,
                        const double *sw, const int64_t *order, REAL *params,
                        REAL *state, REAL *gbuf, double *gsum, REAL *avg,
                        const fgd_config *c, int64_t t0, fgd_stats *stats)
{
    FN(fgd_dense_ctx) k;
    fgd_batch_ops ops;
    if (n < 0 || d < 0 || c->batch_size <= 0 || c->loss < 0 || c->loss >= FGD_N_LOSSES ||
        c->optimizer < 0 || c->optimizer >= FGD_N_OPTIMIZERS ||
        c->schedule < 0 || c->schedule >= FGD_N_SCHEDULES || !fgd_l1_cum_ok(c, 0))
        return -1;
    k.X = X; k.n = n; k.d = d; k.y = y; k.sw = sw; k.order = order;
    k.params = params; k.state = state; k.gbuf = gbuf; k.avg = avg; k.gsum = gsum;
    k.c = c;
    k.ns = fgd_n_state(c->optimizer, c->hyper);
    if (c->batch_size == 1 && c->n_threads <= 1) {
        FN(fgd_epoch_single)(X, n, d, y, sw, order, params, state, gsum, avg, c, k.ns, t0,
                             stats);
        return 0;
    }
    ops.rows = FN(fgd_dense_rows);
    ops.update = FN(fgd_dense_update);
    ops.ctx = &k;
    ops.n_coords = d + 1;
    ops.scratch = gbuf;
    ops.scratch_bytes = (size_t)(d + 1) * sizeof(REAL);
    fgd_run_batches(c, n, order, sw, t0, &ops, stats);
    return 0;
}

/* The optimizer step of fgd_optimizer_step over coordinates [lo, hi), in the
 * parameters' own dtype (FGD_STEP_CHUNK), reading the gradient in place. */
FGD_CLONES static void FN(fgd_step_range)(REAL *params, const REAL *grad, REAL *state,
                                          int64_t stride, int64_t lo, int64_t hi,
                                          const fgd_config *c, int ns, double lr,
                                          const double *pc, double l2g, double decay)
{
    FGD_STEP_CHUNK(c, ns, params, state, stride, lo, hi, grad + lo, NULL, 0, lr, pc, l2g,
                   decay, NULL);
}

/* One optimizer step over a flat parameter vector (see fastgd.h). */
int FN(fgd_optimizer_step)(REAL *params, const REAL *grad, REAL *state, int64_t n,
                           int64_t stride, const fgd_config *c, int64_t t, int n_threads)
{
    const double lr = fgd_lr_at(c, t);
    const double l2g = c->l2_decoupled ? 0.0 : c->l2;
    const double decay = c->l2_decoupled ? 1.0 - lr * c->l2 : 1.0;
    double pc[2];
    int ns;
    if (n < 0 || stride < n || c->optimizer < 0 || c->optimizer >= FGD_N_OPTIMIZERS ||
        c->schedule < 0 || c->schedule >= FGD_N_SCHEDULES)
        return -1;
    if (n_threads < 1) n_threads = 1;
    ns = fgd_n_state(c->optimizer, c->hyper);
    fgd_step_constants(c->optimizer, c->hyper, lr, t + 1, pc);
#ifdef _OPENMP
#pragma omp parallel num_threads(n_threads) if (n_threads > 1 && n >= 65536)
#endif
    {
        const int tid = fgd_thread_num(), nt = fgd_num_threads();
        const int64_t lo = n * tid / nt, hi = n * (tid + 1) / nt;
        FN(fgd_step_range)(params, grad, state, stride, lo, hi, c, ns, lr, pc, l2g, decay);
    }
    return 0;
}

#undef FN
#undef FGD_STEP_CHUNK
