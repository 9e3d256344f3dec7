/*
 * multinomial_impl.h -- the multinomial epoch loop, written once and
 * instantiated for float and double by epoch_multinomial.c (which defines
 * REAL and SFX). The mini-batch loop is the shared fgd_run_batches
 * (epoch_common.h), as for the dense binary model; phase 1 here is K
 * margins, softmax and the gradient into the thread's own buffer while the
 * row is in cache; phase 2 splits the (d+1) K coordinates over the threads
 * (sum the buffers in thread order, penalty, optim.h rule, L1 prox).
 */

#define FGD_MN_CAT_(a, b) a##_##b
#define FGD_MN_CAT(a, b) FGD_MN_CAT_(a, b)
#define FN(name) FGD_MN_CAT(name, SFX)

#define FGD_MN_IDX int64_t
#include "mn_margins_impl.h"
#undef FGD_MN_IDX

/* gb[j K + k0 + kk] += p[k0 + kk] x_j for every feature j, and the
 * intercepts' gb[d K + k0 + kk] += p[k0 + kk], kk < KB. */
FGD_MN_INLINE void FN(fgd_mn_grad_block)(const REAL *x, int64_t d, int64_t K, const double *p,
                                         int64_t k0, int KB, REAL *gb)
{
    REAL pk[FGD_MN_KB];
    int64_t j;
    int kk;
    for (kk = 0; kk < KB; kk++) pk[kk] = (REAL)p[k0 + kk];
    for (j = 0; j < d; j++) {
        const REAL xj = x[j];
        REAL *g = gb + j * K + k0;
        if (xj == 0) continue;
        for (kk = 0; kk < KB; kk++) g[kk] += pk[kk] * xj;
    }
    for (kk = 0; kk < KB; kk++) gb[d * K + k0 + kk] += pk[kk];
}

/* Phase 1 for one row: margins into p, then p <- s (softmax(p) - onehot(c)),
 * the loss derivative in each margin, accumulated into the gradient gb.
 * Returns the loss logsumexp(p) - p_c (NaN/inf when the margins are). */
FGD_CLONES static double FN(fgd_mn_row)(const REAL *x, int64_t d, int64_t K, const REAL *W,
                             int64_t label, double s, double *p, REAL *gb)
{
    double l;
#define FGD_MN_MARGINS(k0, KB) \
    FN(fgd_mn_margin_block)(x, (const int64_t *)NULL, 0, d, 1, K, W, W + d * K, k0, KB, p)
#define FGD_MN_GRAD(k0, KB) FN(fgd_mn_grad_block)(x, d, K, p, k0, KB, gb)
    FGD_MN_BY_BLOCKS(K, FGD_MN_MARGINS);
    l = fgd_softmax_loss_and_deriv(p, K, label, s);
    if (!isfinite(l)) return l;
    FGD_MN_BY_BLOCKS(K, FGD_MN_GRAD);
#undef FGD_MN_MARGINS
#undef FGD_MN_GRAD
    return l;
}

/* Phase 2 for flat coordinates [lo, hi) of the (d+1) x K model: gather the
 * gradient, add the penalty (coefficients only: index < DK), update. The
 * same steps, in the same order, as the binary core and the reference:
 * record g + l2 w in gsum, add l2g w to g (l2g = l2, or 0 for decoupled
 * decay), multiply w by decay (1, or 1 - lr l2), apply the rule, then the
 * L1 soft-threshold by l1 * eta. Coordinates go in chunks: the gradient of
 * a chunk is gathered first, then one loop per optimizer (the switch is
 * outside the loop) runs over its coefficients and then its intercepts. */
#define FGD_MN_CHUNK 256
#define FGD_MN_SEGMENT(NS, PEN, L1, RULE)                                         \
    do {                                                                        \
        int64_t j;                                                              \
        for (j = a; j < b; j++) {                                               \
            double gj = g[j - j0], wj = (double)w[j], eta, s[3];                \
            s[0] = (NS) > 0 ? (double)state[j] : 0.0;                           \
            s[1] = (NS) > 1 ? (double)state[P + j] : 0.0;                       \
            s[2] = (NS) > 2 ? (double)state[2 * P + j] : 0.0;                   \
            if (PEN) {                                                          \
                gsum[j] += gj + l2 * wj;                                        \
                gj += l2g * wj;                                                 \
                wj *= decay;                                                    \
            } else {                                                            \
                gsum[j] += gj;                                                  \
            }                                                                   \
            wj = (RULE);                                                        \
            if ((PEN) && (L1)) {                                                \
                const double thr = l1 * eta;                                    \
                wj = wj > thr ? wj - thr : (wj < -thr ? wj + thr : 0.0);        \
            }                                                                   \
            w[j] = (REAL)wj;                                                    \
            if ((NS) > 0) state[j] = (REAL)s[0];                                \
            if ((NS) > 1) state[P + j] = (REAL)s[1];                            \
            if ((NS) > 2) state[2 * P + j] = (REAL)s[2];                        \
        }                                                                       \
    } while (0)
