# The one Cython <-> C seam: declarations of csrc/fastgd.h.
from libc.stdint cimport int64_t, uint64_t

cdef extern from "fastgd.h" nogil:
    enum:
        FGD_N_HYPER
        FGD_N_LOSSES
        FGD_N_OPTIMIZERS
        FGD_N_SCHEDULES

    ctypedef struct fgd_config:
        int loss
        double loss_param
        int optimizer
        double hyper[8]
        int schedule
        double lr
        double sched[8]
        double warmup_steps
        double l2
        double l1
        int l2_decoupled
        int fit_intercept
        int64_t batch_size
        int n_threads
        int64_t average_start
        int end_sums
        int exact_gsum
        double *l1_cum

    ctypedef struct fgd_stats:
        double loss_sum
        double weight_sum
        double lr_last
        int64_t t
        int64_t n_steps
        int nonfinite
        int end_sums
        double coef_sq
        double coef_abs
        double gsum_sq

    int fgd_epoch_dense_f64(const double *X, int64_t n, int64_t d,
                            const double *y, const double *sw, const int64_t *order,
                            double *params, double *state, double *gbuf,
                            double *gsum, double *avg, const fgd_config *cfg, int64_t t0,
                            fgd_stats *stats)
    int fgd_epoch_dense_f32(const float *X, int64_t n, int64_t d,
                            const double *y, const double *sw, const int64_t *order,
                            float *params, float *state, float *gbuf,
                            double *gsum, float *avg, const fgd_config *cfg, int64_t t0,
                            fgd_stats *stats)
    int fgd_optimizer_step_f64(double *params, const double *grad, double *state,
                               int64_t n, int64_t stride, const fgd_config *cfg,
                               int64_t t, int n_threads)
    int fgd_optimizer_step_f32(float *params, const float *grad, float *state,
                               int64_t n, int64_t stride, const fgd_config *cfg,
                               int64_t t, int n_threads)
    uint64_t fgd_stream_read(const void *data, int64_t nbytes, int n_threads)
    void fgd_epoch_order(int64_t *order, int64_t n, uint64_t seed)
    void fgd_copy_sums_f64(const double *src, double *dst, int64_t n, int64_t m, double *sq,
                           double *sabs)
    void fgd_copy_sums_f32(const float *src, float *dst, int64_t n, int64_t m, double *sq,
                           double *sabs)
    void fgd_epoch_order_blocks(int64_t *order, int64_t n, int64_t block, uint64_t seed)
    double fgd_schedule_lr(const fgd_config *cfg, int64_t t)
    double fgd_loss_value(int loss, double param, double y, double p)
    double fgd_loss_deriv(int loss, double param, double y, double p)
    const char *fgd_loss_name(int code)
    const char *fgd_optimizer_name(int code)
    const char *fgd_schedule_name(int code)
    int fgd_have_openmp()
    int fgd_max_threads()
    const char *fgd_simd_dispatch()


# The config builder of _core.pyx, shared with the sparse extension (_sparse.pyx).
cdef fgd_config _make_config(dict cfg) except *
# The bounds check of an epoch's row order, shared with _multinomial.pyx.
cdef int64_t _first_out_of_range(const int64_t *idx, int64_t m, int64_t n) noexcept nogil
