/*
 * losses.h -- value and derivative (in the margin p) of every loss.
 * The formulas are those of fastgd/losses.py, term for term, so that the
 * reference and the compiled path round the same way.
 */
#ifndef FASTGD_LOSSES_H
#define FASTGD_LOSSES_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "fastgd.h"

static inline double fgd_sign(double v) { return (v > 0) - (v < 0); }

/*
 * The logistic loss log(1 + exp(-z)) and its derivative factor
 * 1 / (1 + exp(z)) go through fgd_exp_nonpos and fgd_log1p_unit below
 * rather than libm's exp and log1p: they are branch-free arithmetic on
 * doubles (no table, no call), so a loop over a group of margins compiles to
 * SIMD code, and they give the same bits in scalar and vector code (every
 * operation is a correctly rounded IEEE operation; the build does not
 * contract them into FMAs). Both are within 2 ulp of the correctly rounded
 * result (checked against libm on 2e7 points, and in tests/test_losses.py).
 */

/* exp(x) for x <= 0 (0 below -708, where the result would be subnormal;
 * NaN for NaN). x = k ln2 + r with |r| <= ln2 / 2 (ln2 split in two parts
 * so that k ln2_hi is exact), e^r by its Taylor polynomial of degree 13
 * (truncation below 1e-17 relative) evaluated by Estrin's scheme to keep the
 * dependency chain short, and 2^k built in the exponent bits. */
static inline double fgd_exp_nonpos(double x)
{
    const double shift = 0x1.8p52, inv_ln2 = 0x1.71547652b82fep0;
    const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    const double xc = x < -708.0 ? -708.0 : x;
    const double kd = xc * inv_ln2 + shift;   /* k = round(x / ln2) in the low bits */
    const double k = kd - shift;
    const double r = (xc - k * ln2_hi) - k * ln2_lo;
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double p01 = 1.0 + r, p23 = 0.5 + r * (1.0 / 6);
    const double p45 = (1.0 / 24) + r * (1.0 / 120), p67 = (1.0 / 720) + r * (1.0 / 5040);
    const double p89 = (1.0 / 40320) + r * (1.0 / 362880);
    const double p1011 = (1.0 / 3628800) + r * (1.0 / 39916800);
    const double p1213 = (1.0 / 479001600) + r * (1.0 / 6227020800.0);
    const double q0 = p01 + p23 * r2, q1 = p45 + p67 * r2, q2 = p89 + p1011 * r2;
    const double poly = (q0 + q1 * r4) + (q2 + p1213 * r4) * r8;
    uint64_t kbits, sbits;
    double scale;
    memcpy(&kbits, &kd, sizeof kbits);
    memcpy(&sbits, &shift, sizeof sbits);
    kbits = (kbits - sbits + 1023) << 52;     /* the double 2^k */
    memcpy(&scale, &kbits, sizeof scale);
    return x < -708.0 ? 0.0 : poly * scale;
}

/* log(1 + u) for 0 <= u <= 1: 1 + u = 2^k (1 + v) with k = 0 (v = u) or,
 * for u >= 1/2, k = 1 (v = (u - 1) / 2, exact), then
 * log(1 + v) = 2 atanh(s) = 2 (s + s^3/3 + ... + s^21/21) with
 * s = v / (2 + v), |s| <= 0.2 (truncation below 2e-17 relative). */
static inline double fgd_log1p_unit(double u)
{
    const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    const int big = u >= 0.5;
    const double v = big ? (u - 1.0) * 0.5 : u;
    const double k = big ? 1.0 : 0.0;
    const double s = v / (2.0 + v), t = s + s;
    const double z = s * s, z2 = z * z, z4 = z2 * z2, z8 = z4 * z4;
    const double a = (1.0 / 3) + z * (1.0 / 5), b = (1.0 / 7) + z * (1.0 / 9);
    const double c = (1.0 / 11) + z * (1.0 / 13), d = (1.0 / 15) + z * (1.0 / 17);
    const double e = (1.0 / 19) + z * (1.0 / 21);
    const double q = (a + b * z2) + (c + d * z2) * z4 + e * z8;
    return k * ln2_hi + (t + (t * z * q + k * ln2_lo));
}

