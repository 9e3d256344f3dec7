/*
 * rules_impl.h -- the per-coordinate update rules of optim.h, written once
 * for a compute type RT and included by optim.h twice: RT = double (names as
 * written, e.g. fgd_rule_adam: the epoch loops, whatever the storage dtype)
 * and RT = float (names with an _f suffix: the standalone optimizer step over
 * float32 parameters, which computes in float32 as torch.optim does).
 *
 * Each rule takes one coordinate's parameter w, gradient g (penalty already
 * included), its state values s[0..2], the step size lr and the per-step
 * constants pc from fgd_step_constants() (computed once per step, in double,
 * not per coordinate); it returns the new parameter and writes the effective
 * step *eta that the coordinate took (the factor applied to the gradient
 * estimate), which scales the L1 soft-threshold. Hyperparameters and per-step
 * factors are combined in double and rounded to RT once.
 *
 * The includer defines RT, FGD_RULE(name), FGD_RSQRT and FGD_RFABS.
 */

/* SGD: h = (momentum, dampening, nesterov); s = (momentum_buffer). */
static inline RT FGD_RULE(fgd_rule_sgd)(RT w, RT g, RT *s, const double *h, double lr,
                                        const double *pc, RT *eta)
{
    const RT momentum = (RT)h[0], undamped = (RT)(1.0 - h[1]), step = (RT)lr;
    if (momentum != 0) {
        RT buf = pc[0] != 0.0 ? g : momentum * s[0] + undamped * g;
        s[0] = buf;
        g = h[2] != 0.0 ? g + momentum * buf : buf;
    }
    *eta = step;
    return w - step * g;
}

/* Adagrad: h = (lr_decay, eps); s = (sum). */
static inline RT FGD_RULE(fgd_rule_adagrad)(RT w, RT g, RT *s, const double *h, double lr,
                                            const double *pc, RT *eta)
{
    (void)lr;
    s[0] += g * g;
    *eta = (RT)pc[0] / (FGD_RSQRT(s[0]) + (RT)h[1]);
    return w - *eta * g;
}

/* RMSprop: h = (alpha, eps, momentum, centered);
 * s = (square_avg[, grad_avg][, momentum_buffer]). */
static inline RT FGD_RULE(fgd_rule_rmsprop)(RT w, RT g, RT *s, const double *h, double lr,
                                            const double *pc, RT *eta)
{
    const RT alpha = (RT)h[0], keep = (RT)(1.0 - h[0]), eps = (RT)h[1];
    const RT momentum = (RT)h[2], step = (RT)lr;
    const int centered = h[3] != 0.0, mom = momentum > 0;
    /* s = (square_avg, [grad_avg if centered], [momentum buffer]). Every
     * variant's values are formed and the right ones selected, with no
     * branch: the rule loops then vectorize (with branches GCC left them
     * scalar, 3-4x slower than Adam's); each value is computed by the same
     * operations as a branchy form would, so the results are the same. */
    const RT sq = alpha * s[0] + keep * g * g;
    const RT gavg = alpha * s[1] + keep * g;
    const RT avg = FGD_RSQRT(centered ? sq - gavg * gavg : sq) + eps;
    const RT buf = momentum * (centered ? s[2] : s[1]) + g / avg;
    (void)pc;
    *eta = step / avg;
    s[0] = sq;
    s[1] = centered ? gavg : (mom ? buf : s[1]);
    s[2] = centered && mom ? buf : s[2];
    return mom ? w - step * buf : w - step * g / avg;
}

/* Adadelta: h = (rho, eps); s = (square_avg, acc_delta). */
static inline RT FGD_RULE(fgd_rule_adadelta)(RT w, RT g, RT *s, const double *h, double lr,
                                             const double *pc, RT *eta)
{
    const RT rho = (RT)h[0], keep = (RT)(1.0 - h[0]), eps = (RT)h[1], step = (RT)lr;
    RT scale, delta;
    (void)pc;
    s[0] = rho * s[0] + keep * g * g;
    scale = FGD_RSQRT(s[1] + eps) / FGD_RSQRT(s[0] + eps);
    delta = scale * g;
    s[1] = rho * s[1] + keep * delta * delta;
    *eta = step * scale;
    return w - step * delta;
}

/* Adam: h = (beta1, beta2, eps, amsgrad);
 * s = (exp_avg, exp_avg_sq[, max_exp_avg_sq]); pc = (1 - beta1^k,
 * sqrt(1 - beta2^k)). torch's lr / (bc1 (sqrt(v) / sqrt(bc2) + eps)) is
 * rearranged as (lr sqrt(bc2) / bc1) / (sqrt(v) + eps sqrt(bc2)): the same
 * value with one division per coordinate instead of two (the factors are
 * per-step constants), so the update kernel is bound by memory, not by the
 * divider. */
static inline RT FGD_RULE(fgd_rule_adam)(RT w, RT g, RT *s, const double *h, double lr,
                                         const double *pc, RT *eta)
{
    const RT b1 = (RT)h[0], keep1 = (RT)(1.0 - h[0]);
    const RT b2 = (RT)h[1], keep2 = (RT)(1.0 - h[1]);
    const RT step = (RT)(lr * pc[1] / pc[0]), eps = (RT)(h[2] * pc[1]);
    const int amsgrad = h[3] != 0.0;
    RT vmax, v;
    s[0] = b1 * s[0] + keep1 * g;
    s[1] = b2 * s[1] + keep2 * g * g;
    /* amsgrad's running maximum, selected without a branch (as RMSprop's
     * variants) so that the rule loops vectorize */
    vmax = s[2] < s[1] ? s[1] : s[2];
    s[2] = amsgrad ? vmax : s[2];
    v = amsgrad ? vmax : s[1];
    *eta = step / (FGD_RSQRT(v) + eps);
    return w - *eta * s[0];
}

/* FTRL-Proximal (McMahan et al. 2013, Algorithm 1), per coordinate:
 * h = (beta, l1, l2); s = (z, n); lr is the paper's alpha.
 *   sigma = (sqrt(n + g^2) - sqrt(n)) / alpha;  z += g - sigma w;  n += g^2
 *   w = 0 if |z| <= l1, else -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2)
 * The weight is a function of (z, n): exact zeros wherever |z| <= l1. */
static inline RT FGD_RULE(fgd_rule_ftrl)(RT w, RT g, RT *s, const double *h, double lr,
                                         const double *pc, RT *eta)
{
    const RT beta = (RT)h[0], l1 = (RT)h[1], l2 = (RT)h[2], alpha = (RT)lr;
    const RT n_new = s[1] + g * g;
    const RT sq = FGD_RSQRT(n_new);
    (void)pc;
    s[0] += g - (sq - FGD_RSQRT(s[1])) / alpha * w;
    s[1] = n_new;
    *eta = alpha / (beta + sq);
    if (FGD_RFABS(s[0]) <= l1) return 0;
    return -(s[0] - (s[0] > 0 ? l1 : -l1)) / ((beta + sq) / alpha + l2);
}
