/*
 * epoch_multinomial.c -- the compiled multinomial (softmax cross-entropy)
 * core: instantiates the loop of multinomial_impl.h for float and double.
 * The update rules and schedules are those of optim.h and schedules.h.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "fastgd.h"
#include "epoch_multinomial.h"
#include "losses.h"
#include "optim.h"
#include "schedules.h"
#include "omp_shim.h"
#include "epoch_common.h"

/* Run-time choice of instruction set for the per-row and per-coordinate
 * loops (GCC/Clang on x86-64 Linux), as in epoch_dense.c: the build stays
 * baseline x86-64. Those loops are elementwise (no reduction is reordered),
 * so every clone returns the same bits. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FGD_NO_DISPATCH)
#ifndef FGD_CLONE_TARGETS
#define FGD_CLONE_TARGETS "avx512f", "avx2", "default"
#endif
#define FGD_MN_CLONES __attribute__((target_clones(FGD_CLONE_TARGETS)))
#else
#define FGD_MN_CLONES
#endif

#define REAL double
#define SFX f64
#include "multinomial_impl.h"
#undef REAL
#undef SFX

#define REAL float
#define SFX f32
#include "multinomial_impl.h"
#undef REAL
#undef SFX
