/*
 * fastgd_csr.h -- the CSR (sparse rows) epoch: declarations.
 *
 * Same contract as fgd_epoch_dense_* (fastgd.h): Python owns every buffer,
 * the core iterates one whole epoch without allocating. The rows are given
 * as CSR arrays (data, indices, indptr); indices may be unsorted or repeat
 * (a repeated column counts as the sum of its entries), though fastgd's
 * Python side always hands in canonical CSR.
 *
 * Per step the cost is proportional to the non-zeros of the batch; features
 * absent from a step are brought up to date lazily (see lazy.h), and all of
 * them at the end of the epoch, so on return params and state are exactly
 * those of the dense loop on the densified rows (up to rounding, and to the
 * documented truncation of lazy.h).
 *
 * gsum (the epoch's summed gradient, for history.grad_norm) is exact except
 * with plain SGD and a penalty (lazy mode SCALED) in two cases: with L1, the
 * L2 part of the gradient is added once at the end (of every call) as
 * l2 * (steps) * w_end; and in the ratio mode of plain SGD without L1 (lr /
 * scale constant, as with the 'optimal' schedule and L2 of its alpha: the
 * loss part from the change of the weights, no add per stored entry), where
 * the L2 part is l2 ((A - Abar) v_end + Abar v_start), exact for untouched
 * coordinates (A: the sum of the steps' weight scales s, Abar the mean of
 * its partial sums; v = w / s). cfg->exact_gsum
 * (gtol set) turns the ratio mode off. Otherwise plain SGD without L1 adds
 * each stored entry's gradient with its L2 part (csr_impl.h: csr_sgd_rows),
 * or takes the whole sum from the change of the weights at a constant lr.
 */
#ifndef FASTGD_CSR_H
#define FASTGD_CSR_H

#include <stdint.h>

#include "fastgd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch owned by the caller, reused across epochs. */
typedef struct {
    double *tables;     /* table_rows x (nsteps + 1) doubles (lazy.h) */
    int64_t nsteps;     /* >= number of batches of the epoch */
    int table_rows;     /* >= fgd_csr_lazy_table_rows(cfg) */
    int64_t *last;      /* d: step up to which each coordinate is up to date */
    int64_t *cols;      /* d: the columns touched by the current batch */
    double *gacc;       /* d: gradient accumulator, zero on entry (left zero) */
    double *snap;       /* d: cumulative L1 threshold at the last catch-up (SGD) */
    /* parallel modes (cfg->n_threads > 1) */
    double *tbuf;       /* n_threads x d: per-thread gradients, zero on entry (left zero) */
    int64_t *prev;      /* d: step of the listed columns before this batch */
    int hogwild;        /* 1: lock-free asynchronous steps (see below) */
    double *asum;       /* d + 1: averaged SGD's running sums (needed when avg is given) */
    double *rowbuf;     /* batch_size (x K, softmax) doubles for plain SGD's fused
                           mini-batches, or NULL */
    void *gbuf;         /* dense steps: n_threads x n_coords REAL gradients, zero on
                           entry (left zero); NULL for lazy steps (see below) */
    double fill;        /* batch_size x mean non-zeros per row / n_features */
} fgd_csr_scratch;

