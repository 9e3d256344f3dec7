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
 * Plain SGD with a penalty (lazy mode SCALED) uses the per-coordinate
 * closed form SGD_CLOSED, or the replay where that leaves its range: one
 * global weight scale would serve too, but the multinomial loop is kept to
 * the general catch-up. One thread.
 */

#define FN(name) FGD_CAT(name, SFX)   /* as in csr_impl.h, included just before */

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
    int64_t t = t0, b, r, j, q, k;
    double loss_sum = 0.0, weight_sum = 0.0, lr_last = 0.0;
    int abort_flag = 0;

    if (n < 0 || d < 0 || K < 2 || B <= 0 || c->optimizer < 0 ||
        c->optimizer >= FGD_N_OPTIMIZERS || c->optimizer == FGD_FTRL ||
        c->schedule < 0 || c->schedule >= FGD_N_SCHEDULES || scr->nsteps < nb ||
        (avg && c->average_start >= 0 && !scr->asum))
        return -1;
    for (r = 0; r < n; r++) {   /* every label a class index, before any step */
        const double yi = y[order ? order[r] : r];
        if (!(yi >= 0.0 && yi < (double)K && yi == (double)(int64_t)yi)) return -1;
    }
    fgd_lazy_setup(&L, c, t0, nb, scr->tables, sizeof(REAL) == sizeof(float));
    if (L.mode == FGD_LAZY_SCALED && !fgd_lazy_closed_sgd(&L, scr->tables))
        L.mode = FGD_LAZY_LOOP;
    for (j = 0; j < d; j++) last[j] = t0;
    if (asum) {
        const double m0 = t0 > c->average_start ? (double)(t0 - c->average_start) : 0.0;
        for (j = 0; j < P; j++) asum[j] = m0 * (double)avg[j];
    }

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
                        FN(csr_catch_up)(&L, params, state, P, gsum, asum, j * K + k,
                                         last[j], t);
                    last[j] = t + 1;
                    cols[nc++] = j;
                }
            }
            /* margins in the dense loop's order: intercepts, then features */
            for (k = 0; k < K; k++) p[k] = (double)params[DK + k];
            for (q = lo; q < hi; q++) {
                const double x = (double)data[q];
                const REAL *wr = params + (int64_t)indices[q] * K;
                for (k = 0; k < K; k++) p[k] += x * (double)wr[k];
            }
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
                FN(csr_catch_up)(&L, params, state, P, gsum, asum, j * K + k, last[j], t);
        if (asum && t > c->average_start) {
            const double inv = 1.0 / (double)(t - c->average_start);
            for (j = 0; j < P; j++) avg[j] = (REAL)(asum[j] * inv);
        }
    }
    fgd_finish_stats(stats, loss_sum, weight_sum, t0, t, lr_last, abort_flag);
    return 0;
}

#undef FN