/* one loop for the coefficients, one for the intercepts: PEN and L1 are
 * constants (a run-time L1 test inside the loop kept it scalar: Adam's
 * update took 3x Adagrad's per coordinate) */
#define FGD_MN_RUN(NS, RULE)                                                    \
    do {                                                                        \
        if (pen && has_l1) FGD_MN_SEGMENT(NS, 1, 1, RULE);                      \
        else if (pen) FGD_MN_SEGMENT(NS, 1, 0, RULE);                           \
        else FGD_MN_SEGMENT(NS, 0, 0, RULE);                                    \
    } while (0)

FGD_CLONES static void FN(fgd_mn_update_range)(const fgd_config *c, REAL *restrict w,
                                    REAL *restrict state, REAL *restrict gbuf, int nt,
                                    int64_t P, int64_t DK, int64_t lo, int64_t hi,
                                    double inv_m, double lr, const double *pc,
                                    double *restrict gsum)
{
    /* local copies of the hyperparameters and step constants, as in
     * rule_run_impl.h: the compiler then keeps what the rules derive from
     * them out of the loops (it cannot tell that the stores to the model
     * leave the config alone) */
    double h[FGD_N_HYPER], pcl[2];
    const double l2 = c->l2, l1 = c->l1;
    const double l2g = c->l2_decoupled ? 0.0 : l2;
    const double decay = c->l2_decoupled ? 1.0 - lr * l2 : 1.0;
    const int has_l1 = l1 > 0.0;
    double g[FGD_MN_CHUNK];
    int64_t j0;
    for (j0 = 0; j0 < FGD_N_HYPER; j0++) h[j0] = c->hyper[j0];
    pcl[0] = pc[0];
    pcl[1] = pc[1];
    pc = pcl;
    for (j0 = lo; j0 < hi; j0 += FGD_MN_CHUNK) {
        const int64_t j1 = j0 + FGD_MN_CHUNK < hi ? j0 + FGD_MN_CHUNK : hi;
        const int64_t len = j1 - j0;
        int64_t k;
        int tt, seg;
        for (k = 0; k < len; k++) g[k] = 0.0;
        for (tt = 0; tt < nt; tt++) {
            REAL *gb = gbuf + tt * P + j0;
            for (k = 0; k < len; k++) {
                g[k] += (double)gb[k];
                gb[k] = 0;
            }
        }
        for (k = 0; k < len; k++) g[k] *= inv_m;
        /* segment 0: coefficients [j0, min(j1, DK)); 1: intercepts [max(j0, DK), j1) */
        for (seg = 0; seg < 2; seg++) {
            const int pen = seg == 0;
            const int64_t a = pen ? j0 : (j0 > DK ? j0 : DK);
            const int64_t b = pen ? (j1 < DK ? j1 : DK) : j1;
            if (a >= b || (!pen && !c->fit_intercept)) continue;
            switch (c->optimizer) {
            case FGD_SGD:
                if (h[0] == 0.0)   /* no momentum: no state */
                    FGD_MN_RUN(0, (eta = lr, wj - lr * gj));
                else
                    FGD_MN_RUN(1, fgd_rule_sgd(wj, gj, s, h, lr, pc, &eta));
                break;
            case FGD_ADAGRAD:
                FGD_MN_RUN(1, fgd_rule_adagrad(wj, gj, s, h, lr, pc, &eta));
                break;
            case FGD_RMSPROP:
                FGD_MN_RUN(3, fgd_rule_rmsprop(wj, gj, s, h, lr, pc, &eta));
                break;
            case FGD_ADADELTA:
                FGD_MN_RUN(2, fgd_rule_adadelta(wj, gj, s, h, lr, pc, &eta));
                break;
            default:   /* Adam, AdamW */
                FGD_MN_RUN(3, fgd_rule_adam(wj, gj, s, h, lr, pc, &eta));
                break;
            }
        }
    }
}
#undef FGD_MN_SEGMENT
#undef FGD_MN_RUN
#undef FGD_MN_CHUNK

/* The softmax model's two phases for fgd_run_batches (epoch_common.h). */
typedef struct {
    const REAL *X;
    int64_t n, d, K;
    const double *y, *sw;
    const int64_t *order;
    REAL *params, *state, *gbuf, *avg;
    double *pbuf, *gsum;
    const fgd_config *c;
} FN(fgd_mn_ctx);

