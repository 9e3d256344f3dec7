/*
 * lazy.h -- lazy updates for sparse (CSR) training.
 *
 * In a step whose rows do not contain feature j, the dense loop still
 * updates coordinate j: its loss gradient is zero, but the L2 term, the L1
 * soft-threshold and the optimizer's state keep acting on it. The CSR epoch
 * (csr_impl.h) skips those coordinates and brings each one up to date only
 * when a row next needs it, and for all of them at the end of the epoch.
 * This file says how, per optimizer and penalty; the update rules themselves
 * are those of optim.h, applied through fgd_coord_step(), the same
 * per-coordinate step as the dense loop.
 *
 * Catch-up modes (chosen once per epoch by fgd_lazy_setup):
 *
 *   IDENTITY    a skipped step changes nothing (e.g. Adagrad or plain SGD
 *               without penalty).                                   exact
 *   SCALED      plain SGD (no momentum) with L2 and/or L1: w = scale * v,
 *               L2 shrinks the global scale, L1 is a cumulative threshold in
 *               v-units (soft-thresholds compose additively).       exact
 *   DECAY       no penalty, w does not move, the state decays geometrically
 *               (RMSprop without momentum, Adadelta): state *= rate^J.  exact
 *   ADAGRAD_L1  Adagrad without L2: G is constant, so the J thresholds add up
 *               to l1 * sum(clr_k) / (sqrt(G) + eps).                exact
 *   LAST        FTRL: w is a function of (z, n) and the step size only, and
 *               (z, n) do not change under a zero gradient: one replayed
 *               step (the last skipped one) gives the exact result, and
 *               none is needed if the step size is unchanged.          exact
 *   ADAGRAD_L2  Adagrad with L2 (no L1): each skipped step multiplies w by
 *               1 - clr_k l2 / (sqrt(G) + eps) and adds (l2 w)^2 to G. In
 *               closed form by an expansion in clr l2 / sqrt(G) and in the
 *               growth of G over the gap (fgd_lazy_adagrad_l2), from prefix
 *               tables: O(1) per catch-up. Where a bound on what the
 *               expansion leaves out exceeds FGD_LAZY_RTOL of w or G (or
 *               FGD_LAZY_GTOL of the gradient sum), the gap goes in parts
 *               held to their shares of those bounds, with replayed steps
 *               where no part passes (fgd_lazy_adagrad_l2_parts).  approximate
 *   MOMENTUM    SGD with momentum (heavy ball or Nesterov, any dampening),
 *               L2 or no penalty, no L1: a skipped step is a linear map of
 *               (w, buf), and adds l2 w to the gradient sum. The maps of
 *               aligned blocks of 2^l steps (l >= 1) are multiplied out once
 *               per epoch (fgd_lazy_momentum_blocks); a catch-up over J steps
 *               applies at most 2 log2(J) of them, and replays the at most
 *               two single steps between blocks; where every step has the
 *               same map M (a constant step size), it looks M^J up in a
 *               table of its powers (fgd_lazy_momentum_powers), and
 *               elsewhere a gap across spans of FGD_LAZY_SPAN steps takes a
 *               span's suffix, blocks of whole spans and a span's prefix
 *               (fgd_lazy_momentum_spans). Exact to rounding (the products
 *               are associated differently from the replay).
 *   ADAM        Adam/AdamW (amsgrad too), without penalty or with
 *               AdamW's decoupled decay alone: m and v decay geometrically,
 *               w decays by 1 - lr decay, and the skipped steps move w by a
 *               sum that expands in eps / sqrt(v_j); its first three (or
 *               five) terms are read from suffix tables of the step
 *               constants (fgd_lazy_adam), O(1) per catch-up. Where a bound
 *               on the rest exceeds FGD_LAZY_RTOL * |w| (w before or after
 *               the gap, the larger; FGD_LAZY_GTOL for the gradient sum):
 *               without decay, the first K steps of the gap in closed form
 *               and the rest, which moves w by less than the bound, as the
 *               decay of m and v (fgd_lazy_adam_head); else the replay
 *               below.                                         approximate
 *   RMSPROP_MOMENTUM  RMSprop with momentum < 1, no penalty: under g = 0
 *               the buffer decays by the momentum each step and w moves by
 *               lr_k times it; the state decays as in DECAY and the movement
 *               is buf times a geometric sum of the step sizes, from a
 *               suffix table (as ADAM's n = 0 term, exact).        exact
 *   LOOP        replay every skipped step with fgd_coord_step (g = 0).
 *               Exact, cost proportional to the number of skipped steps
 *               (the CSR general loops replay up to FGD_LAZY_LANES
 *               coordinates in lockstep: fgd_lazy_replay_lanes).
 *               Used for any optimizer with state when L2 or L1 is on (e.g.
 *               Adam with L2, momentum with L1) except Adagrad with L2
 *               alone, SGD momentum without L1 and AdamW's decoupled decay
 *               without L1, and for those when averaging.
 *     truncated When there is no penalty and the state that moves w decays
 *               geometrically (Adam/AdamW with weight_decay=0 where ADAM
 *               refuses), the replay stops as soon as a
 *               bound on the total movement of w over all remaining skipped
 *               steps is at most FGD_LAZY_RTOL * |w|; the state rows then
 *               take the remaining steps in closed form (state *= rate^R).
 *               An approximation: each catch-up moves w by at most
 *               FGD_LAZY_RTOL * |w| less than the exact replay would.
 *   SGD_CLOSED  plain SGD with L2 and/or L1, per coordinate (Hogwild!, where
 *               no global scale can be shared): with a_k = 1 - lr_k l2 and
 *               c_k = lr_k l1, J skipped steps map |w| to
 *               max(0, R |w| - C), R = prod a_k, C = sum_k c_k prod_{r>k} a_r,
 *               read from prefix tables of prod a_k and c_k / prod a. exact
 *
 * Bounds used for the truncation, for the R steps after step i (g = 0):
 *   SGD/RMSprop momentum: |dw| <= lrmax * |buf| * mu / (1 - mu)
 *   Adam: |dw_j| <= lr_j / bc1_j * beta1^j |m| / (beta2^(j/2) sqrt(v))
 *         (eps >= 0, bc2 <= 1, bc1 increasing), so the sum is at most
 *         lrmax * |m| / (bc1_{i+1} sqrt(v)) * r / (1 - r), r = beta1/sqrt(beta2)
 *         (only used when r < 1).
 */
#ifndef FASTGD_LAZY_H
#define FASTGD_LAZY_H

#include <math.h>
#include <stdint.h>

#include "fastgd.h"
#include "optim.h"
#include "schedules.h"

/*
 * The smooth part of the skipped steps' gradients (l2 w for each) goes to
 * gsum exactly in every mode, SGD_CLOSED through the same sums of iterates.
 *
 * Averaged SGD (c->average_start >= 0): the catch-up also adds to *as the
 * iterate after each skipped step that is averaged (table index >= astart),
 * so that the running sum of the iterates stays exact without a step per
 * coordinate: w itself where the skipped steps do not move it (IDENTITY,
 * DECAY, LAST at one step size), the closed form of SGD_CLOSED summed
 * through prefix tables of prod a_k and prod a_k * q_k (O(log J)), and the
 * replay, step by step, in LOOP, ADAGRAD_L1 and LAST with a varying step
 * size (exact, O(J)). SCALED's global scale is not used when averaging:
 * the epoch switches to SGD_CLOSED.
 */

/* Relative bound on what a truncated catch-up may leave out. */
#define FGD_LAZY_RTOL 1e-12
/* ADAGRAD_L2: the same for the gradient sum of a catch-up, which only feeds
 * the reported gradient norm (history's grad_norm). */
#define FGD_LAZY_GTOL 1e-6

enum fgd_lazy_mode {
    FGD_LAZY_IDENTITY = 0,
    FGD_LAZY_SCALED = 1,
    FGD_LAZY_DECAY = 2,
    FGD_LAZY_ADAGRAD_L1 = 3,
    FGD_LAZY_LAST = 4,
    FGD_LAZY_LOOP = 5,
    FGD_LAZY_SGD_CLOSED = 6,
    FGD_LAZY_ADAGRAD_L2 = 7,
    FGD_LAZY_MOMENTUM = 8,
    FGD_LAZY_ADAM = 9,
    FGD_LAZY_RMSPROP_MOMENTUM = 10
};

/* MOMENTUM: most block levels (blocks of 2^l steps, l < this). */
#define FGD_LAZY_MAX_LEVELS 62

/* ADAM: the most terms of its expansion in eps / sqrt(v) (fgd_lazy_adam),
 * and the powers per gap length its catch-ups look up (beta2, the terms'
 * arho, beta1). Three terms left a 1e-12 bound out of reach where v is
 * small (eps / sqrt(v) ~ 1e-4: small gradients), and those catch-ups were
 * replayed: Adam on 200,000 x 1,000,000 took 10.9 s per epoch, 5.2 s with
 * five terms (and fgd_lazy_adam_head). */
#define FGD_LAZY_ADAM_TERMS 5
#define FGD_LAZY_ADAM_POWS (FGD_LAZY_ADAM_TERMS + 2)

/* Number of rows of the per-step tables (each nsteps + 1 doubles). */
#define FGD_LAZY_TABLES 24

