/*
 * csr_multinomial_impl.h -- the multinomial (softmax cross-entropy) epoch
 * over CSR rows, written once and instantiated by epoch_csr.c for REAL in
 * {double, float} x INDEX in {int32_t, int64_t} (SFX names the pair).
 *
 * The model layout is that of epoch_multinomial.h: (d+1) x K row-major,
 * feature j's K weights contiguous at params[j K .. j K + K - 1], the
 * intercepts last; optimizer state and gsum the same flat layout. A step
 * is that of the dense multinomial loop, with the lazy updates of the binary
 * CSR loop (csr_impl.h): a feature absent from a step keeps its K weights
 * untouched until a row next needs it, then lazy.h brings each of them up
 * to date (all K share the feature's step counter last[j]); at the end of
 * the epoch every feature is. Work per step: K times the batch's non-zeros,
 * plus the catch-up (O(1) per coordinate except in LOOP mode).
 *
 * Plain SGD without L1 (lazy modes IDENTITY and SCALED, no averaging) takes
 * a fused loop (csr_mn_sgd_rows): w = scale * v over all
 * (d+1) K weights, as in the binary csr_sgd_rows, so a row costs its K
 * margins and K updates per stored value and nothing else. Otherwise plain
 * SGD with a penalty uses the per-coordinate closed form SGD_CLOSED, or the
 * replay where that leaves its range. One thread. Mini-batches that touch
 * most columns take dense steps instead (csr_mn_dense_rows/_update, on
 * cfg->n_threads threads; fastgd_csr.h).
 */

#define FN(name) FGD_CAT(name, SFX)   /* as in csr_impl.h, included just before */

#define FGD_MN_IDX INDEX
#include "mn_margins_impl.h"
#undef FGD_MN_IDX

/* The fused loop for plain SGD without L1 (see above): a mini-batch takes
 * its rows' margins first (the weights at the start of the step), keeps
 * each row's K weighted loss derivatives / m in dlbuf (B K doubles; at
 * batch_size 1 the margins' own buffer), then updates from the rows. gsum
 * gets the loss part per stored value and the L2 part exactly, as the
 * binary csr_sgd_rows takes it (a factor per step on each entry's part, the
 * rest at the end and at a fold). The end is one pass (csr_scaled_end_coord,
 * as csr_sgd_rows'), which with cfg->end_sums takes the end sums into *end
 * and clears gsum. Returns the step counter. */