static int FN(fgd_mn_rows)(void *ctx, int tid, int nt, int64_t start, int64_t r0,
                           int64_t r1, double *loss, double *weight)
{
    const FN(fgd_mn_ctx) *k = (const FN(fgd_mn_ctx) *)ctx;
    const int64_t P = (k->d + 1) * k->K;
    const int64_t rowbytes = k->d * (int64_t)sizeof(REAL), ahead = fgd_prefetch_ahead(rowbytes);
    const int pf = fgd_prefetches_rows(k->order, k->n, rowbytes);
    REAL *gb = k->gbuf + tid * P;
    double *p = k->pbuf + tid * k->K;
    int64_t r;
    if (pf && start == 0)   /* the first rows; later ones `ahead` rows ahead */
        fgd_prefetch_first_rows(k->X, rowbytes, k->order, r0, r1, ahead);
    for (r = r0; r < r1; r++) {
        const int64_t row = k->order ? k->order[r] : r;
        const double s = k->sw ? k->sw[row] : 1.0;
        double l;
        if (pf) {
            const int64_t ip = fgd_row_ahead(k->order, k->n, k->c->batch_size, start, r, r1,
                                             tid, nt, ahead);
            if (ip >= 0) fgd_prefetch_sample(k->X, rowbytes, k->y, k->sw, ip);
        }
        if (s == 0.0) continue;
        l = FN(fgd_mn_row)(k->X + row * k->d, k->d, k->K, k->params, (int64_t)k->y[row], s,
                           p, gb);
        if (!isfinite(l)) return 1;
        *loss += s * l;
        *weight += s;
    }
    return 0;
}

/* Phase 2 (see epoch_multinomial.h): update, then fold into the average. */
void FN(fgd_mn_step_range)(const fgd_config *c, REAL *params, REAL *state, REAL *gbuf,
                           double *gsum, REAL *avg, int nt, int64_t d, int64_t K, int64_t lo,
                           int64_t hi, double inv_m, double lr, const double *pc, int64_t t)
{
    FN(fgd_mn_update_range)(c, params, state, gbuf, nt, (d + 1) * K, d * K, lo, hi, inv_m, lr,
                            pc, gsum);
    if (avg && c->average_start >= 0)
        FN(fgd_average_range)(params, avg, lo, hi, t, c->average_start);
}

static void FN(fgd_mn_update)(void *ctx, int nt, int64_t lo, int64_t hi, double inv_m,
                              double lr, const double *pc, int64_t t)
{
    const FN(fgd_mn_ctx) *k = (const FN(fgd_mn_ctx) *)ctx;
    FN(fgd_mn_step_range)(k->c, k->params, k->state, k->gbuf, k->gsum, k->avg, nt, k->d, k->K,
                          lo, hi, inv_m, lr, pc, t);
}

int FN(fgd_epoch_multinomial)(const REAL *X, int64_t n, int64_t d, int64_t K,
                              const double *y, const double *sw, const int64_t *order,
                              REAL *params, REAL *state, REAL *gbuf, double *pbuf,
                              double *gsum, REAL *avg, const fgd_config *c, int64_t t0,
                              fgd_stats *stats)
{
    FN(fgd_mn_ctx) k;
    fgd_batch_ops ops;
    int64_t i;

    /* Optimizers with a per-coordinate rule of the common signature only. */
    if (n < 0 || d < 0 || K < 1 || c->batch_size <= 0 || c->optimizer < 0 ||
        c->optimizer > FGD_ADAMW || c->schedule < 0 || c->schedule >= FGD_N_SCHEDULES || c->l1_cum)
        return -1;
    for (i = 0; i < n; i++) {
        const double yi = y[order ? order[i] : i];
        if (!(yi >= 0.0 && yi < (double)K && yi == floor(yi))) return -1;
    }
    k.X = X; k.n = n; k.d = d; k.K = K; k.y = y; k.sw = sw; k.order = order;
    k.params = params; k.state = state; k.gbuf = gbuf; k.avg = avg;
    k.pbuf = pbuf; k.gsum = gsum; k.c = c;
    ops.rows = FN(fgd_mn_rows);
    ops.update = FN(fgd_mn_update);
    ops.ctx = &k;
    ops.n_coords = (d + 1) * K;
    ops.scratch = gbuf;
    ops.scratch_bytes = (size_t)ops.n_coords * sizeof(REAL);
    fgd_run_batches(c, n, order, sw, t0, &ops, stats);
    return 0;
}

#undef FN
#undef FGD_MN_CAT
#undef FGD_MN_CAT_