typedef struct {
    const fgd_config *c;
    int64_t t0;             /* first step of the epoch */
    int64_t nsteps;         /* steps the tables cover: t0 .. t0 + nsteps - 1 */
    const double *lr;       /* lr[i]: step size of step t0 + i */
    const double *pc0;      /* step constants of step t0 + i (fgd_step_constants) */
    const double *pc1;
    const double *cum;      /* cum[i] = sum_{k < i} pc0[k]  (Adagrad's clr) */
    const double *lrmax;    /* lrmax[i] = max_{k >= i} lr[k] (0 past the end) */
    int mode;
    int trunc;              /* LOOP may stop early (see above) */
    double rate[3];         /* per-step decay of each state row under g = 0 */
    /* DECAY and RMSPROP_MOMENTUM: rpow[k][J] = pow(rate[k], J), J = 0 ..
     * nsteps (NULL where rate[k] is 1 or the mode has no room for it) */
    const double *rpow[3];
    double trunc_factor;    /* mu / (1 - mu) or r / (1 - r) */
    int single;             /* float32 storage: round after each replayed step */
    int ns;                 /* state rows the rule reads and writes (of 3) */
    int const_lr;           /* every step of the tables has the same step size */
    int64_t astart;         /* averaged SGD: first averaged table index (or INT64_MAX) */
    const double *asum1;    /* SGD_CLOSED: asum1[i] = sum_{1 <= k <= i} prodp[k] */
    const double *asum2;    /*   and asum2[i] = sum_{1 <= k <= i} prodp[k] q[k] */
    /* ADAGRAD_L2: prefix sums over k < i of pc0[k]^2 (q2), of cum[k] (p1),
     * of cum[k]^2 (p2), of q2[k] (pq2) and of pc0[k]^3 (q3) */
    const double *q2, *p1, *p2, *pq2, *q3;
    /* MOMENTUM: the maps of the aligned blocks of 2^l steps, 6 doubles each
     * (fgd_lazy_momentum_blocks), level l from mblk + moff[l], l = 1 ..
     * mlevels */
    const double *mblk;
    int64_t moff[FGD_LAZY_MAX_LEVELS + 1];
    int mlevels;
    /* MOMENTUM where every step has the same map (constant step size, not
     * the first step of training): the map of J steps for J = 0 .. nsteps,
     * 6 doubles each (fgd_lazy_momentum_powers), or NULL */
    const double *mpow;
    /* MOMENTUM where the maps differ (a varying step size): within each
     * aligned span of FGD_LAZY_SPAN steps, the map from step i to the span's
     * end (msuf, i = 0 .. nsteps - 1) and from the span's start to step i
     * (mpre, i = 0 .. nsteps), 6 doubles each (fgd_lazy_momentum_spans), or NULL */
    const double *msuf, *mpre;
    /* ADAM (fgd_lazy_adam_tables): the decay products ad and their prefix
     * sums asd, the suffix tables aq[n] and (with decay) ar[n], n = 0 ..
     * FGD_LAZY_ADAM_TERMS - 1; alrho[n] = log(arho[n]); arho[n] of the first
     * term left out for the bound; aterms the terms a catch-up may take (3,
     * or FGD_LAZY_ADAM_TERMS where arho of that many is < 1); adecay the decoupled
     * weight decay (0 without) */
    const double *ad, *asd, *aq[FGD_LAZY_ADAM_TERMS], *ar[FGD_LAZY_ADAM_TERMS];
    /* alb: log(beta1), log(beta2) */
    double arho[FGD_LAZY_ADAM_TERMS + 1], alrho[FGD_LAZY_ADAM_TERMS], adecay, alb1, alb2;
    int aterms;
    /* ADAM: the powers a gap of J steps needs, FGD_LAZY_ADAM_POWS per J = 0 ..
     * nsteps, side by side: beta2^J, arho[n]^J for each term n, beta1^J
     * (fgd_lazy_adam_tables) */
    const double *apow;
    /* SCALED with the cumulative L1 penalty (c->l1_cum): after i steps of
     * the chunk, cU[i] = U (since the last fold), cu[i] = u and cs[i] = the
     * scale; the loops fill them step by step (fgd_l1_cum_catch_up) */
    double *cU, *cu, *cs;
} fgd_lazy;

/* Soft threshold. Written without branches on the sign of w, which the
 * data decides (a branch mispredicted about half the time: plain SGD with
 * L1 on CSR ran 0.43 s per epoch with the branchy form); the same values,
 * w - thr and w + thr rounded alike. */
static inline double fgd_soft(double w, double thr)
{
    const double a = fabs(w) - thr;
    return a > 0.0 ? copysign(a, w) : 0.0;
}

/*
 * One coordinate, one step: the penalty, the optimizer rule and the L1 prox,
 * exactly as the dense loop applies them. g is the loss gradient (already
 * divided by the batch size); the smooth part of the gradient is added to
 * *gs, as the dense loop adds it to gsum.
 */
static inline double fgd_coord_step(const fgd_config *c, double wj, double g, double *s,
                                    double lr, const double *pc, int penalized, double *gs)
{
    const double *h = c->hyper;
    double eta;
    if (penalized) {
        *gs += g + c->l2 * wj;
        if (c->l2_decoupled)
            wj *= 1.0 - lr * c->l2;
        else
            g += c->l2 * wj;
    } else {
        *gs += g;
    }
    switch (c->optimizer) {
    case FGD_SGD:      wj = fgd_rule_sgd(wj, g, s, h, lr, pc, &eta); break;
    case FGD_ADAGRAD:  wj = fgd_rule_adagrad(wj, g, s, h, lr, pc, &eta); break;
    case FGD_RMSPROP:  wj = fgd_rule_rmsprop(wj, g, s, h, lr, pc, &eta); break;
    case FGD_ADADELTA: wj = fgd_rule_adadelta(wj, g, s, h, lr, pc, &eta); break;
    case FGD_FTRL:     wj = fgd_rule_ftrl(wj, g, s, h, lr, pc, &eta); break;
    default:           wj = fgd_rule_adam(wj, g, s, h, lr, pc, &eta); break;
    }
    if (penalized && c->l1 > 0.0) wj = fgd_soft(wj, c->l1 * eta);
    return wj;
}

/*
 * MOMENTUM. Under g = 0 with L2 (g = l2 w), SGD's step at table index i,
 *   buf' = mb buf + ub l2 w       (mb, ub) = (0, 1) at the first step of
 *                                 training, else (momentum, 1 - dampening)
 *   w'   = w - lr (l2 w + momentum buf')  (Nesterov)  or  w - lr buf',
 * and gs += l2 w, is linear: (w, buf) -> A (w, buf), gs += c . (w, buf).
 * m holds (A00, A01, A10, A11, c0, c1).
 */
static inline void fgd_lazy_momentum_step(const fgd_lazy *L, int64_t i, double *m)
{
    const fgd_config *c = L->c;
    const double l2 = c->l2, mu = c->hyper[0], lr = L->lr[i];
    const int first = L->pc0[i] != 0.0;
    const double mb = first ? 0.0 : mu, ub = first ? 1.0 : 1.0 - c->hyper[1];
    m[2] = ub * l2;
    m[3] = mb;
    if (c->hyper[2] != 0.0) {
        m[0] = 1.0 - lr * (l2 + mu * m[2]);
        m[1] = -lr * mu * mb;
    } else {
        m[0] = 1.0 - lr * m[2];
        m[1] = -lr * mb;
    }
    m[4] = l2;
    m[5] = 0.0;
}

/* The map of no step: (w, buf) unchanged, nothing added to the gradient sum. */
static inline void fgd_lazy_momentum_identity(double *m)
{
    m[0] = m[3] = 1.0;
    m[1] = m[2] = m[4] = m[5] = 0.0;
}

/* The map of m1 followed by m2 (out may not alias them). */
static inline void fgd_lazy_momentum_compose(const double *m1, const double *m2, double *out)
{
    out[0] = m2[0] * m1[0] + m2[1] * m1[2];
    out[1] = m2[0] * m1[1] + m2[1] * m1[3];
    out[2] = m2[2] * m1[0] + m2[3] * m1[2];
    out[3] = m2[2] * m1[1] + m2[3] * m1[3];
    out[4] = m1[4] + (m2[4] * m1[0] + m2[5] * m1[2]);
    out[5] = m1[5] + (m2[4] * m1[1] + m2[5] * m1[3]);
}

/* The maps of the aligned blocks [k 2^l, (k + 1) 2^l) inside the nsteps
 * steps, for l >= 1, into blk: at most 6 (nsteps/2 + nsteps/4 + ...) <=
 * 6 nsteps doubles. O(nsteps), once per epoch. */
static inline void fgd_lazy_momentum_blocks(fgd_lazy *L, double *blk)
{
    const int64_t n = L->nsteps;
    int64_t off = 0, k;
    int l;
    L->mblk = blk;
    L->mlevels = 0;
    for (l = 1; l <= FGD_LAZY_MAX_LEVELS && (n >> l) > 0; l++) {
        const int64_t nb = n >> l;
        L->moff[l] = off;
        for (k = 0; k < nb; k++) {
            if (l == 1) {
                double a[6], b[6];
                fgd_lazy_momentum_step(L, 2 * k, a);
                fgd_lazy_momentum_step(L, 2 * k + 1, b);
                fgd_lazy_momentum_compose(a, b, blk + off + 6 * k);
            } else {
                const double *m1 = blk + L->moff[l - 1] + 12 * k;
                fgd_lazy_momentum_compose(m1, m1 + 6, blk + off + 6 * k);
            }
        }
        off += 6 * nb;
        L->mlevels = l;
    }
}

/* Where every step's map is the same M (fgd_lazy_momentum_step): M^J for
 * J = 0 .. nsteps into pw (6 (nsteps + 1) doubles), each the product of the
 * aligned blocks' maps for the bits of J (M^(2^l) is the map of block 0 at
 * level l), so at most log2(J) + 1 products round it, as in the walk over
 * the blocks. A catch-up then takes one look-up instead of that walk. Call
 * after fgd_lazy_momentum_blocks; leaves L->mpow NULL where the maps differ. */
