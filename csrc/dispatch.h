/*
 * dispatch.h -- run-time choice of instruction set for the hot loops
 * (GCC/Clang on x86-64 Linux), shared by epoch_dense.c and
 * epoch_multinomial.c: the build stays baseline x86-64, and AVX2/AVX-512
 * clones of each FGD_CLONES function are picked where the running CPU has
 * them. The kernels' summation order does not depend on the vector width,
 * so every clone returns the same bits.
 */
#ifndef FASTGD_DISPATCH_H
#define FASTGD_DISPATCH_H

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(FGD_NO_DISPATCH)
/* the instruction sets cloned for; a build can narrow them to check that
 * another clone gives the same bits, e.g.
 * FASTGD_EXTRA_CFLAGS='-DFGD_CLONE_TARGETS="avx2","default"' */
#ifndef FGD_CLONE_TARGETS
#define FGD_CLONE_TARGETS "avx512f", "avx2", "default"
#endif
#define FGD_CLONES __attribute__((target_clones(FGD_CLONE_TARGETS)))
#define FGD_HAVE_DISPATCH 1
#else
#define FGD_CLONES
#define FGD_HAVE_DISPATCH 0
#endif

#endif /* FASTGD_DISPATCH_H */