/* The two halves of fgd_logistic (below), for a loop that needs the
 * derivative at once and the loss value later: 1 / (1 + exp(z)), with
 * e = exp(-|z|) ... */
static inline double fgd_logistic_sig(double z, double *e)
{
    *e = fgd_exp_nonpos(-fabs(z));
    return (z > 0 ? *e : 1.0) / (1.0 + *e);
}

/* ... and log(1 + exp(-z)) from z and that e. */
static inline double fgd_logistic_value(double z, double e)
{
    return (z > 0 ? 0.0 : -z) + fgd_log1p_unit(e);
}

/* Rows whose log-loss values wait for fgd_flush_log_losses: the batch-1
 * loops need each row's derivative at once (the next row's margin depends
 * on it), its loss value only for the epoch's sum. */
#define FGD_LOSS_GROUP 8

/* The log-losses of the m <= FGD_LOSS_GROUP pending rows (z = y p, e from
 * fgd_logistic_sig, weights s; arrays of FGD_LOSS_GROUP entries), added to
 * *loss_sum in row order: the log1p part of fgd_logistic, off the
 * row-to-row critical path and over the group in one loop the compiler
 * vectorizes (the same bits as one row at a time, see above). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline void fgd_flush_log_losses(const double *z, const double *e, const double *s,
                                        int m, double *loss_sum)
{
    double l[FGD_LOSS_GROUP];
    int k;
    for (k = 0; k < FGD_LOSS_GROUP; k++) l[k] = fgd_logistic_value(z[k], e[k]);
    for (k = 0; k < m; k++) *loss_sum += s[k] * l[k];
}

/* log(1 + exp(-z)) without overflow for any z; *sig = 1 / (1 + exp(z)),
 * so that the log-loss derivative is -y * sig. One exponential for both. */
static inline double fgd_logistic(double z, double *sig)
{
    double e;
    *sig = fgd_logistic_sig(z, &e);
    return fgd_logistic_value(z, e);
}

/* log(1 + exp(-z)) without overflow for any z. */
static inline double fgd_log1pexp_neg(double z)
{
    double sig;
    return fgd_logistic(z, &sig);
}

/* 1 / (1 + exp(z)) without overflow for any z. */
static inline double fgd_sigmoid_neg(double z)
{
    double sig;
    fgd_logistic(z, &sig);
    return sig;
}

static inline double fgd_loss(int loss, double eps, double y, double p)
{
    double r, z, a;
    switch (loss) {
    case FGD_SQUARED_ERROR:
        r = p - y;
        return 0.5 * r * r;
    case FGD_HUBER:
        r = p - y;
        a = fabs(r);
        return a <= eps ? 0.5 * r * r : eps * a - 0.5 * eps * eps;
    case FGD_EPSILON_INSENSITIVE:
        a = fabs(y - p) - eps;
        return a > 0 ? a : 0.0;
    case FGD_SQUARED_EPSILON_INSENSITIVE:
        a = fabs(y - p) - eps;
        return a > 0 ? a * a : 0.0;
    case FGD_LOG_LOSS:
        return fgd_log1pexp_neg(y * p);
    case FGD_HINGE:
        z = 1.0 - y * p;
        return z > 0 ? z : 0.0;
    case FGD_SQUARED_HINGE:
        z = 1.0 - y * p;
        return z > 0 ? z * z : 0.0;
    case FGD_MODIFIED_HUBER:
        z = y * p;
        if (z >= 1.0) return 0.0;
        if (z >= -1.0) return (1.0 - z) * (1.0 - z);
        return -4.0 * z;
    case FGD_PERCEPTRON:
        z = -y * p;
        return z > 0 ? z : 0.0;
    }
    return NAN;
}