static inline void fgd_lazy_momentum_powers(fgd_lazy *L, double *pw)
{
    const int64_t n = L->nsteps;
    double m0[6], mi[6];
    int64_t i, J;
    int k;
    L->mpow = NULL;
    if (n < 1) return;
    fgd_lazy_momentum_step(L, 0, m0);
    for (i = 1; i < n; i++) {
        fgd_lazy_momentum_step(L, i, mi);
        for (k = 0; k < 6; k++)
            if (mi[k] != m0[k]) return;
    }
    fgd_lazy_momentum_identity(pw);
    for (J = 1; J <= n; J++) {
        const int64_t low = J & -J;
        int l = 0;
        while (((int64_t)1 << l) < low) l++;
        fgd_lazy_momentum_compose(pw + 6 * (J - low), l == 0 ? m0 : L->mblk + L->moff[l],
                                  pw + 6 * J);
    }
    L->mpow = pw;
}

/* MOMENTUM: the steps of a span (a power of two; see fgd_lazy_momentum). */
#define FGD_LAZY_SPAN 256

/* Where the maps differ: for every table index i, the product of the maps
 * from i to the end of its aligned span of FGD_LAZY_SPAN steps into suf (6
 * nsteps doubles), and from the span's start to i into pre (6 (nsteps + 1)
 * doubles). A catch-up across spans then takes one suffix, the aligned
 * blocks of whole spans between, and one prefix. O(nsteps), once per
 * epoch; each entry is a product of at most FGD_LAZY_SPAN maps, in order. */
static inline void fgd_lazy_momentum_spans(fgd_lazy *L, double *suf, double *pre)
{
    const int64_t n = L->nsteps, S = FGD_LAZY_SPAN;
    double m[6];
    int64_t i;
    int k;
    for (i = 0; i <= n; i++) {
        if ((i & (S - 1)) == 0) {
            fgd_lazy_momentum_identity(pre + 6 * i);
        } else {
            fgd_lazy_momentum_step(L, i - 1, m);
            fgd_lazy_momentum_compose(pre + 6 * (i - 1), m, pre + 6 * i);
        }
    }
    for (i = n - 1; i >= 0; i--) {
        fgd_lazy_momentum_step(L, i, m);
        if (((i + 1) & (S - 1)) == 0 || i + 1 == n)
            for (k = 0; k < 6; k++) suf[6 * i + k] = m[k];
        else
            fgd_lazy_momentum_compose(m, suf + 6 * (i + 1), suf + 6 * i);
    }
    L->msuf = suf;
    L->mpre = pre;
}

/*
 * prodp[i] = prod_{k < i} (1 - lr_k rate) for i = 0 .. nsteps (the decay
 * of a weight over the steps before table index i: L2's for SGD_CLOSED,
 * AdamW's decoupled decay for ADAM). Returns 0, leaving prodp unchanged,
 * where a partial product falls to e^-600 or below (the decay would leave
 * the range of a double in what the tables feed) or a factor is not
 * positive. The check multiplies rather than sums logs: a log per step was
 * the larger part of a Hogwild! epoch's serial setup (200,000 steps).
 */
static inline int fgd_lazy_decay_products(const fgd_lazy *L, double rate, double *prodp)
{
    const double floor = exp(-600.0);
    double p = 1.0;
    int64_t i;
    if (rate != 0.0)
        for (i = 0; i < L->nsteps; i++) {
            const double a = 1.0 - L->lr[i] * rate;
            p *= a;
            if (!(a > 0.0 && p > floor)) return 0;
        }
    prodp[0] = 1.0;
    for (i = 0; i < L->nsteps; i++) prodp[i + 1] = prodp[i] * (1.0 - L->lr[i] * rate);
    return 1;
}

/*
 * ADAM: with bc1 = pc0, bc2s = pc1 (fgd_step_constants), a_i = 1 - lr_i
 * decay (the decoupled weight decay, or 1), the decay products ad[i] =
 * prod_{k < i} a_k and their prefix sums asd[i] = sum_{k < i} ad[k], and for
 * n = 0 .. FGD_LAZY_ADAM_TERMS - 1, with f_n(i) = lr_i bc2s_i^(n+1) / bc1_i
 * and arho[n] = beta1 / beta2^((n+1)/2), the suffix sums
 *   aq[n][i] = f_n(i) / ad[i+1]            + arho[n] aq[n][i + 1]
 *   ar[n][i] = f_n(i) asd[i+1] / ad[i+1]   + arho[n] ar[n][i + 1]  (decay only)
 * (suffix sums do not underflow as prefix sums of arho^i would); with
 * amsgrad arho[n] = beta1 (fgd_lazy_adam). 2 + 2 FGD_LAZY_ADAM_TERMS
 * (nsteps + 1) doubles of blk, and in pw FGD_LAZY_ADAM_POWS (nsteps + 1)
 * doubles: the powers of beta2, arho[n] and
 * beta1 for every gap J = 0 .. nsteps, as exp(J log(.)), which a catch-up
 * looks up by its gap instead of calling exp five times (batch 1, 100,000
 * columns: 80 -> 61 ns per stored value; gaps are short on the scale of an
 * epoch, so the rows looked up stay in cache). The same values as exp's.
 * Needs beta1 < beta2^2 (arho[3] < 1). Returns
 * 0 where the decay product would leave the range of a double (or a factor
 * is not positive). O(nsteps), once per epoch.
 */
static inline int fgd_lazy_adam_tables(fgd_lazy *L, double *blk, double *pw, double decay)
{
    const double b1 = L->c->hyper[0], b2 = L->c->hyper[1];
    const int amsgrad = L->c->hyper[3] != 0.0;
    const int64_t n = L->nsteps, N = n + 1;
    double *ad = blk, *asd = blk + N;
    int64_t i;
    int k;
    if (!fgd_lazy_decay_products(L, decay, ad)) return 0;
    asd[0] = 0.0;
    for (i = 0; i < n; i++) asd[i + 1] = asd[i] + ad[i];
    L->ad = ad;
    L->asd = asd;
    L->adecay = decay;
    L->alb1 = log(b1);
    L->alb2 = log(b2);
    /* amsgrad divides by the running maximum of v, which the skipped steps
     * leave alone: no beta2^(-j/2) growth in the terms */
    for (k = 0; k <= FGD_LAZY_ADAM_TERMS; k++)
        L->arho[k] = amsgrad ? b1 : b1 / pow(b2, 0.5 * (k + 1));
    L->aterms = L->arho[FGD_LAZY_ADAM_TERMS] < 1.0 ? FGD_LAZY_ADAM_TERMS : 3;
    for (k = 0; k < FGD_LAZY_ADAM_TERMS; k++) {
        double *q = blk + (2 + k) * N, *r = blk + (2 + FGD_LAZY_ADAM_TERMS + k) * N;
        L->aq[k] = q;
        L->ar[k] = r;
        L->alrho[k] = log(L->arho[k]);
        q[n] = r[n] = 0.0;
        for (i = n - 1; i >= 0; i--) {
            const double f = L->lr[i] * pow(L->pc1[i], k + 1) / L->pc0[i] / ad[i + 1];
            q[i] = f + L->arho[k] * q[i + 1];
            if (decay > 0.0) r[i] = f * asd[i + 1] + L->arho[k] * r[i + 1];
        }
    }
    for (i = 0; i <= n; i++) {
        const double J = (double)i;
        double *p = pw + FGD_LAZY_ADAM_POWS * i;
        p[0] = exp(J * L->alb2);
        for (k = 0; k < FGD_LAZY_ADAM_TERMS; k++) p[1 + k] = exp(J * L->alrho[k]);
        p[1 + FGD_LAZY_ADAM_TERMS] = exp(J * L->alb1);
    }
    L->apow = pw;
    return 1;
}

/*
 * How many rows of the tables (from row 0) fgd_lazy_setup and
 * fgd_lazy_closed_sgd may write for c: a scratch holds only these (plain
 * SGD needs 7 of the FGD_LAZY_TABLES, so its tables take 39% of the memory
 * at batch size 1). The cases follow fgd_lazy_setup's choice of mode,
 * rounded up where a mode depends on more than c:
 *   rows 0 .. 4   every mode (lr, pc0, pc1, cum, lrmax)
 *   rows 5 .. 6   SGD_CLOSED (from SCALED): the sums of the iterates
 *   rows 5 .. 7   SCALED with the cumulative L1 penalty (c->l1_cum, no
 *                 averaging): U, u and the scale after each step
 *                 (fgd_l1_cum_catch_up)
 *   rows 5 .. 8   RMSPROP_MOMENTUM's q (row 5) and DECAY's and its powers (6 .. 8)
 *   rows 7 .. 11  ADAGRAD_L2's prefix sums
 *   rows 5 .. 23  MOMENTUM's block maps (5 .. 11) and powers (12 .. 17) or
 *                 spans (12 .. 23)
 *   rows 5 .. 23  ADAM's tables (5 .. 16) and powers (17 .. 23)
 */
/*
 * The cumulative L1 penalty (optim.h: fgd_l1_cumulative) in SCALED mode, for
 * a coordinate v = w / scale that no step touched from table index ia to
 * ib: each of those steps scaled w (L2) and applied its penalty, as the
 * dense loop does. TU, Tu and Ts hold, after i steps of the chunk, U (the
 * threshold in v-units: the sum of l1 lr / scale since the last fold), u
 * and the scale (fgd_lazy's cU, cu, cs). Once a weight has taken its due it
 * owes nothing more (q = -u for a positive weight), so after the first
 * skipped step, which also takes what it owed before (e0, zero but for
 * rounding), the steps are soft-thresholds adding up to TU[ib] - TU[ia].
 * Where they reach zero, the step that clipped it is found by bisection
 * (fgd_l1_cum_clip): O(log J) for a gap of J steps. Returns the new v; *q
 * is updated.
 */
/* A weight of magnitude a (v-units, sign sgn) at index ia that owed e0
 * (v-units at step ia + 1) and reaches zero by ib: its q after the step that
 * clipped it (the first m with e0 + TU[m] - TU[ia] >= a, by bisection: TU
 * increases). q0: its q at ia. */
