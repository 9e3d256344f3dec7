/*
 * fastgd.h -- the one seam between the compiled core and Cython.
 *
 * Everything here is plain C: no Python.h, and no allocation in the epoch
 * loop. Python owns every buffer (weights, optimizer state, per-thread
 * gradient buffers) and passes it in; the core only iterates.
 *
 * The integer codes below are mirrored by the `code` attribute of the
 * Python specs in fastgd/losses.py, fastgd/optim.py and fastgd/schedules.py;
 * tests/test_tables.py checks that both sides agree through fgd_*_name().
 */
#ifndef FASTGD_H
#define FASTGD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Losses of the margin p = x.w + b (classification labels are -1/+1). */
enum fgd_loss {
    FGD_SQUARED_ERROR = 0,
    FGD_HUBER = 1,
    FGD_EPSILON_INSENSITIVE = 2,
    FGD_SQUARED_EPSILON_INSENSITIVE = 3,
    FGD_LOG_LOSS = 4,
    FGD_HINGE = 5,
    FGD_SQUARED_HINGE = 6,
    FGD_MODIFIED_HUBER = 7,
    FGD_PERCEPTRON = 8,
    FGD_N_LOSSES = 9
};

/* Optimizers, as in torch.optim. */
enum fgd_optimizer {
    FGD_SGD = 0,
    FGD_ADAGRAD = 1,
    FGD_RMSPROP = 2,
    FGD_ADADELTA = 3,
    FGD_ADAM = 4,
    FGD_ADAMW = 5,
    FGD_FTRL = 6,                /* FTRL-Proximal (McMahan et al. 2013) */
    FGD_N_OPTIMIZERS = 7
};

/* Step-size schedules; t counts optimizer steps from 0. */
enum fgd_schedule {
    FGD_CONSTANT = 0,
    FGD_INVSCALING = 1,
    FGD_OPTIMAL = 2,
    FGD_STEP = 3,
    FGD_EXPONENTIAL = 4,
    FGD_COSINE = 5,
    FGD_N_SCHEDULES = 6
};

#define FGD_N_HYPER 8

/* Everything an epoch needs to know besides the arrays. */
typedef struct {
    int loss;                    /* enum fgd_loss */
    double loss_param;           /* epsilon (huber, epsilon-insensitive) */
    int optimizer;               /* enum fgd_optimizer */
    double hyper[FGD_N_HYPER];   /* optimizer hyperparameters, layout in optim.py */
    int schedule;                /* enum fgd_schedule */
    double lr;                   /* base step size (eta0) */
    double sched[FGD_N_HYPER];   /* schedule parameters, layout in schedules.py */
    double warmup_steps;         /* linear warm-up length in steps; 0 = none */
    double l2;                   /* L2 coefficient (gradient term, or decoupled decay) */
    double l1;                   /* L1 coefficient (proximal soft-threshold) */
    int l2_decoupled;            /* 1: L2 as decoupled weight decay (AdamW) */
    int fit_intercept;
    int64_t batch_size;
    int n_threads;
    int64_t average_start;       /* averaged SGD: average the iterates after step
                                    number average_start (0 = from the first);
                                    -1 = off */
    int end_sums;                /* 1: this run ends an epoch, whose gsum is read
                                    for its norm only: a loop may return the end
                                    sums (fgd_stats) and leave gsum zero */
    int exact_gsum;              /* 1: gsum exactly, where a faster mode would
                                    approximate its L2 part (csr_gsum_mode) */
    double *l1_cum;              /* NULL: L1 is the proximal soft-threshold. Else
                                    L1 is the cumulative penalty (plain SGD only,
                                    optim.h: fgd_l1_cumulative) and this holds its
                                    state, d + 1 doubles updated in place: q_j
                                    for each coefficient, then u */
} fgd_config;

/* What an epoch reports back. */
typedef struct {
    double loss_sum;     /* sum_i s_i * loss_i at the margins seen during the epoch */
    double weight_sum;   /* sum_i s_i over the rows visited */
    double lr_last;      /* step size of the last step taken */
    int64_t t;           /* optimizer step counter after the epoch */
    int64_t n_steps;     /* steps taken in this epoch */
    int nonfinite;       /* 1 if a margin or loss became NaN/inf: the epoch stopped */
    int end_sums;        /* 1 if the loop's last pass took the three sums below (asked
                            for by cfg->end_sums) and left gsum zero; else 0 */
    double coef_sq;      /* sum_j w_j^2 over the d coefficients at the end */
    double coef_abs;     /* sum_j |w_j| */
    double gsum_sq;      /* sum_j gsum_j^2 over all d + 1 entries at the end */
} fgd_stats;

