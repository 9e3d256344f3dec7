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
#include "prefetch.h"
#include "dispatch.h"

/* The per-row and per-coordinate loops are cloned per instruction set
 * (dispatch.h). They are elementwise (no reduction is reordered), so every
 * clone returns the same bits. */

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