static inline double fgd_l1_cum_clip(double a, double sgn, double e0, double q0,
                                     const double *TU, const double *Tu, const double *Ts,
                                     int64_t ia, int64_t ib)
{
    int64_t lo = ia + 1, hi = ib;
    while (lo < hi) {
        const int64_t m = lo + (hi - lo) / 2;
        if (e0 + (TU[m] - TU[ia]) >= a) hi = m;
        else lo = m + 1;
    }
    /* step lo took the whole weight left before its penalty */
    if (lo == ia + 1) return q0 - sgn * a * Ts[lo];
    return -sgn * (Tu[lo - 1] + (a - e0 - (TU[lo - 1] - TU[ia])) * Ts[lo]);
}

static inline double fgd_l1_cum_catch_up(double v, double *q, const double *TU,
                                         const double *Tu, const double *Ts, int64_t ia,
                                         int64_t ib)
{
    double sgn, a, e0, theta;
    if (ia >= ib || v == 0.0) return v;
    sgn = v > 0.0 ? 1.0 : -1.0;
    a = fabs(v);
    e0 = (Tu[ia] + sgn * *q) / Ts[ia + 1];
    theta = e0 + (TU[ib] - TU[ia]);
    if (a > theta) {
        *q = -sgn * Tu[ib];
        return sgn * (a - theta);
    }
    *q = fgd_l1_cum_clip(a, sgn, e0, *q, TU, Tu, Ts, ia, ib);
    return 0.0;
}

/* The cumulative L1 penalty of a step in SCALED mode, on v = w / scale
 * after the step's update: fgd_l1_cumulative in v-units (inv_scale =
 * 1 / scale), written without branches on the signs, which are random (a
 * branch per sign cost a quarter of csr_sgd_rows' epoch). */
static inline double fgd_l1_cum_step(double z, double u, double scale, double inv_scale,
                                     double *q)
{
    const double sz = (double)((z > 0.0) - (z < 0.0));
    const double a = fabs(z) - (u + sz * *q) * inv_scale;
    const double v = a > 0.0 ? copysign(a, z) : 0.0;
    *q += scale * (v - z);
    return v;
}

static inline int fgd_lazy_table_rows(const fgd_config *c)
{
    const int nopen = c->l2 == 0.0 && c->l1 == 0.0;
    switch (c->optimizer) {
    case FGD_SGD:      return c->hyper[0] != 0.0 ? 24 : (c->l1_cum ? 8 : 7);
    case FGD_ADAGRAD:  return c->l2 == 0.0 ? 5 : 12;
    case FGD_RMSPROP:
    case FGD_ADADELTA: return nopen ? 9 : 5;
    case FGD_FTRL:     return 5;
    default:           return 24;   /* Adam, AdamW */
    }
}

/*
 * Fill the per-step tables for the nsteps steps from t0 (tables holds
 * fgd_lazy_table_rows(c) * (nsteps + 1) doubles) and choose the catch-up
 * mode.
 */
static inline void fgd_lazy_setup(fgd_lazy *L, const fgd_config *c, int64_t t0,
                                  int64_t nsteps, double *tables, int single)
{
    const int64_t N = nsteps + 1;
    const double *h = c->hyper;
    double *lr = tables, *pc0 = tables + N, *pc1 = tables + 2 * N;
    double *cum = tables + 3 * N, *lrmax = tables + 4 * N;
    const int nopen = c->l2 == 0.0 && c->l1 == 0.0;   /* skipped steps see g = 0 */
    int64_t i;
    int shrink_ok = 1;

    for (i = 0; i < N; i++) {
        double pc[2];
        lr[i] = fgd_lr_at(c, t0 + i);
        fgd_step_constants(c->optimizer, h, lr[i], t0 + i + 1, pc);
        pc0[i] = pc[0];
        pc1[i] = pc[1];
        /* the scale trick needs every factor 1 - lr * l2 to be positive */
        if (i < nsteps && !(1.0 - lr[i] * c->l2 > 0.0)) shrink_ok = 0;
    }
    cum[0] = 0.0;
    for (i = 0; i < nsteps; i++) cum[i + 1] = cum[i] + pc0[i];
    lrmax[nsteps] = 0.0;
    for (i = nsteps - 1; i >= 0; i--) lrmax[i] = lr[i] > lrmax[i + 1] ? lr[i] : lrmax[i + 1];

    L->c = c;
    L->t0 = t0;
    L->nsteps = nsteps;
    L->lr = lr;
    L->pc0 = pc0;
    L->pc1 = pc1;
    L->cum = cum;
    L->lrmax = lrmax;
    L->single = single;
    L->trunc = 0;
    L->trunc_factor = 0.0;
    L->rate[0] = L->rate[1] = L->rate[2] = 1.0;
    L->rpow[0] = L->rpow[1] = L->rpow[2] = NULL;
    L->mode = FGD_LAZY_LOOP;
    L->const_lr = 1;
    for (i = 1; i < nsteps; i++)
        if (lr[i] != lr[0]) L->const_lr = 0;
    L->astart = c->average_start < 0 ? INT64_MAX
              : (c->average_start > t0 ? c->average_start - t0 : 0);
    L->asum1 = tables + 5 * N;
    L->asum2 = tables + 6 * N;
    L->q2 = tables + 7 * N;
    L->p1 = tables + 8 * N;
    L->p2 = tables + 9 * N;
    L->pq2 = tables + 10 * N;
    L->q3 = tables + 11 * N;
    L->mblk = NULL;
    L->mpow = NULL;
    L->cU = L->cu = L->cs = NULL;
    if (c->l1_cum && c->l1 > 0.0 && c->optimizer == FGD_SGD && h[0] == 0.0) {
        /* rows 5 .. 7 (fgd_lazy_table_rows): from the chunk's start */
        L->cU = tables + 5 * N;
        L->cu = tables + 6 * N;
        L->cs = tables + 7 * N;
        L->cU[0] = 0.0;
        L->cs[0] = 1.0;   /* (cu[0], u at the start: the epoch function) */
    }
    L->msuf = L->mpre = NULL;
    L->mlevels = 0;
    L->ns = fgd_n_state(c->optimizer, h);

    switch (c->optimizer) {
    case FGD_SGD:
        if (h[0] == 0.0) {
            if (nopen) L->mode = FGD_LAZY_IDENTITY;
            else if (shrink_ok && !c->l2_decoupled) L->mode = FGD_LAZY_SCALED;
        } else if (c->l1 == 0.0 && (c->l2 == 0.0 || !c->l2_decoupled)) {
            /* rows 5.. of the tables (SGD_CLOSED's and ADAGRAD_L2's) hold
             * the block maps: 6 nsteps <= 7 N doubles */
            L->mode = FGD_LAZY_MOMENTUM;
            fgd_lazy_momentum_blocks(L, tables + 5 * N);
            /* rows 12 .. 17: the powers of a constant step's map; where
             * the maps differ, the spans' suffixes (12 .. 17) and prefixes
             * (18 .. 23) */
            fgd_lazy_momentum_powers(L, tables + 12 * N);
            if (!L->mpow) fgd_lazy_momentum_spans(L, tables + 12 * N, tables + 18 * N);
        }
        break;
    case FGD_ADAGRAD:
        if (c->l2 == 0.0) {
            L->mode = c->l1 == 0.0 ? FGD_LAZY_IDENTITY : FGD_LAZY_ADAGRAD_L1;
        } else if (c->l1 == 0.0 && !c->l2_decoupled && h[0] >= 0.0 && h[1] >= 0.0) {
            /* clr_k = pc0[k] <= lr[k] (lr_decay >= 0): lrmax bounds it */
            double *q2 = tables + 7 * N, *p1 = tables + 8 * N;
            double *p2 = tables + 9 * N, *pq2 = tables + 10 * N, *q3 = tables + 11 * N;
            q2[0] = p1[0] = p2[0] = pq2[0] = q3[0] = 0.0;
            for (i = 0; i < nsteps; i++) {
                q2[i + 1] = q2[i] + pc0[i] * pc0[i];
                q3[i + 1] = q3[i] + pc0[i] * pc0[i] * pc0[i];
                p1[i + 1] = p1[i] + cum[i];
                p2[i + 1] = p2[i] + cum[i] * cum[i];
                pq2[i + 1] = pq2[i] + q2[i];
            }
            L->mode = FGD_LAZY_ADAGRAD_L2;
        }
        break;
    case FGD_RMSPROP:
        if (nopen) {
            const int centered = h[3] != 0.0;
            L->rate[0] = h[0];
            if (centered) L->rate[1] = h[0];
            if (h[2] == 0.0) {
                L->mode = FGD_LAZY_DECAY;
            } else if (h[2] < 1.0) {
                double *q = tables + 5 * N;
                L->trunc = 1;   /* for the replay when averaging */
                L->rate[1 + centered] = h[2];
                L->trunc_factor = h[2] / (1.0 - h[2]);
                q[nsteps] = 0.0;
                for (i = nsteps - 1; i >= 0; i--) q[i] = lr[i] + h[2] * q[i + 1];
                L->aq[0] = q;
                L->mode = FGD_LAZY_RMSPROP_MOMENTUM;
            }
        }
        break;
    case FGD_ADADELTA:
        if (nopen) {
            L->mode = FGD_LAZY_DECAY;
            L->rate[0] = L->rate[1] = h[0];
        }
        break;
    case FGD_FTRL:
        if (nopen) L->mode = FGD_LAZY_LAST;
        break;
    default: /* Adam, AdamW */
        if (nopen) {
            const double r = h[0] / sqrt(h[1]);
            if (h[1] > 0.0 && r < 1.0) {
                L->trunc = 1;
                L->rate[0] = h[0];
                L->rate[1] = h[1];
                L->trunc_factor = r / (1.0 - r);
            }
        }
        /* no penalty, or AdamW's decoupled decay alone (the skipped steps
         * see g = 0 either way): rows 5 .. 16 hold ADAM's tables, rows
         * 17 .. 23 its powers */
        if ((nopen || (c->l1 == 0.0 && c->l2_decoupled && c->l2 > 0.0)) && h[1] > 0.0 &&
            h[0] >= 0.0 && h[0] < h[1] * h[1] && h[1] <= 1.0 && h[2] >= 0.0 &&
            fgd_lazy_adam_tables(L, tables + 5 * N, tables + 17 * N,
                                 c->l2_decoupled ? c->l2 : 0.0))
            L->mode = FGD_LAZY_ADAM;
        break;
    }
    if (L->mode == FGD_LAZY_DECAY || L->mode == FGD_LAZY_RMSPROP_MOMENTUM) {
        /* the powers of the state's decay rates, in rows 6 .. 8 (row 5 is
         * RMSPROP_MOMENTUM's q): a catch-up looks rate^J up instead of
         * calling pow, which took 43% of an RMSprop-with-momentum epoch at
         * batch 1 (three per catch-up). The same values as pow's. */
        double *row = tables + 6 * N;
        int k;
        for (k = 0; k < 3; k++) {
            if (L->rate[k] == 1.0) continue;
            for (i = 0; i < N; i++) row[i] = pow(L->rate[k], (double)i);
            L->rpow[k] = row;
            row += N;
        }
    }
}

