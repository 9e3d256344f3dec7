# Declarations of csrc/fastgd_csr.h (the CSR epoch).
from libc.stdint cimport int32_t, int64_t

from fastgd.backends.cpu._core cimport fgd_config, fgd_stats

cdef extern from "fastgd_csr.h" nogil:
    ctypedef struct fgd_csr_scratch:
        double *tables
        int64_t nsteps
        int table_rows
        int64_t *last
        int64_t *cols
        double *gacc
        double *snap
        double *tbuf
        int64_t *prev
        int hogwild
        double *asum
        double *rowbuf
        void *gbuf
        double fill

    int fgd_epoch_csr_any(int is_f32, int is_i64, const void *data, const void *indices,
                          const void *indptr, int64_t n, int64_t d, const double *y,
                          const double *sw, const int64_t *order, void *params,
                          void *state, double *gsum, void *avg, const fgd_config *cfg,
                          int64_t t0, const fgd_csr_scratch *scratch, fgd_stats *stats)
    int fgd_epoch_csr_multinomial_any(int is_f32, int is_i64, const void *data,
                                      const void *indices, const void *indptr, int64_t n,
                                      int64_t d, int64_t K, const double *y,
                                      const double *sw, const int64_t *order, void *params,
                                      void *state, double *gsum, void *avg,
                                      const fgd_config *cfg, int64_t t0,
                                      const fgd_csr_scratch *scratch, double *pbuf,
                                      fgd_stats *stats)
    int fgd_csr_dense_steps(const fgd_config *cfg, int64_t t0, int64_t nsteps,
                            double *tables, double fill)
    int fgd_csr_lazy_table_rows(const fgd_config *cfg)
    int fgd_csr_weight_prefetch()
    void fgd_csr_lazy_setup_closed(const fgd_config *cfg, int64_t t0, int64_t nsteps,
                                   double *tables)
    int fgd_csr_lazy_replays(const fgd_config *cfg, int64_t t0, int64_t nsteps,
                             double *tables)
    int fgd_csr_lazy_mode(const fgd_config *cfg, int64_t t0, int64_t nsteps,
                          double *tables)
    int fgd_csr_lazy_catch_up(const fgd_config *cfg, int64_t t0, int64_t nsteps,
                              double *tables, double *w, double *s, double *gs, int64_t ta,
                              int64_t tb, int replay)

cdef extern from "lazy.h" nogil:
    # rows of the per-step tables the scratch holds (each nsteps + 1 doubles)
    enum: FGD_LAZY_TABLES
