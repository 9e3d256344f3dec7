/*
 * kernels_impl.h -- the dense epoch loop, written once and instantiated for
 * float and double by epoch_dense.c (which defines REAL and SFX).
 *
 * One epoch is a loop over mini-batches. Inside one OpenMP parallel region
 * (opened once per epoch, not once per batch) each batch takes two phases:
 *
 *   1. rows: the batch's rows are split into one contiguous slice per
 *      thread; each row is read once for its margin (dot), its loss
 *      derivative, and its gradient contribution (axpy into the thread's own
 *      buffer) while it is in cache.
 *   2. coordinates: after a barrier, the d+1 coordinates are split across
 *      threads; each thread sums the per-thread buffers in thread order (a
 *      fixed order: same thread count, same bits), adds the penalty, applies
 *      the optimizer rule and the L1 prox, and zeroes the buffers.
 *
 * A second barrier closes the step. Nothing here allocates or calls Python.
 */

#define FGD_CAT_(a, b) a##_##b
#define FGD_CAT(a, b) FGD_CAT_(a, b)
#define FN(name) FGD_CAT(name, SFX)

/* Dot product with FGD_LANES independent accumulators combined in a fixed
 * order: the compiler vectorizes it without -ffast-math, and the result does
 * not depend on the instruction set chosen at run time. */
FGD_CLONES static double FN(fgd_dot)(const REAL *x, const REAL *w, int64_t d)
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

/* y += a * x */
FGD_CLONES static void FN(fgd_axpy)(REAL a, const REAL *x, REAL *y, int64_t d)
{
    int64_t i;
    for (i = 0; i < d; i++) y[i] += a * x[i];
}

/* Phase 2 for coordinates [lo, hi): gather the gradient, penalize, update. */
static void FN(fgd_update_range)(const fgd_config *c, REAL *w, REAL *state,
                                 REAL *gbuf, int nt, int64_t d, int64_t lo,
                                 int64_t hi, double inv_m, double lr,
                                 const double *pc, double *gsum)
{
    const int64_t D = d + 1;
    const int opt = c->optimizer;
    const double *h = c->hyper;
    const double l2 = c->l2, l1 = c->l1;
    const double decay = c->l2_decoupled ? 1.0 - lr * l2 : 1.0;
    int64_t j;
    int tt;
    for (j = lo; j < hi; j++) {
        double g = 0.0, wj, eta, s[3];
        const int penalized = j < d;
        for (tt = 0; tt < nt; tt++) {
            g += (double)gbuf[tt * D + j];
            gbuf[tt * D + j] = 0;
        }
        if (!penalized && !c->fit_intercept) continue;
        g *= inv_m;
        wj = (double)w[j];
        if (penalized) {
            gsum[j] += g + l2 * wj;
            if (c->l2_decoupled)
                wj *= decay;
            else
                g += l2 * wj;
        } else {
            gsum[j] += g;
        }
        s[0] = (double)state[j];
        s[1] = (double)state[D + j];
        s[2] = (double)state[2 * D + j];
        switch (opt) {
        case FGD_SGD:      wj = fgd_rule_sgd(wj, g, s, h, lr, pc, &eta); break;
        case FGD_ADAGRAD:  wj = fgd_rule_adagrad(wj, g, s, h, lr, pc, &eta); break;
        case FGD_RMSPROP:  wj = fgd_rule_rmsprop(wj, g, s, h, lr, pc, &eta); break;
        case FGD_ADADELTA: wj = fgd_rule_adadelta(wj, g, s, h, lr, pc, &eta); break;
        case FGD_FTRL:     wj = fgd_rule_ftrl(wj, g, s, h, lr, pc, &eta); break;
        default:           wj = fgd_rule_adam(wj, g, s, h, lr, pc, &eta); break;
        }
        if (penalized && l1 > 0.0) {
            const double thr = l1 * eta;
            wj = wj > thr ? wj - thr : (wj < -thr ? wj + thr : 0.0);
        }
        w[j] = (REAL)wj;
        state[j] = (REAL)s[0];
        state[D + j] = (REAL)s[1];
        state[2 * D + j] = (REAL)s[2];
    }
}

/* Averaged SGD: fold the iterate after step number k into the running mean. */
static void FN(fgd_average_range)(const REAL *w, REAL *avg, int64_t lo, int64_t hi,
                                  int64_t k, int64_t start)
{
    int64_t j;
    if (k <= start) return;
    {
        const double inv = 1.0 / (double)(k - start);
        for (j = lo; j < hi; j++)
            avg[j] = (REAL)((double)avg[j] + ((double)w[j] - (double)avg[j]) * inv);
    }
}