/* rate[k] to the power J (0 <= J <= nsteps): from the table when there is one. */
static inline double fgd_lazy_rate_pow(const fgd_lazy *L, int k, int64_t J)
{
    return L->rpow[k] ? L->rpow[k][J] : pow(L->rate[k], (double)J);
}

/*
 * SGD_CLOSED: the tables of the sums of the iterates over a gap, which every
 * catch-up reads for gsum's L2 part and for averaging (fgd_lazy_catch_up,
 * through fgd_lazy_closed_sgd_sum, for gaps over FGD_AVG_DIRECT_MAX steps).
 * Only csr_hogwild_scaled, which leaves no column behind, does without them.
 */
static inline void fgd_lazy_closed_sgd_iterate_sums(const fgd_lazy *L, double *tables)
{
    const int64_t N = L->nsteps + 1;
    const double *prodp = L->cum, *q = L->lrmax;
    double *a1 = tables + 5 * N, *a2 = tables + 6 * N;
    int64_t i;
    a1[0] = a2[0] = 0.0;
    for (i = 1; i < N; i++) {
        a1[i] = a1[i - 1] + prodp[i];
        a2[i] = a2[i - 1] + prodp[i] * q[i];
    }
}

/*
 * Switch a SCALED setup to SGD_CLOSED (per-coordinate closed form): the
 * tables cum and lrmax are refilled with prefix products of (1 - lr l2) and
 * prefix sums of lr l1 / prod(1 - lr l2), and with iterate_sums the tables
 * of the sums of the iterates (fgd_lazy_closed_sgd_iterate_sums). Returns 0
 * (and changes nothing) where the prefix product would leave the range of a
 * double.
 */
static inline int fgd_lazy_closed_sgd(fgd_lazy *L, double *tables, int iterate_sums)
{
    const fgd_config *c = L->c;
    const int64_t N = L->nsteps + 1;
    double *prodp = tables + 3 * N, *q = tables + 4 * N;
    int64_t i;
    if (L->mode != FGD_LAZY_SCALED) return 1;   /* the other modes are per coordinate */
    /* prodp[i] = prod_{k < i} a_k (no underflow: >= e^-600) */
    if (!fgd_lazy_decay_products(L, c->l2, prodp)) return 0;
    q[0] = 0.0;
    for (i = 0; i < L->nsteps; i++) q[i + 1] = q[i] + c->l1 * L->lr[i] / prodp[i + 1];
    L->cum = prodp;
    L->lrmax = q;
    L->mode = FGD_LAZY_SGD_CLOSED;
    if (iterate_sums) fgd_lazy_closed_sgd_iterate_sums(L, tables);
    return 1;
}

/* Bound on |movement of w| over the steps from table index i on (g = 0). */
static inline double fgd_lazy_bound(const fgd_lazy *L, const double *s, int64_t i)
{
    const fgd_config *c = L->c;
    double mov;
    switch (c->optimizer) {
    case FGD_SGD:
        mov = fabs(s[0]);
        break;
    case FGD_RMSPROP:
        mov = fabs(s[1 + (c->hyper[3] != 0.0)]);
        break;
    default: /* Adam, AdamW */
        if (s[0] == 0.0) return 0.0;
        if (!(s[1] > 0.0)) return INFINITY;
        mov = fabs(s[0]) / (L->pc0[i] * sqrt(s[1]));
        break;
    }
    return L->lrmax[i] * mov * L->trunc_factor;
}

static inline double fgd_round_single(double v) { return (double)(float)v; }

/* Averaged SGD, SGD_CLOSED: ranges up to this many steps are summed directly. */
#ifndef FGD_AVG_DIRECT_MAX
#define FGD_AVG_DIRECT_MAX 16
#endif

/* Averaged SGD: how many of the table indices [ia, ib) are averaged. */
static inline int64_t fgd_lazy_n_averaged(const fgd_lazy *L, int64_t ia, int64_t ib)
{
    const int64_t lo = ia > L->astart ? ia : L->astart;
    return ib > lo ? ib - lo : 0;
}

/*
 * SGD_CLOSED, averaged: the sum of the iterates after the steps at table
 * indices [lo, ib), starting from w at index ia <= lo. After step i,
 * |w_i| = prodp[i+1] max(0, |w| / prodp[ia] - (q[i+1] - q[ia])), positive
 * while q[i+1] < Q = |w| / prodp[ia] + q[ia] (q is nondecreasing): up to that
 * step the sum is Q (asum1[e] - asum1[lo]) - (asum2[e] - asum2[lo]). Short
 * ranges are summed directly, which is exact to rounding; the prefix
 * differences lose about eps * asum1[e] in absolute terms.
 */
static inline double fgd_lazy_closed_sgd_sum(const fgd_lazy *L, double w, int64_t ia,
                                             int64_t lo, int64_t ib)
{
    const double *prodp = L->cum, *q = L->lrmax;
    const double Q = fabs(w) / prodp[ia] + q[ia];
    double sum = 0.0;
    int64_t e, hi;
    if (ib - lo <= FGD_AVG_DIRECT_MAX) {
        for (e = lo; e < ib && q[e + 1] < Q; e++) sum += prodp[e + 1] * (Q - q[e + 1]);
    } else {
        /* e: the first step in [lo, ib) after which w is zero (ib if none) */
        e = lo;
        hi = ib;
        while (e < hi) {
            const int64_t mid = e + (hi - e) / 2;
            if (q[mid + 1] < Q) e = mid + 1;
            else hi = mid;
        }
        sum = Q * (L->asum1[e] - L->asum1[lo]) - (L->asum2[e] - L->asum2[lo]);
        /* The differences lose about eps * (Q asum1[e] + |asum2[e]|): with
         * w far into a strong decay (prodp[ia] tiny, Q huge against the
         * gap's terms) that was all of the sum (the gradient norm of a
         * Hogwild! epoch with strong L2 1.7x off, an elastic-net average
         * 0.2 off). There the terms are added one by one, in order; they
         * do not grow, so the rest is at most (terms left) x (last term). */
        if (!(4.5e-16 * (Q * L->asum1[e] + fabs(L->asum2[e])) <= 1e-12 * fabs(sum))) {
            int64_t k;
            sum = 0.0;
            for (k = lo; k < e; k++) {
                const double term = prodp[k + 1] * (Q - q[k + 1]);
                sum += term;
                if (term * (double)(e - k - 1) <= 1e-17 * sum) break;
            }
        }
        if (sum < 0.0) sum = 0.0;
    }
    return w < 0.0 ? -sum : sum;
}

/* Inlining hints where GCC's own choice measured slower (GCC and Clang). */
#if defined(__GNUC__)
#define FGD_LAZY_ALWAYS_INLINE __attribute__((always_inline))
#define FGD_LAZY_NOINLINE __attribute__((noinline))
#else
#define FGD_LAZY_ALWAYS_INLINE
#define FGD_LAZY_NOINLINE
#endif

/*
 * ADAGRAD_L2: the J = ib - ia skipped steps of Adagrad with L2 (g = l2 w):
 *   G += (l2 w)^2;  w *= 1 - clr_k c(G),  c(G) = l2 / (sqrt(G) + eps),
 * with the smooth gradient l2 w (before each step) added to *gs. With
 * S1_m = sum of clr over the first m steps of the gap (S2_m: of clr^2; S1,
 * S2, S3 over the whole gap, S3 of clr^3), u = (l2 w)^2 and c0 = c(G), to
 * third order in x = clr c for w and second order elsewhere, and to first
 * order in the growth of G over the gap (c falls by e1 = -c'(G) u per step):
 *   log(w_J / w) = -c0 S1 - c0^2 S2 / 2 - c0^3 S3 / 3 + e1 sum_k clr_k (k + 1)
 *   sum_m w_m    = w (J - c0 sum_m S1_m + c0^2 sum_m (S1_m^2 - S2_m) / 2)
 *   G_J - G      = u (J - 2 c0 sum_m S1_m + c0^2 sum_m (2 S1_m^2 - S2_m))
 * each sum over the gap read from the prefix tables q2, p1, p2, pq2, q3. What
 * is left out is bounded by the next terms of the expansions (and the
 * rounding of the prefix differences); if a bound exceeds share times
 * FGD_LAZY_RTOL relative to w or to G, or share times FGD_LAZY_GTOL relative
 * to the gradient sum (which only feeds the reported gradient norm), nothing
 * is changed and 0 is returned: a shorter gap may pass. Returns -1, also
 * changing nothing, where no gap from ia passes (G = 0, or a single step's
 * x above 1e-3), and 1 when applied. Always inlined: called from two
 * places, GCC kept it out of line, and the call cost the common catch-up 5%.
 */
