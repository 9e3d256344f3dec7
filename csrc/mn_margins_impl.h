/*
 * mn_margins_impl.h -- the K margins of one row of the multinomial model,
 * shared by the dense loop (multinomial_impl.h) and the CSR loops
 * (csr_multinomial_impl.h). Each includes it with REAL, FN and FGD_MN_IDX
 * (the column index type) defined. The model is (d+1) x K row-major:
 * column j's K weights are contiguous at W[j K ..].
 *
 * Classes go in blocks of at most FGD_MN_KB, each block's width a constant
 * once inlined (FGD_MN_BY_BLOCKS), so that its running sums stay in
 * registers across the row's entries. In one loop over all K classes the
 * sums lived in memory, and each entry waited for the previous entry's
 * stores to be forwarded (perf: most of a row's time). Every sum still adds
 * the entries in order: the same bits as that loop.
 */
#ifndef FGD_MN_KB
#define FGD_MN_KB 8

/* CALL(k0, KB) for the blocks of the K classes, KB a literal in each call. */
#define FGD_MN_BY_BLOCKS(K, CALL)                                                \
    do {                                                                        \
        int64_t k0_ = 0;                                                        \
        for (; k0_ + FGD_MN_KB <= (K); k0_ += FGD_MN_KB) CALL(k0_, FGD_MN_KB);  \
        switch ((int)((K) - k0_)) {                                             \
        case 1: CALL(k0_, 1); break;                                            \
        case 2: CALL(k0_, 2); break;                                            \
        case 3: CALL(k0_, 3); break;                                            \
        case 4: CALL(k0_, 4); break;                                            \
        case 5: CALL(k0_, 5); break;                                            \
        case 6: CALL(k0_, 6); break;                                            \
        case 7: CALL(k0_, 7); break;                                            \
        default: break;                                                         \
        }                                                                       \
    } while (0)

#if defined(__GNUC__)
#define FGD_MN_INLINE static inline __attribute__((always_inline))
#else
#define FGD_MN_INLINE static inline
#endif
#endif /* FGD_MN_KB */

/* out[k0 + kk] = init[k0 + kk] (0 when init is NULL) + the sum over the
 * entries q in [lo, hi), in order, of vals[q] W[c K + k0 + kk], where the
 * column c is idx[q] (q itself when idx is NULL), for kk < KB. With
 * skip_zeros, entries whose value is 0 are left out (they add exact zeros). */
FGD_MN_INLINE void FN(fgd_mn_margin_block)(const REAL *vals, const FGD_MN_IDX *idx, int64_t lo,
                                           int64_t hi, int skip_zeros, int64_t K,
                                           const REAL *W, const REAL *init, int64_t k0,
                                           int KB, double *out)
{
    double acc[FGD_MN_KB];
    int64_t q;
    int kk;
    for (kk = 0; kk < KB; kk++) acc[kk] = init ? (double)init[k0 + kk] : 0.0;
    for (q = lo; q < hi; q++) {
        const double x = (double)vals[q];
        const REAL *wr = W + (idx ? (int64_t)idx[q] : q) * K + k0;
        if (skip_zeros && x == 0.0) continue;
        for (kk = 0; kk < KB; kk++) acc[kk] += x * (double)wr[kk];
    }
    for (kk = 0; kk < KB; kk++) out[k0 + kk] = acc[kk];
}