static int64_t FN(csr_mn_sgd_rows)(const REAL *data, const INDEX *indices,
                                   const INDEX *indptr, int64_t n, int64_t d, int64_t K,
                                   const double *y, const double *sw, const int64_t *order,
                                   REAL *params, double *gsum, const fgd_config *c,
                                   const fgd_lazy *L, int64_t t0, int64_t B, double *dlbuf,
                                   double *p, double *gb, double *loss_sum,
                                   double *weight_sum, double *lr_last, int *abort,
                                   fgd_stats *end)
{
    const int64_t DK = d * K, nb = (n + B - 1) / B;
    double scale = 1.0, A = 0.0;   /* A: the sum of the steps' scales (csr_sgd_rows) */
    int64_t t = t0, r, q, k, b;
    for (b = 0; b < nb; b++) {
        const int64_t start = b * B, end = start + B < n ? start + B : n;
        const double inv_m = 1.0 / (double)(end - start);
        double batch_weight = 0.0, lr, l2A;
        for (k = 0; k < K; k++) gb[k] = 0.0;
        /* the margins and loss derivatives of the batch's rows */
        for (r = start; r < end; r++) {
            const int64_t i = order ? order[r] : r;
            const double s = sw ? sw[i] : 1.0;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            double *dl = B == 1 ? p : dlbuf + (r - start) * K, l;
            FN(csr_prefetch_ahead)(data, indices, indptr, y, sw, order, n, r, params, NULL, 0);
            batch_weight += s;
            for (k = 0; k < K; k++) dl[k] = 0.0;
            if (s == 0.0) continue;
#define FGD_MN_MARGINS(k0, KB) \
    FN(fgd_mn_margin_block)(data, indices, lo, hi, 0, K, params, (const REAL *)NULL, k0, KB, dl)
            FGD_MN_BY_BLOCKS(K, FGD_MN_MARGINS);
#undef FGD_MN_MARGINS
            for (k = 0; k < K; k++) dl[k] = scale * dl[k] + (double)params[DK + k];
            l = fgd_softmax_loss_and_deriv(dl, K, (int64_t)y[i], s);
            if (!isfinite(l)) {
                *abort = 1;
                break;
            }
            *loss_sum += s * l;
            *weight_sum += s;
            for (k = 0; k < K; k++) {
                dl[k] *= inv_m;
                gb[k] += dl[k];
            }
        }
        if (*abort) break;
        if (!(batch_weight > 0.0)) continue;   /* a batch of weight zero: no step */
        lr = L->lr[t - t0];
        /* w - lr (g + l2 w) = scale' v - lr g with scale' = scale (1 - lr l2) */
        A += scale;
        scale *= 1.0 - lr * c->l2;
        l2A = c->l2 * A;
        for (r = start; r < end; r++) {
            const int64_t i = order ? order[r] : r;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            const double *dl = B == 1 ? p : dlbuf + (r - start) * K;
            for (q = lo; q < hi; q++) {
                const double x = (double)data[q];
                const int64_t j0 = (int64_t)indices[q] * K;
                const double step = lr * x / scale, xg = x * (1.0 + l2A * lr / scale);
                for (k = 0; k < K; k++) {
                    const double old = (double)params[j0 + k];
                    const REAL stored = (REAL)(old - step * dl[k]);
                    /* the L2 part (float32: from the change as stored; csr_sgd_rows) */
                    gsum[j0 + k] += FGD_IS_F32(REAL) ? dl[k] * x - l2A * ((double)stored - old)
                                                     : dl[k] * xg;
                    params[j0 + k] = stored;
                }
            }
        }
        if (c->fit_intercept)
            for (k = 0; k < K; k++) {
                gsum[DK + k] += gb[k];
                params[DK + k] = (REAL)((double)params[DK + k] - lr * gb[k]);
            }
        t++;
        *lr_last = lr;
        if (scale < FGD_MIN_SCALE) {
            for (q = 0; q < DK; q++) gsum[q] += c->l2 * A * (double)params[q];
            A = 0.0;
            FN(csr_fold_scale)(c, params, NULL, DK, scale, 0.0);
            scale = 1.0;
        }
    }
    if (!*abort) {
        /* w = scale v, and the rest of the L2 part: l2 A v */
        const double l2v = c->l2 * A;
        if (c->end_sums) {
            double g2 = 0.0;
            FN(csr_scaled_end_sums)(params, NULL, gsum, DK, scale, 0.0, 0.0, l2v, 0.0, 0.0,
                                    end);
            for (k = 1; k < K; k++) {   /* (the first intercept's is in already) */
                g2 += gsum[DK + k] * gsum[DK + k];
                gsum[DK + k] = 0.0;
            }
            end->gsum_sq += g2;
        } else {
            for (q = 0; q < DK; q++)
                FN(csr_scaled_end_coord)(params, NULL, gsum, q, scale, 0.0, 0.0, l2v, 0.0, 0.0,
                                         &gsum[q]);
        }
    }
    return t;
}

/* Dense steps (fastgd_csr.h) of the softmax model, run by csr_dense_run.
 * Phase 1: rows [r0, r1): K margins, softmax loss and derivatives, the
 * gradient scattered into the thread's buffer (formed in REAL as the dense
 * softmax loop's fgd_mn_grad_block forms it). */
static int FN(csr_mn_dense_rows)(void *ctx, int tid, int nt, int64_t start, int64_t r0,
                                 int64_t r1, double *loss, double *weight)
{
    const FN(csr_dense_ctx) *k = (const FN(csr_dense_ctx) *)ctx;
    const int64_t K = k->K, DK = k->d * K;
    const REAL *params = k->params;
    REAL *gb = k->gbuf + (int64_t)tid * (DK + K);
    double *p = k->pbuf + (int64_t)tid * K;
    int64_t r, q, kk;
    (void)start;
    (void)nt;
    for (r = r0; r < r1; r++) {
        const int64_t i = k->order ? k->order[r] : r;
        const double s = k->sw ? k->sw[i] : 1.0;
        const int64_t lo = (int64_t)k->indptr[i], hi = (int64_t)k->indptr[i + 1];
        double l;
        FN(csr_prefetch_ahead)(k->data, k->indices, k->indptr, k->y, k->sw, k->order, r1, r,
                               params, NULL, 0);
        if (s == 0.0) continue;
#define FGD_MN_MARGINS(k0, KB) \
    FN(fgd_mn_margin_block)(k->data, k->indices, lo, hi, 0, K, params, params + DK, k0, KB, p)
        FGD_MN_BY_BLOCKS(K, FGD_MN_MARGINS);
#undef FGD_MN_MARGINS
        l = fgd_softmax_loss_and_deriv(p, K, (int64_t)k->y[i], s);
        if (!isfinite(l)) return 1;
        *loss += s * l;
        *weight += s;
        for (q = lo; q < hi; q++) {
            const REAL x = k->data[q];
            REAL *g = gb + (int64_t)k->indices[q] * K;
            for (kk = 0; kk < K; kk++) g[kk] += (REAL)p[kk] * x;
        }
        for (kk = 0; kk < K; kk++) gb[DK + kk] += (REAL)p[kk];
    }
    return 0;
}