static inline FGD_LAZY_ALWAYS_INLINE int
fgd_lazy_adagrad_l2(const fgd_lazy *L, double *w, double *s, double *gs, int64_t ia, int64_t ib,
                    double share)
{
    const double l2 = L->c->l2, eps = L->c->hyper[1], G = s[0], w0 = *w;
    const double J = (double)(ib - ia), *C = L->cum;
    const double tiny = 4.0 * 2.220446049250313e-16;
    double sq, c0, u, a, xmax, S1, S2, S3, P1, V, V2, U2, W1, e1;
    double cS, err_w, err_p, err_g, logP, sumP;
    if (w0 == 0.0) return 1;   /* g = 0 at every skipped step: nothing moves */
    if (!(G > 0.0)) return -1;
    sq = sqrt(G);
    c0 = l2 / (sq + eps);
    u = l2 * l2 * w0 * w0;
    a = J * u / G;                 /* >= the relative growth of G over the gap */
    xmax = L->lrmax[ia] * c0;      /* >= clr_k c for every step of the gap */
    if (!(xmax <= 1e-3)) return -1;
    if (!(a <= 1e-3)) return 0;
    S1 = C[ib] - C[ia];
    S2 = L->q2[ib] - L->q2[ia];
    S3 = L->q3[ib] - L->q3[ia];
    P1 = L->p1[ib] - L->p1[ia];
    V = P1 - J * C[ia];                                           /* sum_m S1_m */
    V2 = (L->p2[ib] - L->p2[ia]) - 2.0 * C[ia] * P1 + J * C[ia] * C[ia];  /* S1_m^2 */
    U2 = (L->pq2[ib] - L->pq2[ia]) - J * L->q2[ia];               /* sum_m S2_m */
    W1 = J * S1 - V;                                   /* sum_k clr_k (k + 1) */
    e1 = c0 * u / (2.0 * sq * (sq + eps));
    cS = c0 * S1;
    /* left out, relative to w: x^4 terms, the curvature of c(G), u taken at
     * w instead of w_m, G's growth in the x^2 term; and the rounding */
    err_w = xmax * xmax * c0 * c0 * S2 + cS * a * a + 2.0 * e1 * W1 * cS + c0 * c0 * S2 * a +
            tiny * (c0 * fabs(C[ib]) + e1 * (J * fabs(C[ib]) + fabs(L->p1[ib]) +
                                              J * fabs(C[ia])));
    /* relative to J (the gradient sum): the third-order term, G's growth */
    err_p = cS * cS * cS + e1 * W1 + c0 * c0 * S2 * cS +
            tiny * (c0 * (fabs(L->p1[ib]) + J * fabs(C[ia])) +
                    c0 * c0 * (fabs(L->p2[ib]) + 2.0 * fabs(C[ia] * L->p1[ib]) +
                               J * C[ia] * C[ia] + fabs(L->pq2[ib]) + J * L->q2[ia])) / J;
    /* relative to G: the third-order terms of sum_m (w_m / w)^2, G's growth */
    err_g = a * (2.0 * (cS * cS * cS + e1 * W1 + c0 * c0 * S2 * cS)) + a * err_p;
    if (!(err_w <= share * FGD_LAZY_RTOL && err_p <= share * FGD_LAZY_GTOL &&
          err_g <= share * FGD_LAZY_RTOL))
        return 0;
    logP = -cS - 0.5 * c0 * c0 * S2 - c0 * c0 * c0 * S3 / 3.0 + e1 * W1;
    sumP = J - c0 * V + 0.5 * c0 * c0 * (V2 - U2);
    *gs += l2 * w0 * sumP;
    s[0] = G + u * (J - 2.0 * c0 * V + c0 * c0 * (2.0 * V2 - U2));
    *w = w0 * exp(logP);
    if (L->single) {
        *w = fgd_round_single(*w);
        s[0] = fgd_round_single(s[0]);
    }
    return 1;
}

/*
 * The replay: the skipped steps [ia, ib) one by one with fgd_coord_step
 * (g = 0), the iterates of the averaged ones added to *as (when not NULL);
 * stopped early where L->trunc allows.
 */
static inline void fgd_lazy_replay(const fgd_lazy *L, double *w, double *s, double *gs,
                                   int64_t ia, int64_t ib, double *as)
{
    int64_t i;
    int k;
    for (i = ia; i < ib; i++) {
        const double pc[2] = {L->pc0[i], L->pc1[i]};
        if (*w == 0.0 && s[0] == 0.0 && s[1] == 0.0 && s[2] == 0.0)
            return; /* a fixed point of every rule under g = 0 (and adds 0 to *as) */
        *w = fgd_coord_step(L->c, *w, 0.0, s, L->lr[i], pc, 1, gs);
        if (L->single) {
            *w = fgd_round_single(*w);
            for (k = 0; k < 3; k++) s[k] = fgd_round_single(s[k]);
        }
        if (as && i >= L->astart) *as += *w;
        if (L->trunc && i + 1 < ib &&
            fgd_lazy_bound(L, s, i + 1) <= FGD_LAZY_RTOL * fabs(*w)) {
            for (k = 0; k < 3; k++)
                if (L->rate[k] != 1.0) s[k] *= fgd_lazy_rate_pow(L, k, ib - i - 1);
            /* w stays within the truncation bound of its value here */
            if (as) *as += *w * (double)fgd_lazy_n_averaged(L, i + 1, ib);
            return;
        }
    }
}

/* ADAGRAD_L2: the shortest part of a gap taken in closed form; shorter
 * parts where no closed form passes are replayed. */
#define FGD_LAZY_PART_MIN 16

/*
 * ADAGRAD_L2's catch-up of the gap [ia, ib): in closed form
 * (fgd_lazy_adagrad_l2) in parts, each held to its share (its length / J)
 * of the bounds, so that what the parts leave out adds up to at most the
 * bound of one closed form over the whole gap (to first order: w and G
 * change little within a part). A part that fails is halved, one that
 * passes is followed by one twice as long; where no part longer than
 * FGD_LAZY_PART_MIN steps passes, FGD_LAZY_PART_MIN steps are replayed
 * (early in training, when G is small, a gap of thousands of steps that
 * failed as a whole was replayed whole). The whole gap is tried first, so a
 * catch-up that passes as one takes the same single closed form as before:
 * this is called after the whole gap failed, whole its return value (a rare
 * path: 0.08% of the catch-ups of a 200,000 x 100,000 fit, kept out of
 * line). Returns 1 if any step was replayed.
 */
static FGD_LAZY_NOINLINE int fgd_lazy_adagrad_l2_parts(const fgd_lazy *L, double *w, double *s,
                                                       double *gs, int64_t ia, int64_t ib,
                                                       int whole)
{
    const double J = (double)(ib - ia);
    /* the first part: half the gap where the whole gap's bound failed, none
     * (a replay) where no closed form from ia passes */
    int64_t i = ia, len = whole == 0 ? (ib - ia) / 2 : 0;
    int replayed = 0;
    while (i < ib) {
        int r = -1;
        if (len > ib - i) len = ib - i;
        if (len > FGD_LAZY_PART_MIN)
            r = fgd_lazy_adagrad_l2(L, w, s, gs, i, i + len, (double)len / J);
        if (r > 0) {
            i += len;
            len *= 2;
        } else if (r == 0) {
            len /= 2;
        } else {
            const int64_t n = ib - i < FGD_LAZY_PART_MIN ? ib - i : FGD_LAZY_PART_MIN;
            fgd_lazy_replay(L, w, s, gs, i, i + n, NULL);
            i += n;
            len = 2 * FGD_LAZY_PART_MIN;
            replayed = 1;
        }
    }
    return replayed;
}

/*
 * ADAM: the J = ib - ia skipped steps of Adam without penalty or with
 * AdamW's decoupled decay alone (g = 0). After j of them m_j = beta1^j m and
 * v_j = beta2^j v, and the step at table index i = ia + j - 1 first decays w
 * by a_i (fgd_lazy_adam_tables), then moves it by
 *   Delta_i = step_i m_j / (sqrt(v_j) + eps bc2s_i),  step_i = lr_i bc2s_i / bc1_i,
 *           = (m / sqrt(v)) f_0(i) arho[0]^j / (1 + e_j),
 *   e_j = eps bc2s_i / (beta2^(j/2) sqrt(v)) <= e0 beta2^(-j/2), e0 = eps / sqrt(v).
 * So w_ib = (ad[ib] / ad[ia]) w - ad[ib] sum_i Delta_i / ad[i+1]. Expanding
 * 1 / (1 + e_j) = sum_n (-e_j)^n, the term n of that sum is
 * (m / sqrt(v)) (-e0)^n arho[n] (aq[n][ia] - arho[n]^J aq[n][ib]) (= T).
 * With decay the skipped steps add decay * sum_i w_i to the gradient sum,
 * the w before each step:
 *   sum_i w_i = (w / ad[ia]) (asd[ib] - asd[ia]) - (asd[ib] T - U),
 * U the same sum as T over ar. Terms n = 0 .. 2 are taken, and where what
 * they leave out is too much, terms up to L->aterms - 1 (FGD_LAZY_ADAM_TERMS
 * where arho of that many is < 1). The rest, after nt terms, is at
 * most E = (|m| / sqrt(v)) lr_max / bc1_ia e0^nt / (1 - e_max) arho[nt] /
 * (1 - arho[nt]) in w (bc2s <= 1, bc1 increasing, a <= 1) and J E in sum_i
 * w_i; with the rounding of the suffix differences, if that exceeds
 * FGD_LAZY_RTOL of |w| (the larger of w decayed over the gap and the w the
 * catch-up gives) or FGD_LAZY_GTOL of the
 * magnitude of sum_i w_i (or e_max > 1/2), nothing is changed and 0 is
 * returned: the caller replays. Those tolerances are scaled by share (at
 * most 1: the part of the bound this closed form may use). Returns 1 when
 * applied.
 * With amsgrad the denominator is sqrt(vmax) + eps bc2s_i, vmax = s[2]
 * unchanged by the gap (v only decays; checked: beta2 v <= vmax), so
 * e_j <= e0 = eps / sqrt(vmax), v is replaced by vmax above, and the terms
 * sum arho[n] = beta1 (fgd_lazy_adam_tables).
 */
