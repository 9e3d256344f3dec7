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

/* Bring column j from step last[j] to step t, in the lazy mode of L. */
static inline void FN(csr_catch_up)(const fgd_lazy *L, REAL *params, REAL *state,
                                    int64_t D, double *gsum, int64_t j, int64_t ta,
                                    int64_t tb)
{
    double w, s[3];
    if (ta >= tb || L->mode == FGD_LAZY_IDENTITY) return;
    w = (double)params[j];
    s[0] = (double)state[j];
    s[1] = (double)state[D + j];
    s[2] = (double)state[2 * D + j];
    fgd_lazy_catch_up(L, &w, s, &gsum[j], ta, tb);
    params[j] = (REAL)w;
    state[j] = (REAL)s[0];
    state[D + j] = (REAL)s[1];
    state[2 * D + j] = (REAL)s[2];
}

/* SCALED mode: bring v_j up to the cumulative threshold U. The L2 part of the
 * skipped steps' gradient is added to gsum as l2 * w * (steps skipped), w
 * taken at the catch-up (history.grad_norm only; documented approximation). */
static inline void FN(csr_catch_up_scaled)(const fgd_config *c, REAL *params, double *gsum,
                                           double *snap, int64_t j, int64_t skipped,
                                           double scale, double U)
{
    double v = (double)params[j];
    if (c->l1 > 0.0) {
        v = fgd_soft(v, U - snap[j]);
        params[j] = (REAL)v;
    }
    snap[j] = U;
    if (skipped > 0) gsum[j] += c->l2 * scale * v * (double)skipped;
}