/*
 * Dense steps (scratch->gbuf not NULL, batch_size > 1, binary model): when a
 * mini-batch touches most columns, the catch-ups cost more than updating
 * every column. Each step then runs as the dense loop's does (fastgd.h:
 * fgd_dense_step_range): the rows' gradients are scattered into per-thread
 * buffers, and every coordinate takes the optimizer step, the penalty and
 * the averaging, in parallel over coordinates; no lazy catch-up. Taken when
 * scratch->fill reaches the crossover of the epoch's lazy mode
 * (lazy.h: fgd_lazy_dense_fill; fgd_csr_dense_steps says beforehand).
 * Deterministic for a given thread count, like the dense loop.
 *
 * Threads (cfg->n_threads > 1):
 *
 * - Mini-batch parallelism (deterministic; batch_size > 1): per batch, the
 *   listed columns are caught up in parallel, the rows are split into one
 *   contiguous slice per thread (margins, gradients into the thread's own
 *   buffer), then the listed columns are updated in parallel, each summing
 *   the thread buffers in thread order. Same thread count, same bits.
 *   Plain SGD with a penalty uses the per-coordinate closed form
 *   (SGD_CLOSED of lazy.h) instead of the shared weight scale.
 * - Hogwild! (Niu et al. 2011; scratch->hogwild, batch_size 1): thread k
 *   takes the rows at positions k, k + T, k + 2T, ... of the order, and
 *   the threads update the shared parameters and optimizer state without
 *   locks. Position r is step t0 + r (rows of weight zero count as steps;
 *   Python leaves them out of a Hogwild! order, as the serial loops take
 *   no step for them).
 *   Lazy catch-up brings a column to the step of the thread that touches it;
 *   plain SGD with a penalty needs none while the weight scale stays above
 *   FGD_MIN_SCALE: the weights are kept as w = E[r] v with the scale E
 *   tabulated by position r, and L1 as a cumulative threshold tabulated
 *   the same way (csr_hogwild_scaled). Plain SGD's
 *   intercept, which every row steps, is kept per thread and added to the
 *   shared one atomically every FGD_PACE_EVERY rows (fgd_hog_intercept);
 *   under the other optimizers the intercept's step takes a lock (fgd_lock).
 *   NOT deterministic: concurrent updates of one coordinate may be lost or
 *   see each other's intermediate values, which sparse rows make rare.
 *   gsum is that of the serial loop's sums over the steps the threads took
 *   (the same modes), itself approximate in that updates may be lost.
 * Averaged SGD (avg not NULL, cfg->average_start >= 0): avg holds the mean
 * of the iterates after step number average_start on entry and on return,
 * as in the dense loop; the epoch keeps their sums in scratch->asum and
 * the catch-up adds the skipped steps' iterates in closed form where one
 * exists (lazy.h). It runs the general loops only: serial, or the
 * deterministic mini-batch parallelism; never Hogwild!.
 * Returns -2 where a mode cannot run (e.g. the closed form would
 * overflow); the caller then runs the single-threaded loop.
 */
#define FGD_CSR_DECL(SFX, REAL, INDEX)                                                 \
    int fgd_epoch_csr_##SFX(const REAL *data, const INDEX *indices, const INDEX *indptr, \
                            int64_t n, int64_t d, const double *y, const double *sw,   \
                            const int64_t *order, REAL *params, REAL *state,           \
                            double *gsum, REAL *avg, const fgd_config *cfg, int64_t t0, \
                            const fgd_csr_scratch *scratch, fgd_stats *stats);

FGD_CSR_DECL(f64_i32, double, int32_t)
FGD_CSR_DECL(f64_i64, double, int64_t)
FGD_CSR_DECL(f32_i32, float, int32_t)
FGD_CSR_DECL(f32_i64, float, int64_t)
#undef FGD_CSR_DECL

/*
 * The multinomial (softmax cross-entropy) epoch over CSR rows: the model
 * layout and step of epoch_multinomial.h (params (d+1) x K, state 3 x
 * (d+1) K, gsum and avg (d+1) K), the lazy updates above; y holds class
 * indices 0..K-1 (as doubles), scratch->gacc d K doubles (zero on entry,
 * left zero), pbuf max(2, n_threads) K doubles; one thread, except dense
 * steps (scratch->gbuf n_threads x (d+1) K, as above), which take
 * cfg->n_threads. Returns -1 on an invalid
 * configuration or label (before any step), else 0.
 */
#define FGD_CSR_MN_DECL(SFX, REAL, INDEX)                                              \
    int fgd_epoch_csr_multinomial_##SFX(                                               \
        const REAL *data, const INDEX *indices, const INDEX *indptr, int64_t n,        \
        int64_t d, int64_t K, const double *y, const double *sw, const int64_t *order, \
        REAL *params, REAL *state, double *gsum, REAL *avg, const fgd_config *cfg,     \
        int64_t t0, const fgd_csr_scratch *scratch, double *pbuf, fgd_stats *stats);

