/*
 * optim.h -- per-coordinate update rules, as written out in the torch.optim
 * documentation. The rules themselves are in rules_impl.h; this header
 * computes the per-step constants they take and instantiates them for double
 * and for float.
 *
 * Hyperparameter layouts (cfg->hyper) are the `c_params` of fastgd/optim.py.
 * Per-step constants are computed in double. The epoch loops apply the rules
 * in double whatever the storage dtype; the standalone optimizer step applies
 * them in the parameters' own dtype, as torch.optim does (rules_impl.h).
 */
#ifndef FASTGD_OPTIM_H
#define FASTGD_OPTIM_H

#include <math.h>
#include "fastgd.h"

/* State rows (of 3) that the optimizer's rule reads and writes (the dense
 * loops and the CSR catch-ups; Python's len(Optimizer.state_names)). */
static inline int fgd_n_state(int optimizer, const double *h)
{
    switch (optimizer) {
    case FGD_SGD:      return h[0] != 0.0;                     /* momentum buffer */
    case FGD_ADAGRAD:  return 1;                               /* sum */
    case FGD_RMSPROP:  return 1 + (h[3] != 0.0) + (h[2] > 0.0); /* [grad_avg][buf] */
    case FGD_ADADELTA: return 2;
    case FGD_FTRL:     return 2;                               /* z, n */
    default:           return 2 + (h[3] != 0.0);               /* [max_exp_avg_sq] */
    }
}

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

/* The rules, computing in double (the epoch loops) and in float (the
 * standalone step over float32 parameters: fgd_rule_adam_f, ...). */
#define RT double
#define FGD_RULE(name) name
#define FGD_RSQRT sqrt
#define FGD_RFABS fabs
#include "rules_impl.h"
#undef RT
#undef FGD_RULE
#undef FGD_RSQRT
#undef FGD_RFABS

#define RT float
#define FGD_RULE(name) name##_f
#define FGD_RSQRT sqrtf
#define FGD_RFABS fabsf
#include "rules_impl.h"
#undef RT
#undef FGD_RULE
#undef FGD_RSQRT
#undef FGD_RFABS

/*
 * The cumulative L1 penalty (Tsuruoka, Tsujii and Ananiadou 2009, as
 * scikit-learn's SGD applies it), for plain SGD: u is the total threshold
 * every weight has been due so far (the sum of l1 lr over the steps, this
 * one included), *q the signed total the weight w (after this step's
 * update) has actually received. A positive weight is moved towards zero by
 * u + q, a negative one by u - q, never past zero; *q records the change.
 * Where a step cannot take a weight's whole due (it clips at zero), the
 * rest stays owed and is taken as soon as the weight leaves zero again,
 * which is what keeps small weights at exactly zero.
 */
static inline double fgd_l1_cumulative(double w, double u, double *q)
{
    double z = w;
    if (w > 0.0) {
        w -= u + *q;
        if (w < 0.0) w = 0.0;
    } else if (w < 0.0) {
        w += u - *q;
        if (w > 0.0) w = 0.0;
    }
    *q += w - z;
    return w;
}

/* Whether c can take the cumulative L1 penalty (c->l1_cum): plain SGD, no
 * momentum or decoupled decay; without an averaged iterate where
 * no_average (the CSR loops'). */
static inline int fgd_l1_cum_ok(const fgd_config *c, int no_average)
{
    return !c->l1_cum || (c->optimizer == FGD_SGD && c->hyper[0] == 0.0 &&
                          !c->l2_decoupled && !(no_average && c->average_start >= 0));
}

#endif /* FASTGD_OPTIM_H */
