/*
 * losses.h -- value and derivative (in the margin p) of every loss.
 * The formulas are those of fastgd/losses.py, term for term, so that the
 * reference and the compiled path round the same way.
 */
#ifndef FASTGD_LOSSES_H
#define FASTGD_LOSSES_H

#include <math.h>
#include "fastgd.h"

static inline double fgd_sign(double v) { return (v > 0) - (v < 0); }

/* log(1 + exp(-z)) without overflow for any z. */
static inline double fgd_log1pexp_neg(double z)
{
    return z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z));
}

/* 1 / (1 + exp(z)) without overflow for any z. */
static inline double fgd_sigmoid_neg(double z)
{
    if (z > 0) {
        double e = exp(-z);
        return e / (1.0 + e);
    }
    return 1.0 / (1.0 + exp(z));
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

#endif /* FASTGD_LOSSES_H */
