/*
 * rule_run_impl.h -- one optimizer rule over a run of coordinates, included
 * by kernels_impl.h (which defines REAL, the storage type, and FN) once per
 * compute type RT: double for the epoch loops, and for float32 storage also
 * float for the standalone optimizer step. The includer defines RT,
 * FGD_RULE(name) (the rules of rules_impl.h for RT) and FGD_RUN_NAME(name).
 */

/* One optimizer rule over the penalized coordinates [lo, hi).
 *
 * g holds the loss gradient of those coordinates (RT, already divided by the
 * batch size); or, with ROWX, the gradient is that of one row of batch size
 * 1, dl x[j - lo] formed in REAL as the mini-batch loop forms it ((REAL)0 +
 * dl x, then widened; the zero keeps the sign of zero identical), read from
 * the row itself rather than from a scratch buffer. Per coordinate, in this order: record g + l2 w in gsum, add
 * l2g * w to g (l2g = l2, or 0 for decoupled decay), multiply w by decay (1,
 * or 1 - lr l2 for decoupled decay), apply the rule, then the L1
 * soft-threshold by l1 * eta.
 *
 * L1 = 2 is the cumulative L1 penalty instead of the soft-threshold (plain
 * SGD only, c->l1_cum: see fgd_l1_cumulative).
 *
 * OPT, NS (state rows the rule reads and writes), L1, GS (accumulate gsum)
 * and ROWX are constants at every call site, so each combination compiles to
 * its own branch-free, vectorizable loop. */
FGD_INLINE void FGD_RUN_NAME(fgd_rule_run)(
    const int OPT, const int NS, const int L1, const int GS, const int ROWX,
    const fgd_config *c, REAL *w, REAL *state, int64_t D, int64_t lo, int64_t hi,
    const RT *g, const REAL *x, REAL dlr, double lr, const double *pc, double l2g,
    double decay, double *gsum)
{
    /* local copies: the compiler can then keep the per-step factors that the
     * rules derive from them out of the loop (w and state could alias the
     * config as far as it knows) */
    double h[FGD_N_HYPER], pcl[2];
    const RT l2 = (RT)c->l2, l1 = (RT)c->l1, l2gr = (RT)l2g, decayr = (RT)decay;
    const RT step = (RT)lr;
    /* the cumulative penalty's u, advanced for this step by the caller */
    const double ucum = L1 == 2 ? c->l1_cum[D - 1] : 0.0;
    int64_t j;
    for (j = 0; j < FGD_N_HYPER; j++) h[j] = c->hyper[j];
    pcl[0] = pc[0];
    pcl[1] = pc[1];
    pc = pcl;
    for (j = lo; j < hi; j++) {
        RT gj = ROWX ? (RT)((REAL)0 + dlr * x[j - lo]) : g[j - lo];
        RT wj = (RT)w[j], eta, s[3];
        s[0] = NS > 0 ? (RT)state[j] : 0;
        s[1] = NS > 1 ? (RT)state[D + j] : 0;
        s[2] = NS > 2 ? (RT)state[2 * D + j] : 0;
        if (GS) gsum[j] += (double)(gj + l2 * wj);
        gj += l2gr * wj;
        wj *= decayr;
        switch (OPT) {
        case FGD_SGD:
            if (NS == 0) { /* fgd_rule_sgd without momentum */
                eta = step;
                wj = wj - step * gj;
            } else {
                wj = FGD_RULE(fgd_rule_sgd)(wj, gj, s, h, lr, pc, &eta);
            }
            break;
        case FGD_ADAGRAD:  wj = FGD_RULE(fgd_rule_adagrad)(wj, gj, s, h, lr, pc, &eta); break;
        case FGD_RMSPROP:  wj = FGD_RULE(fgd_rule_rmsprop)(wj, gj, s, h, lr, pc, &eta); break;
        case FGD_ADADELTA: wj = FGD_RULE(fgd_rule_adadelta)(wj, gj, s, h, lr, pc, &eta); break;
        case FGD_FTRL:     wj = FGD_RULE(fgd_rule_ftrl)(wj, gj, s, h, lr, pc, &eta); break;
        default:           wj = FGD_RULE(fgd_rule_adam)(wj, gj, s, h, lr, pc, &eta); break;
        }
        if (L1 == 2) {
            wj = (RT)fgd_l1_cumulative((double)wj, ucum, &c->l1_cum[j]);
        } else if (L1) {
            const RT thr = l1 * eta;
            wj = wj > thr ? wj - thr : (wj < -thr ? wj + thr : 0);
        }
        w[j] = (REAL)wj;
        if (NS > 0) state[j] = (REAL)s[0];
        if (NS > 1) state[D + j] = (REAL)s[1];
        if (NS > 2) state[2 * D + j] = (REAL)s[2];
    }
}

