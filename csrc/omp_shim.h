/*
 * omp_shim.h -- the few OpenMP calls the core makes, with single-threaded
 * stand-ins when the compiler has no OpenMP (the build then still works and
 * fastgd.show_config() says it is single-threaded).
 */
#ifndef FASTGD_OMP_SHIM_H
#define FASTGD_OMP_SHIM_H

#ifdef _OPENMP
#include <omp.h>
static inline int fgd_thread_num(void) { return omp_get_thread_num(); }
static inline int fgd_num_threads(void) { return omp_get_num_threads(); }
static inline int fgd_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int fgd_thread_num(void) { return 0; }
static inline int fgd_num_threads(void) { return 1; }
static inline int fgd_omp_max_threads(void) { return 1; }
#endif

#endif /* FASTGD_OMP_SHIM_H */
