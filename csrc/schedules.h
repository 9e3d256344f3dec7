/*
 * schedules.h -- step size at optimizer step t (t = 0, 1, ...).
 * Parameter layouts are those of the `c_params` of each class in
 * fastgd/schedules.py.
 */
#ifndef FASTGD_SCHEDULES_H
#define FASTGD_SCHEDULES_H

#include <math.h>
#include "fastgd.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static inline double fgd_lr_at(const fgd_config *c, int64_t t)
{
    const double *s = c->sched;
    double tt = (double)t, lr;
    switch (c->schedule) {
    case FGD_CONSTANT:
        lr = c->lr;
        break;
    case FGD_INVSCALING:          /* eta0 / (t+1)^power_t */
        lr = c->lr / pow(tt + 1.0, s[0]);
        break;
    case FGD_OPTIMAL:             /* 1 / (alpha (t0 + t)) */
        lr = 1.0 / (s[0] * (s[1] + tt));
        break;
    case FGD_STEP:                /* eta0 * gamma^floor(t / step_size) */
        lr = c->lr * pow(s[1], floor(tt / s[0]));
        break;
    case FGD_EXPONENTIAL:         /* eta0 * gamma^t */
        lr = c->lr * pow(s[0], tt);
        break;
    case FGD_COSINE:              /* eta_min + (eta0 - eta_min)(1 + cos(pi min(t,T)/T))/2 */
        tt = tt < s[0] ? tt : s[0];
        lr = s[1] + (c->lr - s[1]) * 0.5 * (1.0 + cos(M_PI * tt / s[0]));
        break;
    default:
        return NAN;
    }
    if (c->warmup_steps > 0 && (double)t + 1.0 < c->warmup_steps)
        lr *= ((double)t + 1.0) / c->warmup_steps;
    return lr;
}

#endif /* FASTGD_SCHEDULES_H */