static inline int fgd_lazy_adam(const fgd_lazy *L, double *w, double *s, double *gs,
                                int64_t ia, int64_t ib, double share)
{
    const double *h = L->c->hyper, eps = h[2], m = s[0], v = s[1], w0 = *w;
    const double J = (double)(ib - ia), tiny = 16.0 * 2.220446049250313e-16;
    const double decay = L->adecay, *ad = L->ad, *asd = L->asd;
    const double R = ad[ib] / ad[ia], W = w0 / ad[ia] * (asd[ib] - asd[ia]);
    const int nmax = eps > 0.0 ? L->aterms : 1, amsgrad = h[3] != 0.0;
    /* beta^J as exp(J log beta) (within ~J |log beta| ulp; pow was a quarter
     * of an epoch's time), from the table of the gap's powers */
    const double *pw = L->apow + FGD_LAZY_ADAM_POWS * (ib - ia);
    const double b2J = pw[0];
    double sv, e0, emax, mv, T = 0.0, U = 0.0, rT = 0.0, rU = 0.0, p = 1.0, E, rn, wn;
    int n = 0, nt = nmax < 3 ? nmax : 3;
    if (amsgrad && !(h[1] * v <= s[2])) return 0;   /* vmax would move */
    if (m == 0.0) {   /* m stays 0: w only decays */
        *gs += decay * W;
        *w = R * w0;
        s[1] = v * b2J;
        if (L->single) {
            *w = fgd_round_single(*w);
            s[1] = fgd_round_single(s[1]);
        }
        return 1;
    }
    if (amsgrad) {
        /* the denominator is the running maximum vmax = s[2], constant over
         * the gap as beta2 v <= vmax (checked above; then so is every later v) */
        if (!(s[2] > 0.0)) return 0;
        sv = sqrt(s[2]);
        e0 = eps / sv;
        emax = e0;
    } else {
        if (!(v > 0.0)) return 0;
        sv = sqrt(v);
        e0 = eps / sv;
        emax = e0 / sqrt(b2J);
    }
    mv = m / sv;
    if (!(emax <= 0.5)) return 0;
    /* three terms, and where their bound fails and the tables allow, all */
    for (;;) {
        for (; n < nt; n++) {
            const double rJ = pw[1 + n], *q = L->aq[n], *r = L->ar[n];
            T += p * L->arho[n] * (q[ia] - rJ * q[ib]);
            rT += fabs(p) * L->arho[n] * (q[ia] + rJ * q[ib]);
            if (decay > 0.0) {
                U += p * L->arho[n] * (r[ia] - rJ * r[ib]);
                rU += fabs(p) * L->arho[n] * (r[ia] + rJ * r[ib]);
            }
            p *= -e0;
        }
        /* what the terms from nt on leave out (|p| = e0^nt) */
        rn = L->arho[nt];
        E = fabs(mv) * fabs(p) * L->lrmax[ia] / L->pc0[ia] * rn / (1.0 - rn) / (1.0 - emax);
        wn = R * w0 - mv * ad[ib] * T;
        /* relative to w after the gap, or before it where that is larger (a
         * small w, e.g. a feature seen a few times at a small step size, moves
         * by many times its size over a gap) */
        if (E + tiny * fabs(mv) * ad[ib] * rT <=
                share * FGD_LAZY_RTOL * fmax(R * fabs(w0), fabs(wn)) &&
            (decay == 0.0 ||
             J * E + tiny * (fabs(W) + fabs(mv) * (asd[ib] * rT + rU)) <=
                 share * FGD_LAZY_GTOL * (fabs(W) + fabs(mv) * (asd[ib] * fabs(T) + fabs(U)))))
            break;
        if (nt == nmax) return 0;
        nt = nmax;
    }
    if (decay > 0.0) *gs += decay * (W - mv * (asd[ib] * T - U));
    *w = wn;
    s[0] = m * pw[1 + FGD_LAZY_ADAM_TERMS];   /* beta1^J */
    s[1] = v * b2J;
    if (L->single) {
        *w = fgd_round_single(*w);
        s[0] = fgd_round_single(s[0]);
        s[1] = fgd_round_single(s[1]);
    }
    return 1;
}

/*
 * ADAM without penalty or decay (L->trunc), where the closed form over the
 * whole gap [ia, ib) refused: w moves by less than fgd_lazy_bound from a
 * step on, and that bound falls by r = beta1 / sqrt(beta2) per skipped
 * step (m decays by beta1, sqrt(v) by sqrt(beta2)), so only the first K
 * steps of a long gap move w by more than half of FGD_LAZY_RTOL |w|. Those
 * K go in closed form held to the other half; the rest only decays m and v
 * (and leaves vmax): what the replay, truncated, does step by step. A long
 * gap failed as a whole because v decays over it until eps / sqrt(v) is no
 * longer small (e_max > 1/2): about 300 steps in, at beta1 = 0.9, w has
 * stopped moving long before. Returns 1 when applied, else 0 with nothing
 * changed (the caller replays).
 */
static FGD_LAZY_NOINLINE int fgd_lazy_adam_head(const fgd_lazy *L, double *w, double *s,
                                                double *gs, int64_t ia, int64_t ib)
{
    const double r = L->c->hyper[0] / sqrt(L->c->hyper[1]);
    const double w0 = *w, s0[3] = {s[0], s[1], s[2]};
    double start, K;
    const double *pw;
    if (!(r > 0.0 && r < 1.0 && w0 != 0.0)) return 0;
    /* the bound from ia, over that from ia + K, is at least r^-K (lrmax
     * and 1 / pc0 do not grow); |w| can have moved over the K steps, so
     * the bound is checked again at the end against the w reached */
    start = fgd_lazy_bound(L, s, ia);
    if (!(start > 0.0 && isfinite(start))) return 0;
    K = ceil(log(0.5 * FGD_LAZY_RTOL * fabs(w0) / start) / log(r));
    if (!(K >= 1.0 && K < (double)(ib - ia))) return 0;
    if (!fgd_lazy_adam(L, w, s, gs, ia, ia + (int64_t)K, 0.5)) return 0;
    if (!(fgd_lazy_bound(L, s, ia + (int64_t)K) <= 0.5 * FGD_LAZY_RTOL * fabs(*w))) {
        *w = w0;
        s[0] = s0[0];
        s[1] = s0[1];
        s[2] = s0[2];
        return 0;
    }
    pw = L->apow + FGD_LAZY_ADAM_POWS * (ib - ia - (int64_t)K);
    s[0] *= pw[1 + FGD_LAZY_ADAM_TERMS];
    s[1] *= pw[0];
    if (L->single) {
        s[0] = fgd_round_single(s[0]);
        s[1] = fgd_round_single(s[1]);
    }
    return 1;
}

/* (w, buf = s[0]) through the map m (fgd_lazy_momentum_step's layout). */
static inline void fgd_lazy_momentum_apply(const double *m, double *w, double *s, double *gs)
{
    const double x = *w, b = s[0];
    *gs += m[4] * x + m[5] * b;
    *w = m[0] * x + m[1] * b;
    s[0] = m[2] * x + m[3] * b;
}

/*
 * MOMENTUM: the skipped steps [ia, ib) of one coordinate (w, buf = s[0]) as
 * one look-up of M^J where every step has the same map M (L->mpow); else,
 * where the gap crosses the end of ia's span (L->msuf), as the suffix of
 * ia's span, the aligned blocks of whole spans up to ib's span, and the
 * prefix of ib's span (at most 2 + 2 log2(J / FGD_LAZY_SPAN) maps; before
 * the spans a catch-up walked up to 2 log2(J) blocks and replayed single
 * steps); else as the longest aligned blocks that fit, in order, a step
 * that starts no block inside the range replayed with fgd_coord_step.
 */
static inline void fgd_lazy_momentum(const fgd_lazy *L, double *w, double *s, double *gs,
                                     int64_t ia, int64_t ib)
{
    const int64_t S = FGD_LAZY_SPAN;
    int64_t i = ia, end = ib;
    if (L->mpow) {   /* the same map at every step: M^J, looked up */
        fgd_lazy_momentum_apply(L->mpow + 6 * (ib - ia), w, s, gs);
        i = ib;
    } else if (L->msuf && ia / S != ib / S) {
        if (ia % S) {   /* to the end of ia's span */
            fgd_lazy_momentum_apply(L->msuf + 6 * ia, w, s, gs);
            i = ia - ia % S + S;
        }
        end = ib - ib % S;   /* the blocks below stop at ib's span */
    }
    while (i < end) {
        int l = 0;
        while (l < L->mlevels && (i & (((int64_t)2 << l) - 1)) == 0 &&
               i + ((int64_t)2 << l) <= end)
            l++;
        if (l == 0) {
            const double pc[2] = {L->pc0[i], L->pc1[i]};
            *w = fgd_coord_step(L->c, *w, 0.0, s, L->lr[i], pc, 1, gs);
            i++;
        } else {
            fgd_lazy_momentum_apply(L->mblk + L->moff[l] + 6 * (i >> l), w, s, gs);
            i += (int64_t)1 << l;
        }
    }
    if (end < ib)   /* from the start of ib's span */
        fgd_lazy_momentum_apply(L->mpre + 6 * ib, w, s, gs);
    if (L->single) {
        *w = fgd_round_single(*w);
        s[0] = fgd_round_single(s[0]);
    }
}