FGD_CSR_MN_DECL(f64_i32, double, int32_t)
FGD_CSR_MN_DECL(f64_i64, double, int64_t)
FGD_CSR_MN_DECL(f32_i32, float, int32_t)
FGD_CSR_MN_DECL(f32_i64, float, int64_t)
#undef FGD_CSR_MN_DECL

/* The binary and multinomial epochs for any of the four instances, chosen
 * by is_f32 (REAL float, else double) and is_i64 (INDEX int64_t, else
 * int32_t): the one entry the Cython layer calls, so that the choice among
 * the typed functions above is written once. Same arguments and returns. */
/* Whether an epoch of cfg from step t0 with this batch fill takes dense
 * steps (given scratch->gbuf); tables as for fgd_csr_lazy_mode. */
int fgd_csr_dense_steps(const fgd_config *cfg, int64_t t0, int64_t nsteps, double *tables,
                        double fill);

int fgd_epoch_csr_any(int is_f32, int is_i64, const void *data, const void *indices,
                      const void *indptr, int64_t n, int64_t d, const double *y,
                      const double *sw, const int64_t *order, void *params, void *state,
                      double *gsum, void *avg, const fgd_config *cfg, int64_t t0,
                      const fgd_csr_scratch *scratch, fgd_stats *stats);
int fgd_epoch_csr_multinomial_any(int is_f32, int is_i64, const void *data,
                                  const void *indices, const void *indptr, int64_t n,
                                  int64_t d, int64_t K, const double *y, const double *sw,
                                  const int64_t *order, void *params, void *state,
                                  double *gsum, void *avg, const fgd_config *cfg, int64_t t0,
                                  const fgd_csr_scratch *scratch, double *pbuf,
                                  fgd_stats *stats);

/* Which catch-up mode an epoch with this configuration uses over nsteps
 * steps from t0, for tests and docs: 2 * (enum fgd_lazy_mode of lazy.h)
 * + (1 if the replay may be truncated). */
int fgd_csr_lazy_mode(const fgd_config *cfg, int64_t t0, int64_t nsteps, double *tables);
/* The rows of per-step tables an epoch with cfg needs (lazy.h:
 * fgd_lazy_table_rows), at most FGD_LAZY_TABLES; each holds nsteps + 1 doubles. */
int fgd_csr_lazy_table_rows(const fgd_config *cfg);
/* Whether plain SGD's CSR loops prefetch the weights of the rows ahead on
 * this CPU (epoch_csr.c); for fastgd.show_config(). */
int fgd_csr_weight_prefetch(void);
/* For tests: the tables (FGD_LAZY_TABLES rows) as an epoch with cfg sets
 * them up, with plain SGD's per-coordinate closed form where it applies. */
void fgd_csr_lazy_setup_closed(const fgd_config *cfg, int64_t t0, int64_t nsteps,
                               double *tables);
/* Whether that mode's catch-ups replay every skipped step (lazy.h:
 * fgd_lazy_replays), averaging when cfg->average_start >= 0. */
int fgd_csr_lazy_replays(const fgd_config *cfg, int64_t t0, int64_t nsteps, double *tables);

/* One coordinate (w, state s[3]) brought from step ta to step tb (within
 * the nsteps steps from t0) as the epoch would, for tests: by the mode
 * fgd_csr_lazy_mode reports, or by replaying every step when replay != 0.
 * The skipped steps' smooth gradient is added to *gs. Returns 0 where an
 * approximate closed form (ADAGRAD_L2, ADAM) refused and some or all of the
 * steps were replayed, else 1. */
int fgd_csr_lazy_catch_up(const fgd_config *cfg, int64_t t0, int64_t nsteps, double *tables,
                          double *w, double *s, double *gs, int64_t ta, int64_t tb,
                          int replay);

#ifdef __cplusplus
}
#endif
#endif /* FASTGD_CSR_H */