int FN(fgd_epoch_csr)(const REAL *data, const INDEX *indices, const INDEX *indptr,
                      int64_t n, int64_t d, const double *y, const double *sw,
                      const int64_t *order, REAL *params, REAL *state, double *gsum,
                      const fgd_config *c, int64_t t0, const fgd_csr_scratch *scr,
                      fgd_stats *stats)
{
    const int64_t D = d + 1;
    const int64_t B = c->batch_size;
    const int64_t nb = B > 0 ? (n + B - 1) / B : 0;
    int64_t *last = scr->last, *cols = scr->cols;
    double *gacc = scr->gacc, *snap = scr->snap;
    fgd_lazy L;
    int64_t t = t0, b, r, j, q;
    double loss_sum = 0.0, weight_sum = 0.0, lr_last = 0.0;
    double scale = 1.0, U = 0.0;
    int scaled, abort_flag = 0;

    if (n < 0 || d < 0 || B <= 0 || c->loss < 0 || c->loss >= FGD_N_LOSSES ||
        c->optimizer < 0 || c->optimizer >= FGD_N_OPTIMIZERS ||
        c->schedule < 0 || c->schedule >= FGD_N_SCHEDULES || scr->nsteps < nb)
        return -1;
    fgd_lazy_setup(&L, c, t0, nb, scr->tables, sizeof(REAL) == sizeof(float));
    scaled = L.mode == FGD_LAZY_SCALED;
    for (j = 0; j < d; j++) {
        last[j] = t0;
        snap[j] = 0.0;
    }

    for (b = 0; b < nb && !abort_flag; b++) {
        const int64_t start = b * B, end = start + B < n ? start + B : n;
        const int64_t m = end - start;
        double batch_weight = 0.0, gb = 0.0;
        int64_t nc = 0, k;
        for (r = start; r < end; r++) {
            const int64_t i = order ? order[r] : r;
            const double s = sw ? sw[i] : 1.0;
            const int64_t lo = (int64_t)indptr[i], hi = (int64_t)indptr[i + 1];
            double p = 0.0, l, dl;
            batch_weight += s;
            if (s == 0.0) continue;
            for (q = lo; q < hi; q++) {
                j = (int64_t)indices[q];
                if (last[j] <= t) { /* first time in this step: catch up, list it */
                    if (scaled)
                        FN(csr_catch_up_scaled)(c, params, gsum, snap, j, t - last[j],
                                                scale, U);
                    else
                        FN(csr_catch_up)(&L, params, state, D, gsum, j, last[j], t);
                    last[j] = t + 1;
                    cols[nc++] = j;
                }
                p += (double)data[q] * (double)params[j];
            }
            if (scaled) p *= scale;
            p += (double)params[d];
            l = fgd_loss(c->loss, c->loss_param, y[i], p);
            if (!isfinite(l) || !isfinite(p)) {
                abort_flag = 1;
                break;
            }
            loss_sum += s * l;
            weight_sum += s;
            dl = s * fgd_dloss(c->loss, c->loss_param, y[i], p);
            if (dl != 0.0) {
                for (q = lo; q < hi; q++) gacc[indices[q]] += dl * (double)data[q];
                gb += dl;
            }
        }
        if (abort_flag) {
            for (k = 0; k < nc; k++) gacc[cols[k]] = 0.0;
            break;
        }
        if (batch_weight > 0.0) {
            const int64_t it = t - t0;
            const double lr = L.lr[it], inv_m = 1.0 / (double)m;
            const double pc[2] = {L.pc0[it], L.pc1[it]};
            if (scaled) {
                /* w = scale v: w - lr (g + l2 w) = scale' v - lr g, scale' = scale (1 - lr l2) */
                const double old_scale = scale;
                double thr = 0.0;
                scale *= 1.0 - lr * c->l2;
                if (c->l1 > 0.0) {
                    thr = c->l1 * lr / scale;
                    U += thr;
                }
                for (k = 0; k < nc; k++) {
                    const double g = gacc[cols[k]] * inv_m;
                    double v;
                    j = cols[k];
                    gacc[j] = 0.0;
                    v = (double)params[j];
                    gsum[j] += g + c->l2 * old_scale * v;
                    v -= lr * g / scale;
                    if (thr > 0.0) {
                        v = fgd_soft(v, thr);
                        snap[j] = U;
                    }
                    params[j] = (REAL)v;
                }
            } else {
                for (k = 0; k < nc; k++) {
                    double w, st[3];
                    const double g = gacc[cols[k]] * inv_m;
                    j = cols[k];
                    gacc[j] = 0.0;
                    w = (double)params[j];
                    st[0] = (double)state[j];
                    st[1] = (double)state[D + j];
                    st[2] = (double)state[2 * D + j];
                    w = fgd_coord_step(c, w, g, st, lr, pc, 1, &gsum[j]);
                    params[j] = (REAL)w;
                    state[j] = (REAL)st[0];
                    state[D + j] = (REAL)st[1];
                    state[2 * D + j] = (REAL)st[2];
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
            t++;
            lr_last = lr;
            if (scaled && scale < FGD_MIN_SCALE) {
                /* fold the scale back into every column before it underflows */
                for (j = 0; j < d; j++) {
                    double v = (double)params[j];
                    if (c->l1 > 0.0) v = fgd_soft(v, U - snap[j]);
                    params[j] = (REAL)(scale * v);
                    snap[j] = 0.0;
                }
                scale = 1.0;
                U = 0.0;
            }
        } else {
            /* no step: the listed columns are up to date at step t */
            for (k = 0; k < nc; k++) {
                gacc[cols[k]] = 0.0;
                last[cols[k]] = t;
            }
        }
    }

    /* End of the epoch: every column up to date, the model complete. */
    if (!abort_flag) {
        for (j = 0; j < d; j++) {
            if (scaled) {
                double v;
                FN(csr_catch_up_scaled)(c, params, gsum, snap, j, t - last[j], scale, U);
                v = (double)params[j];
                params[j] = (REAL)(scale * v);
            } else {
                FN(csr_catch_up)(&L, params, state, D, gsum, j, last[j], t);
            }
        }
    }
    stats->loss_sum = loss_sum;
    stats->weight_sum = weight_sum;
    stats->t = t;
    stats->n_steps = t - t0;
    stats->lr_last = lr_last;
    stats->nonfinite = abort_flag;
    return 0;
}

#undef FN