/* Whether fgd_lazy_catch_up replays the skipped steps one by one in L's
 * mode (averaging: the iterates' sums are kept), at a cost that grows with
 * the gap: LOOP, and the closed forms that give the final weight but not
 * each skipped step's iterate (fgd_lazy_catch_up takes its replay from
 * here). ADAGRAD_L2 and ADAM also replay a catch-up whose bound fails;
 * that is not counted here. */
static inline int fgd_lazy_replays(const fgd_lazy *L, int averaging)
{
    switch (L->mode) {
    case FGD_LAZY_LOOP:
        return 1;
    case FGD_LAZY_ADAGRAD_L1:
    case FGD_LAZY_ADAGRAD_L2:
    case FGD_LAZY_ADAM:
    case FGD_LAZY_RMSPROP_MOMENTUM:
    case FGD_LAZY_MOMENTUM:
        return averaging;
    case FGD_LAZY_LAST:
        return averaging && !L->const_lr;
    default:
        return 0;
    }
}

/*
 * Bring one coordinate (w, state s[0..2]) from step ta to step tb: apply
 * the steps ta .. tb-1 in which its loss gradient was zero. The smooth part
 * of the gradient of those steps is added to *gs, and, when as is not NULL
 * (averaged SGD), the iterate after each averaged one of those steps to *as.
 * Returns 1 if any of the steps went through the replay (step by step),
 * else 0.
 */
static inline int fgd_lazy_catch_up(const fgd_lazy *L, double *w, double *s, double *gs,
                                    int64_t ta, int64_t tb, double *as)
{
    const fgd_config *c = L->c;
    const int64_t ia = ta - L->t0, ib = tb - L->t0;
    int k;
    if (ib <= ia) return 0;
    /* averaging with a closed form that has no iterates: the replay below */
    switch (as && fgd_lazy_replays(L, 1) ? FGD_LAZY_LOOP : L->mode) {
    case FGD_LAZY_IDENTITY:
        if (as) *as += *w * (double)fgd_lazy_n_averaged(L, ia, ib);
        return 0;
    case FGD_LAZY_DECAY:
        for (k = 0; k < 3; k++)
            if (L->rate[k] != 1.0) s[k] *= fgd_lazy_rate_pow(L, k, ib - ia);
        if (as) *as += *w * (double)fgd_lazy_n_averaged(L, ia, ib);
        return 0;
    case FGD_LAZY_ADAGRAD_L1:
        *w = fgd_soft(*w, c->l1 * (L->cum[ib] - L->cum[ia]) / (sqrt(s[0]) + c->hyper[1]));
        return 0;
    case FGD_LAZY_LAST: {
        const double pc[2] = {L->pc0[ib - 1], L->pc1[ib - 1]};
        /* w was computed at step ia - 1 (this chunk): same step size, same w */
        if (!(ia > 0 && L->lr[ia - 1] == L->lr[ib - 1]))
            *w = fgd_coord_step(c, *w, 0.0, s, L->lr[ib - 1], pc, 1, gs);
        if (as) *as += *w * (double)fgd_lazy_n_averaged(L, ia, ib);
        return 0;
    }
    case FGD_LAZY_SGD_CLOSED: {
        const double R = L->cum[ib] / L->cum[ia];
        const double C = L->cum[ib] * (L->lrmax[ib] - L->lrmax[ia]);
        const double a = R * fabs(*w) - C;
        const int64_t na = fgd_lazy_n_averaged(L, ia, ib);
        if (as && na > 0) *as += fgd_lazy_closed_sgd_sum(L, *w, ia, ib - na, ib);
        /* the L2 part of the skipped steps' gradients: l2 times w before each */
        *gs += c->l2 * (*w + fgd_lazy_closed_sgd_sum(L, *w, ia, ia, ib - 1));
        *w = a > 0.0 ? (*w > 0.0 ? a : -a) : 0.0;
        return 0;
    }
    case FGD_LAZY_ADAGRAD_L2:
    {
        const int whole = fgd_lazy_adagrad_l2(L, w, s, gs, ia, ib, 1.0);
        return whole > 0 ? 0 : fgd_lazy_adagrad_l2_parts(L, w, s, gs, ia, ib, whole);
    }
    case FGD_LAZY_ADAM:
        if (fgd_lazy_adam(L, w, s, gs, ia, ib, 1.0)) return 0;
        if (L->trunc && fgd_lazy_adam_head(L, w, s, gs, ia, ib)) return 0;
        break;   /* the replay (truncated without decay) */
    case FGD_LAZY_RMSPROP_MOMENTUM: {
        /* buf_j = mu^j buf moves w by lr_i buf_j at table index i = ia + j - 1 */
        /* rate[kb] is mu: its power is mu^J */
        const double mu = c->hyper[2], *q = L->aq[0];
        const int kb = 1 + (c->hyper[3] != 0.0);
        *w -= s[kb] * mu * (q[ia] - fgd_lazy_rate_pow(L, kb, ib - ia) * q[ib]);
        for (k = 0; k < 3; k++)
            if (L->rate[k] != 1.0) s[k] *= fgd_lazy_rate_pow(L, k, ib - ia);
        if (L->single) {
            *w = fgd_round_single(*w);
            for (k = 0; k < 3; k++) s[k] = fgd_round_single(s[k]);
        }
        return 0;
    }
    case FGD_LAZY_MOMENTUM:
        fgd_lazy_momentum(L, w, s, gs, ia, ib);
        return 0;
    default: /* FGD_LAZY_LOOP (SCALED is handled by the epoch loop itself) */
        break;
    }
    fgd_lazy_replay(L, w, s, gs, ia, ib, as);
    return 1;
}

/*
 * The batch fill (batch_size x mean non-zeros per row / n_features) from
 * which a CSR mini-batch epoch takes dense steps instead of lazy ones
 * (fastgd_csr.h): one vectorized optimizer step over every column costs
 * about 1-4 ns per column, a lazy step per touched column costs a catch-up
 * that depends on the mode, and a batch touches about 1 - exp(-fill) of the
 * columns. Measured crossovers (100,000 columns, 100 values per row, batch
 * sizes 4 to 4096, one thread; benchmarks/README.md): plain SGD's fused
 * loop (no catch-up at all) about 1; the cheap closed forms (IDENTITY,
 * SCALED with L1) about 0.1; ADAGRAD_L1 and LAST 0.06-0.08; ADAGRAD_L2,
 * MOMENTUM and ADAM 0.015-0.025; the replay (LOOP) lost at every batch
 * size measured (4x-6x at batch 4 for Adam and Adadelta with L2). DECAY
 * and RMSPROP_MOMENTUM re-measured in session 8, after their catch-ups
 * stopped calling pow and the RMSprop rule was vectorized (batch 8 to 128,
 * 50,000 rows): about 0.06 and 0.1. Rounded toward lazy steps; averaging
 * (whose catch-ups cost more) not counted.
 */
static inline double fgd_lazy_dense_fill(const fgd_lazy *L, const fgd_config *c)
{
    const int plain_sgd = c->optimizer == FGD_SGD && c->hyper[0] == 0.0 && c->l1 == 0.0;
    switch (L->mode) {
    case FGD_LAZY_IDENTITY:
    case FGD_LAZY_SCALED:
        return plain_sgd ? 1.0 : 0.12;
    case FGD_LAZY_DECAY:
        return 0.06;
    case FGD_LAZY_RMSPROP_MOMENTUM:
        return 0.1;
    case FGD_LAZY_ADAGRAD_L1:
    case FGD_LAZY_LAST:
        return 0.08;
    case FGD_LAZY_ADAGRAD_L2:
    case FGD_LAZY_MOMENTUM:
    case FGD_LAZY_ADAM:
        return 0.025;
    case FGD_LAZY_LOOP:
        return 0.0;
    default:
        return 1.0;
    }
}

/* Coordinates replayed together by fgd_lazy_replay_lanes. */
#define FGD_LAZY_LANES 8

/* Whether catch-ups in L's mode go through fgd_lazy_replay_lanes. */
static inline int fgd_lazy_lanes_apply(const fgd_lazy *L, const double *as)
{
    return L->mode == FGD_LAZY_LOOP && !L->trunc && !as;
}

/*
 * LOOP without truncation or averaging: the replays of nl <= FGD_LAZY_LANES
 * coordinates (w[k], s[k], gs[k]) from table index ia[k] to ib, in lockstep.
 * One coordinate's replay is a dependent chain (for RMSprop, Adadelta or Adam
 * with L2 a square root and a division per step); the lanes' chains are
 * independent, so the CPU overlaps them. Each lane takes the same operations
 * in the same order as fgd_lazy_catch_up's replay, so the results are the
 * same bits.
 */
static inline void fgd_lazy_replay_lanes(const fgd_lazy *L, int nl, double *w, double (*s)[3],
                                         double *gs, const int64_t *ia, int64_t ib)
{
    const fgd_config *c = L->c;
    int64_t i, i0 = ib;
    int k, q, live[FGD_LAZY_LANES];
    for (k = 0; k < nl; k++) {
        live[k] = ia[k] < ib;
        if (ia[k] < i0) i0 = ia[k];
    }
    for (i = i0; i < ib; i++) {
        const double pc[2] = {L->pc0[i], L->pc1[i]}, lr = L->lr[i];
        for (k = 0; k < nl; k++) {
            if (!live[k] || ia[k] > i) continue;
            if (w[k] == 0.0 && s[k][0] == 0.0 && s[k][1] == 0.0 && s[k][2] == 0.0) {
                live[k] = 0;   /* a fixed point of every rule under g = 0 */
                continue;
            }
            w[k] = fgd_coord_step(c, w[k], 0.0, s[k], lr, pc, 1, &gs[k]);
            if (L->single) {
                w[k] = fgd_round_single(w[k]);
                for (q = 0; q < 3; q++) s[k][q] = fgd_round_single(s[k][q]);
            }
        }
    }
}

#endif /* FASTGD_LAZY_H */
