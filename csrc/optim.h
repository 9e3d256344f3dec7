/*
 * optim.h -- per-coordinate update rules, as written out in the torch.optim
 * documentation. Each rule takes one coordinate's parameter w, gradient g
 * (penalty already included), its state values s[0..2], the step size lr
 * and the per-step constants pc from fgd_step_constants() (computed once per
 * step, not per coordinate); it returns the new parameter and writes the
 * effective step *eta that the coordinate took (the factor applied to the
 * gradient estimate), which scales the L1 soft-threshold.
 *
 * Hyperparameter layouts (cfg->hyper) are the `c_params` of fastgd/optim.py.
 * All scalar math is in double, whatever the storage dtype.
 */
#ifndef FASTGD_OPTIM_H
#define FASTGD_OPTIM_H

#include <math.h>
#include "fastgd.h"

/* Per-step constants of each rule, at 1-based step number k. */
static inline void fgd_step_constants(int optimizer, const double *h, double lr,
                                      int64_t k, double *pc)
{
    pc[0] = pc[1] = 0.0;
    switch (optimizer) {
    case FGD_SGD:       /* first step: the momentum buffer starts at g */
        pc[0] = k == 1;
        break;
    case FGD_ADAGRAD:   /* clr = lr / (1 + (k-1) lr_decay) */
        pc[0] = lr / (1.0 + (double)(k - 1) * h[0]);
        break;
    case FGD_ADAM:
    case FGD_ADAMW:     /* bias corrections 1 - beta1^k and sqrt(1 - beta2^k) */
        pc[0] = 1.0 - pow(h[0], (double)k);
        pc[1] = sqrt(1.0 - pow(h[1], (double)k));
        break;
    }
}

/* SGD: h = (momentum, dampening, nesterov); s = (momentum_buffer). */
static inline double fgd_rule_sgd(double w, double g, double *s, const double *h,
                                  double lr, const double *pc, double *eta)
{
    const double momentum = h[0], dampening = h[1];
    if (momentum != 0.0) {
        double buf = pc[0] != 0.0 ? g : momentum * s[0] + (1.0 - dampening) * g;
        s[0] = buf;
        g = h[2] != 0.0 ? g + momentum * buf : buf;
    }
    *eta = lr;
    return w - lr * g;
}

/* Adagrad: h = (lr_decay, eps); s = (sum). */
static inline double fgd_rule_adagrad(double w, double g, double *s, const double *h,
                                      double lr, const double *pc, double *eta)
{
    (void)lr;
    s[0] += g * g;
    *eta = pc[0] / (sqrt(s[0]) + h[1]);
    return w - *eta * g;
}

/* RMSprop: h = (alpha, eps, momentum, centered);
 * s = (square_avg[, grad_avg][, momentum_buffer]). */
static inline double fgd_rule_rmsprop(double w, double g, double *s, const double *h,
                                      double lr, const double *pc, double *eta)
{
    const double alpha = h[0], eps = h[1], momentum = h[2];
    const int centered = h[3] != 0.0;
    double avg;
    (void)pc;
    s[0] = alpha * s[0] + (1.0 - alpha) * g * g;
    if (centered) {
        s[1] = alpha * s[1] + (1.0 - alpha) * g;
        avg = sqrt(s[0] - s[1] * s[1]) + eps;
    } else {
        avg = sqrt(s[0]) + eps;
    }
    *eta = lr / avg;
    if (momentum > 0.0) {
        double *buf = &s[1 + centered];
        *buf = momentum * *buf + g / avg;
        return w - lr * *buf;
    }
    return w - lr * g / avg;
}

/* Adadelta: h = (rho, eps); s = (square_avg, acc_delta). */
static inline double fgd_rule_adadelta(double w, double g, double *s, const double *h,
                                       double lr, const double *pc, double *eta)
{
    const double rho = h[0], eps = h[1];
    double scale, delta;
    (void)pc;
    s[0] = rho * s[0] + (1.0 - rho) * g * g;
    scale = sqrt(s[1] + eps) / sqrt(s[0] + eps);
    delta = scale * g;
    s[1] = rho * s[1] + (1.0 - rho) * delta * delta;
    *eta = lr * scale;
    return w - lr * delta;
}

/* Adam: h = (beta1, beta2, eps, amsgrad);
 * s = (exp_avg, exp_avg_sq[, max_exp_avg_sq]). */
static inline double fgd_rule_adam(double w, double g, double *s, const double *h,
                                   double lr, const double *pc, double *eta)
{
    const double b1 = h[0], b2 = h[1], eps = h[2];
    double v, denom;
    s[0] = b1 * s[0] + (1.0 - b1) * g;
    s[1] = b2 * s[1] + (1.0 - b2) * g * g;
    v = s[1];
    if (h[3] != 0.0) {
        if (s[2] < v) s[2] = v;
        v = s[2];
    }
    denom = sqrt(v) / pc[1] + eps;
    *eta = lr / (pc[0] * denom);
    return w - *eta * s[0];
}

/* FTRL-Proximal (McMahan et al. 2013, Algorithm 1), per coordinate:
 * h = (beta, l1, l2); s = (z, n); lr is the paper's alpha.
 *   sigma = (sqrt(n + g^2) - sqrt(n)) / alpha;  z += g - sigma w;  n += g^2
 *   w = 0 if |z| <= l1, else -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2)
 * The weight is a function of (z, n): exact zeros wherever |z| <= l1. */
static inline double fgd_rule_ftrl(double w, double g, double *s, const double *h,
                                   double lr, const double *pc, double *eta)
{
    const double beta = h[0], l1 = h[1], l2 = h[2];
    const double n_new = s[1] + g * g;
    const double sq = sqrt(n_new);
    (void)pc;
    s[0] += g - (sq - sqrt(s[1])) / lr * w;
    s[1] = n_new;
    *eta = lr / (beta + sq);
    if (fabs(s[0]) <= l1) return 0.0;
    return -(s[0] - (s[0] > 0 ? l1 : -l1)) / ((beta + sq) / lr + l2);
}

#endif /* FASTGD_OPTIM_H */