/*
 * One epoch over dense, C-contiguous rows.
 *
 * X        n x d rows, row i at X + i*d
 * y        n targets (double; -1/+1 for classification)
 * sw       n sample weights already divided by their mean, or NULL for ones
 * order    n row indices giving the visiting order, or NULL for 0..n-1
 * params   d+1 values: coefficients then intercept (updated in place)
 * state    n_state x (d+1) optimizer state, row-major (updated in place)
 * gbuf     n_threads x (d+1) scratch, must be zero on entry (left zero)
 * gsum     d+1 doubles: the epoch's mini-batch gradients are added here
 * avg      d+1 running average of the iterates (averaged SGD), or NULL
 * Returns 0, or -1 on an invalid config (unknown code, bad sizes).
 */
int fgd_epoch_dense_f64(const double *X, int64_t n, int64_t d,
                        const double *y, const double *sw, const int64_t *order,
                        double *params, double *state, double *gbuf,
                        double *gsum, double *avg, const fgd_config *cfg, int64_t t0,
                        fgd_stats *stats);
int fgd_epoch_dense_f32(const float *X, int64_t n, int64_t d,
                        const double *y, const double *sw, const int64_t *order,
                        float *params, float *state, float *gbuf,
                        double *gsum, float *avg, const fgd_config *cfg, int64_t t0,
                        fgd_stats *stats);

/*
 * Phase 2 of a dense mini-batch step, for coordinates [lo, hi) of the d + 1:
 * sum the nt gradient buffers of gbuf (nt x (d+1), as fgd_epoch_dense's) in
 * thread order and scale by inv_m, add the penalty, apply the optimizer at
 * step size lr with the step constants pc (fgd_step_constants), zero the
 * buffers, add to gsum, and fold the iterate after step number t into avg
 * (when not NULL and cfg->average_start >= 0). The CSR epoch's dense steps
 * (fastgd_csr.h) take their updates here, so both share one rule loop.
 */
void fgd_dense_step_range_f64(const fgd_config *cfg, double *params, double *state,
                              double *gbuf, double *gsum, double *avg, int nt, int64_t d,
                              int64_t lo, int64_t hi, double inv_m, double lr,
                              const double *pc, int64_t t);
void fgd_dense_step_range_f32(const fgd_config *cfg, float *params, float *state,
                              float *gbuf, double *gsum, float *avg, int nt, int64_t d,
                              int64_t lo, int64_t hi, double inv_m, double lr,
                              const double *pc, int64_t t);

/*
 * One optimizer step over a flat vector of n parameters, all penalized:
 * g = grad (+ l2 w unless decoupled), the rule of cfg->optimizer at step
 * number t + 1 with step size fgd_schedule_lr(cfg, t), then the L1 prox.
 * state holds the rule's state rows, each `stride` (>= n) long. Coordinates
 * are split over n_threads; results do not depend on the thread count.
 * Used by the optimizer benchmarks. Returns 0, or -1 on an invalid config.
 */
int fgd_optimizer_step_f64(double *params, const double *grad, double *state,
                           int64_t n, int64_t stride, const fgd_config *cfg,
                           int64_t t, int n_threads);
int fgd_optimizer_step_f32(float *params, const float *grad, float *state,
                           int64_t n, int64_t stride, const fgd_config *cfg,
                           int64_t t, int n_threads);

/* Read nbytes (a multiple of 8) once on n_threads threads; returns a checksum
 * so the read cannot be optimized away. The benchmarks' bandwidth yardstick. */
uint64_t fgd_stream_read(const void *data, int64_t nbytes, int n_threads);

/* Seeded Fisher-Yates permutation of 0..n-1 (splitmix64); see fastgd/data.py. */
void fgd_epoch_order(int64_t *order, int64_t n, uint64_t seed);
/* Block shuffle: contiguous blocks of `block` rows (the last one shorter) in
 * the seeded order fgd_epoch_order gives the block indices; see fastgd/data.py. */
void fgd_epoch_order_blocks(int64_t *order, int64_t n, int64_t block, uint64_t seed);

/* dst = src (n values), and in the same pass the sums of squares and of
 * absolute values of src's first m (in float64; the order is fixed for a
 * build): a model's copy before an epoch and its penalty together. */
void fgd_copy_sums_f64(const double *src, double *dst, int64_t n, int64_t m, double *sq,
                       double *sabs);
void fgd_copy_sums_f32(const float *src, float *dst, int64_t n, int64_t m, double *sq,
                       double *sabs);

/* Step size of the schedule at step t (for tests and the Python side). */
double fgd_schedule_lr(const fgd_config *cfg, int64_t t);

/* Loss value and derivative, for the table tests. */
double fgd_loss_value(int loss, double param, double y, double p);
double fgd_loss_deriv(int loss, double param, double y, double p);

const char *fgd_loss_name(int code);
const char *fgd_optimizer_name(int code);
const char *fgd_schedule_name(int code);

/* Build facts for show_config(). */
int fgd_have_openmp(void);
int fgd_max_threads(void);
const char *fgd_simd_dispatch(void);

#ifdef __cplusplus
}
#endif
#endif /* FASTGD_H */