/* Phase 2: every coordinate of [lo, hi), as the dense softmax loop. */
static void FN(csr_mn_dense_update)(void *ctx, int nt, int64_t lo, int64_t hi, double inv_m,
                                    double lr, const double *pc, int64_t t)
{
    const FN(csr_dense_ctx) *k = (const FN(csr_dense_ctx) *)ctx;
    FGD_CSR_MN_DENSE_STEP(k->c, k->params, k->state, k->gbuf, k->gsum, k->avg, nt, k->d, k->K,
                          lo, hi, inv_m, lr, pc, t);
}

int FN(fgd_epoch_csr_multinomial)(const REAL *data, const INDEX *indices,
                                   const INDEX *indptr, int64_t n, int64_t d, int64_t K,
                                   const double *y, const double *sw, const int64_t *order,
                                   REAL *params, REAL *state, double *gsum, REAL *avg,
                                   const fgd_config *c, int64_t t0,
                                   const fgd_csr_scratch *scr, double *pbuf,
                                   fgd_stats *stats)
{
    const int64_t P = (d + 1) * K, DK = d * K;
    const int64_t B = c->batch_size;
    const int64_t nb = B > 0 ? (n + B - 1) / B : 0;
    int64_t *last = scr->last, *cols = scr->cols;
    double *gacc = scr->gacc;   /* d K gradient accumulators, zero on entry */
    double *asum = avg && c->average_start >= 0 ? scr->asum : NULL;
    double *p = pbuf, *gb = pbuf + K;   /* margins, intercept gradient */
    fgd_lazy L;
    FN(csr_lanes) lanes;
    int64_t t = t0, b, r, j, q, k;
    double loss_sum = 0.0, weight_sum = 0.0, lr_last = 0.0;
    int abort_flag = 0;

    if (n < 0 || d < 0 || K < 2 || B <= 0 || c->optimizer < 0 ||
        c->optimizer >= FGD_N_OPTIMIZERS || c->optimizer == FGD_FTRL ||
        c->schedule < 0 || c->schedule >= FGD_N_SCHEDULES || c->l1_cum || scr->nsteps < nb ||
        scr->table_rows < fgd_lazy_table_rows(c) ||
        (avg && c->average_start >= 0 && !scr->asum))
        return -1;
    for (r = 0; r < n; r++) {   /* every label a class index, before any step */
        const double yi = y[order ? order[r] : r];
        if (!(yi >= 0.0 && yi < (double)K && yi == (double)(int64_t)yi)) return -1;
    }
    fgd_lazy_setup(&L, c, t0, nb, scr->tables, sizeof(REAL) == sizeof(float));
    if (scr->gbuf && B > 1 && scr->fill >= fgd_lazy_dense_fill(&L, c)) {   /* dense steps */
        FN(csr_dense_run)(data, indices, indptr, n, d, K, y, sw, order, params, state, gsum,
                          avg, pbuf, c, t0, scr, FN(csr_mn_dense_rows),
                          FN(csr_mn_dense_update), stats);
        return 0;
    }
    if ((B == 1 || scr->rowbuf) && !asum && c->l1 == 0.0 && c->optimizer == FGD_SGD &&
        c->hyper[0] == 0.0 && (L.mode == FGD_LAZY_SCALED || L.mode == FGD_LAZY_IDENTITY)) {
        fgd_stats end;
        end.end_sums = 0;
        t = FN(csr_mn_sgd_rows)(data, indices, indptr, n, d, K, y, sw, order, params, gsum, c,
                                &L, t0, B, scr->rowbuf, p, gb, &loss_sum, &weight_sum,
                                &lr_last, &abort_flag, &end);
        fgd_finish_stats(stats, loss_sum, weight_sum, t0, t, lr_last, abort_flag);
        if (end.end_sums && !abort_flag) {
            stats->end_sums = 1;
            stats->coef_sq = end.coef_sq;
            stats->coef_abs = end.coef_abs;
            stats->gsum_sq = end.gsum_sq;
        }
        return 0;
    }
    if (L.mode == FGD_LAZY_SCALED && !fgd_lazy_closed_sgd(&L, scr->tables, 1))
        L.mode = FGD_LAZY_LOOP;
    for (j = 0; j < d; j++) last[j] = t0;
    if (asum) FN(csr_average_begin)(avg, asum, P, t0, c->average_start);
    lanes.n = 0;
    lanes.on = fgd_lazy_lanes_apply(&L, asum);

    for (b = 0; b < nb && !abort_flag; b++) {
        const int64_t start = b * B, end = start + B < n ? start + B : n;
        const int64_t m = end - start;
        double batch_weight = 0.0;
        int64_t nc = 0;
        for (k = 0; k < K; k++) gb[k] = 0.0;
        for (r = start; r < end; r++) {
            const int64_t i = order ? order[r] : r;
            const double s = sw ? sw[i] : 1.0;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            double l;
            FN(csr_prefetch_ahead)(data, indices, indptr, y, sw, order, n, r, params, last, 0);
            batch_weight += s;
            if (s == 0.0) continue;
            /* the row's features up to date (first time in this step: list them) */
            for (q = lo; q < hi; q++) {
                j = (int64_t)indices[q];
                if (last[j] <= t) {
                    for (k = 0; k < K; k++)
                        FN(csr_lanes_add)(&lanes, &L, params, state, P, gsum, asum, j * K + k,
                                          last[j], t);
                    last[j] = t + 1;
                    cols[nc++] = j;
                }
            }
            FN(csr_lanes_flush)(&lanes, &L, params, state, P, gsum, t);
            /* margins in the dense loop's order: intercepts, then features */
#define FGD_MN_MARGINS(k0, KB) \
    FN(fgd_mn_margin_block)(data, indices, lo, hi, 0, K, params, params + DK, k0, KB, p)
            FGD_MN_BY_BLOCKS(K, FGD_MN_MARGINS);
#undef FGD_MN_MARGINS
            l = fgd_softmax_loss_and_deriv(p, K, (int64_t)y[i], s);
            if (!isfinite(l)) {
                abort_flag = 1;
                break;
            }
            loss_sum += s * l;
            weight_sum += s;
            for (q = lo; q < hi; q++) {
                const double x = (double)data[q];
                double *g = gacc + (int64_t)indices[q] * K;
                for (k = 0; k < K; k++) g[k] += p[k] * x;
            }
            for (k = 0; k < K; k++) gb[k] += p[k];
        }
        if (abort_flag) {
            for (r = 0; r < nc; r++)
                for (k = 0; k < K; k++) gacc[cols[r] * K + k] = 0.0;
            break;
        }
        if (batch_weight > 0.0) {
            const int64_t it = t - t0;
            const double lr = L.lr[it], inv_m = 1.0 / (double)m;
            const double pc[2] = {L.pc0[it], L.pc1[it]};
            for (r = 0; r < nc; r++) {
                const int64_t j0 = cols[r] * K;
                for (k = j0; k < j0 + K; k++) {
                    const double g = gacc[k] * inv_m;
                    gacc[k] = 0.0;
                    FN(csr_step_coord)(c, L.ns, params, state, P, k, g, lr, pc, 1, &gsum[k]);
                    if (asum && it >= L.astart) asum[k] += (double)params[k];
                }
            }
            if (c->fit_intercept)
                for (k = 0; k < K; k++)
                    FN(csr_step_coord)(c, L.ns, params, state, P, DK + k, gb[k] * inv_m, lr,
                                       pc, 0, &gsum[DK + k]);
            if (asum && it >= L.astart)
                for (k = DK; k < P; k++) asum[k] += (double)params[k];
            t++;
            lr_last = lr;
        } else {
            /* no step: the listed features are up to date at step t */
            for (r = 0; r < nc; r++) {
                for (k = 0; k < K; k++) gacc[cols[r] * K + k] = 0.0;
                last[cols[r]] = t;
            }
        }
    }

    /* End of the epoch: every feature up to date, the model complete. */
    if (!abort_flag) {
        for (j = 0; j < d; j++)
            for (k = 0; k < K; k++)
                FN(csr_lanes_add)(&lanes, &L, params, state, P, gsum, asum, j * K + k,
                                  last[j], t);
        FN(csr_lanes_flush)(&lanes, &L, params, state, P, gsum, t);
        if (asum) FN(csr_average_end)(avg, asum, P, t, c->average_start);
    }
    fgd_finish_stats(stats, loss_sum, weight_sum, t0, t, lr_last, abort_flag);
    return 0;
}

#undef FN