/* Pick the specialized loop of fgd_rule_run for this configuration. The
 * gradient is g, or (x != NULL) dl x of one row (see fgd_rule_run). */
FGD_INLINE void FGD_RUN_NAME(fgd_rule_chunk)(const fgd_config *c, int ns, REAL *w,
                                             REAL *state, int64_t D, int64_t lo,
                                             int64_t hi, const RT *g, const REAL *x,
                                             REAL dlr, double lr, const double *pc,
                                             double l2g, double decay, double *gsum)
{
    const int l1 = c->l1 > 0.0, gs = gsum != NULL, rowx = x != NULL;
#define FGD_RUN3(OPT, NS, L1, GS)                                                      \
    do {                                                                               \
        if (rowx)                                                                      \
            FGD_RUN_NAME(fgd_rule_run)(OPT, NS, L1, GS, 1, c, w, state, D, lo, hi, g,  \
                                       x, dlr, lr, pc, l2g, decay, gsum);              \
        else                                                                           \
            FGD_RUN_NAME(fgd_rule_run)(OPT, NS, L1, GS, 0, c, w, state, D, lo, hi, g,  \
                                       x, dlr, lr, pc, l2g, decay, gsum);              \
    } while (0)
#define FGD_RUN(OPT, NS)                                                               \
    do {                                                                               \
        if (l1 && gs) FGD_RUN3(OPT, NS, 1, 1);                                         \
        else if (l1) FGD_RUN3(OPT, NS, 1, 0);                                          \
        else if (gs) FGD_RUN3(OPT, NS, 0, 1);                                          \
        else FGD_RUN3(OPT, NS, 0, 0);                                                  \
    } while (0)
    if (l1 && c->l1_cum) {   /* plain SGD only (the epoch functions check) */
        if (gs) FGD_RUN3(FGD_SGD, 0, 2, 1);
        else FGD_RUN3(FGD_SGD, 0, 2, 0);
    } else switch (c->optimizer) {
    case FGD_SGD:
        if (ns == 0) FGD_RUN(FGD_SGD, 0);
        else FGD_RUN(FGD_SGD, 1);
        break;
    case FGD_ADAGRAD:
        FGD_RUN(FGD_ADAGRAD, 1);
        break;
    case FGD_RMSPROP:
        if (ns == 1) FGD_RUN(FGD_RMSPROP, 1);
        else if (ns == 2) FGD_RUN(FGD_RMSPROP, 2);
        else FGD_RUN(FGD_RMSPROP, 3);
        break;
    case FGD_ADADELTA:
        FGD_RUN(FGD_ADADELTA, 2);
        break;
    case FGD_FTRL:
        FGD_RUN(FGD_FTRL, 2);
        break;
    default: /* Adam, AdamW */
        if (ns == 2) FGD_RUN(FGD_ADAM, 2);
        else FGD_RUN(FGD_ADAM, 3);
        break;
    }
#undef FGD_RUN
#undef FGD_RUN3
}