int FN(fgd_epoch_dense)(const REAL *X, int64_t n, int64_t d, const double *y,
                        const double *sw, const int64_t *order, REAL *params,
                        REAL *state, REAL *gbuf, double *gsum, REAL *avg,
                        const fgd_config *c, int64_t t0, fgd_stats *stats)
{
    const int64_t D = d + 1;
    const int64_t B = c->batch_size;
    const int64_t nb = B > 0 ? (n + B - 1) / B : 0;
    double tloss[FGD_MAX_THREADS], tweight[FGD_MAX_THREADS];
    int nthreads = c->n_threads, abort_flag = 0, k;
    int64_t t_end = t0;
    double lr_last = 0.0;

    if (n < 0 || d < 0 || B <= 0 || c->loss < 0 || c->loss >= FGD_N_LOSSES ||
        c->optimizer < 0 || c->optimizer >= FGD_N_OPTIMIZERS ||
        c->schedule < 0 || c->schedule >= FGD_N_SCHEDULES)
        return -1;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > FGD_MAX_THREADS) nthreads = FGD_MAX_THREADS;
    for (k = 0; k < FGD_MAX_THREADS; k++) tloss[k] = tweight[k] = 0.0;

#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
#endif
    {
        const int tid = fgd_thread_num(), nt = fgd_num_threads();
        REAL *gb = gbuf + tid * D;
        const int64_t c_lo = D * tid / nt, c_hi = D * (tid + 1) / nt;
        double my_loss = 0.0, my_weight = 0.0;
        int64_t t = t0, b, r;
        for (b = 0; b < nb; b++) {
            const int64_t start = b * B, end = start + B < n ? start + B : n;
            const int64_t m = end - start;
            const int64_t r0 = start + m * tid / nt, r1 = start + m * (tid + 1) / nt;
            double batch_weight = 0.0;
            int stop;
            /* Every thread sums the batch's weights in the same order, so all
             * agree without a third barrier on whether the step happens. */
            if (sw) {
                for (r = start; r < end; r++)
                    batch_weight += sw[order ? order[r] : r];
            } else {
                batch_weight = (double)m;
            }
            for (r = r0; r < r1; r++) {
                const int64_t i = order ? order[r] : r;
                const REAL *x = X + i * d;
                const double s = sw ? sw[i] : 1.0;
                double p, l, dl;
                if (order && r + FGD_PREFETCH_ROWS < r1)
                    fgd_prefetch_row(X + order[r + FGD_PREFETCH_ROWS] * d,
                                     d * (int64_t)sizeof(REAL));
                if (s == 0.0) continue;
                p = FN(fgd_dot)(x, params, d) + (double)params[d];
                l = fgd_loss(c->loss, c->loss_param, y[i], p);
                if (!isfinite(l) || !isfinite(p)) {
#ifdef _OPENMP
#pragma omp atomic write
#endif
                    abort_flag = 1;
                    break;
                }
                my_loss += s * l;
                my_weight += s;
                dl = s * fgd_dloss(c->loss, c->loss_param, y[i], p);
                if (dl != 0.0) {
                    FN(fgd_axpy)((REAL)dl, x, gb, d);
                    gb[d] += (REAL)dl;
                }
            }
#ifdef _OPENMP
#pragma omp barrier
#pragma omp atomic read
#endif
            stop = abort_flag;
            if (stop) break;
            if (batch_weight > 0.0) {
                const double lr = fgd_lr_at(c, t);
                double pc[2];
                fgd_step_constants(c->optimizer, c->hyper, lr, t + 1, pc);
                FN(fgd_update_range)(c, params, state, gbuf, nt, d, c_lo, c_hi,
                                     1.0 / (double)m, lr, pc, gsum);
                t++;
                if (avg && c->average_start >= 0)
                    FN(fgd_average_range)(params, avg, c_lo, c_hi, t, c->average_start);
                if (tid == 0) lr_last = lr;
            }
#ifdef _OPENMP
#pragma omp barrier
#endif
        }
        tloss[tid] = my_loss;
        tweight[tid] = my_weight;
        if (tid == 0) t_end = t;
    }

    stats->loss_sum = 0.0;
    stats->weight_sum = 0.0;
    for (k = 0; k < nthreads; k++) {
        stats->loss_sum += tloss[k];
        stats->weight_sum += tweight[k];
    }
    stats->t = t_end;
    stats->n_steps = t_end - t0;
    stats->lr_last = lr_last;
    stats->nonfinite = abort_flag;
    if (abort_flag) {
        /* leave the scratch buffers zero for the caller's next call */
        int64_t j;
        for (j = 0; j < (int64_t)nthreads * D; j++) gbuf[j] = 0;
    }
    return 0;
}

#undef FN