static inline double fgd_dloss(int loss, double eps, double y, double p)
{
    double r, z;
    switch (loss) {
    case FGD_SQUARED_ERROR:
        return p - y;
    case FGD_HUBER:
        r = p - y;
        return fabs(r) <= eps ? r : eps * fgd_sign(r);
    case FGD_EPSILON_INSENSITIVE:
        r = y - p;
        return fabs(r) > eps ? -fgd_sign(r) : 0.0;
    case FGD_SQUARED_EPSILON_INSENSITIVE:
        r = y - p;
        if (r > eps) return -2.0 * (r - eps);
        if (r < -eps) return -2.0 * (r + eps);
        return 0.0;
    case FGD_LOG_LOSS:
        return -y * fgd_sigmoid_neg(y * p);
    case FGD_HINGE:
        return y * p <= 1.0 ? -y : 0.0;
    case FGD_SQUARED_HINGE:
        z = 1.0 - y * p;
        return z > 0 ? -2.0 * y * z : 0.0;
    case FGD_MODIFIED_HUBER:
        z = y * p;
        if (z >= 1.0) return 0.0;
        if (z >= -1.0) return -2.0 * y * (1.0 - z);
        return -4.0 * y;
    case FGD_PERCEPTRON:
        return y * p <= 0.0 ? -y : 0.0;
    }
    return NAN;
}

/* Loss value, and its derivative in *dl: fgd_loss() and fgd_dloss(), sharing
 * the one exponential of the logistic loss (same bits as calling both). */
static inline double fgd_loss_and_deriv(int loss, double eps, double y, double p,
                                        double *dl)
{
    if (loss == FGD_LOG_LOSS) {
        double sig;
        const double l = fgd_logistic(y * p, &sig);
        *dl = -y * sig;
        return l;
    }
    *dl = fgd_dloss(loss, eps, y, p);
    return fgd_loss(loss, eps, y, p);
}

/* The log-loss rows of a batch-1 loop whose loss values wait for a group
 * (fgd_flush_log_losses). Start zeroed: the flush evaluates all
 * FGD_LOSS_GROUP slots. */
typedef struct {
    double z[FGD_LOSS_GROUP], e[FGD_LOSS_GROUP], s[FGD_LOSS_GROUP];
    int m;
} fgd_loss_queue;

/* A batch-1 loop's loss at one row (label y, margin p, weight s): the
 * derivative into *dl at once, the weighted value added to *loss_sum in row
 * order -- the log-loss's through q, off the row-to-row critical path
 * (fgd_loss_queue_flush adds the last ones). Returns 0, adding nothing,
 * where p or the loss is not finite. */
static inline int fgd_row_loss(int loss, double eps, double y, double p, double s,
                               fgd_loss_queue *q, double *loss_sum, double *dl)
{
    if (loss == FGD_LOG_LOSS) {
        /* fgd_logistic in its two halves: the loss value is a finite log1p
         * term plus `lin`, so it is finite exactly when lin is */
        const double z = y * p, lin = z > 0 ? 0.0 : -z;
        double e;
        *dl = -y * fgd_logistic_sig(z, &e);
        if (!isfinite(lin) || !isfinite(p)) return 0;
        q->z[q->m] = z;
        q->e[q->m] = e;
        q->s[q->m++] = s;
        if (q->m == FGD_LOSS_GROUP) {
            fgd_flush_log_losses(q->z, q->e, q->s, q->m, loss_sum);
            q->m = 0;
        }
    } else {
        const double l = fgd_loss_and_deriv(loss, eps, y, p, dl);
        if (!isfinite(l) || !isfinite(p)) return 0;
        *loss_sum += s * l;
    }
    return 1;
}

static inline void fgd_loss_queue_flush(fgd_loss_queue *q, double *loss_sum)
{
    fgd_flush_log_losses(q->z, q->e, q->s, q->m, loss_sum);
    q->m = 0;
}

/* Softmax cross-entropy of the K margins p for class `label`: returns
 * logsumexp(p) - p[label] and overwrites p with s (softmax(p) - onehot),
 * the weighted derivative in each margin. Where the loss or the largest
 * margin is not finite, returns a non-finite value and leaves p alone. */
static inline double fgd_softmax_loss_and_deriv(double *p, int64_t K, int64_t label,
                                                double s)
{
    double mx = p[0], sum = 0.0, lse, l;
    int64_t k;
    for (k = 1; k < K; k++) mx = p[k] > mx ? p[k] : mx;
    for (k = 0; k < K; k++) sum += exp(p[k] - mx);
    lse = mx + log(sum);
    l = lse - p[label];
    if (!isfinite(l) || !isfinite(mx)) return l + mx;
    for (k = 0; k < K; k++) p[k] = s * (exp(p[k] - lse) - (k == label ? 1.0 : 0.0));
    return l;
}

#endif /* FASTGD_LOSSES_H */
