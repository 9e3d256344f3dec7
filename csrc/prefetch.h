/*
 * prefetch.h -- software prefetch of the dense rows an epoch visits next,
 * shared by the binary loop (kernels_impl.h) and the softmax loop
 * (multinomial_impl.h), and the batch-1 loop (fgd_epoch_single). Each
 * thread prefetches the rows of its own slice of the batch, and of its
 * slices of the next batches, a fixed number of bytes ahead of the row it
 * is on, with each row's target and sample weight.
 */
#ifndef FASTGD_PREFETCH_H
#define FASTGD_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

/* How far ahead rows are prefetched: FGD_PREFETCH_BYTES of rows, at least
 * FGD_PREFETCH_ROWS and at most FGD_PREFETCH_MAX_ROWS of them (tuned on
 * the benchmarks of benchmarks/README.md: far enough to cover a DRAM and
 * TLB miss at the speed rows are consumed, near enough not to evict them
 * again). */
#ifndef FGD_PREFETCH_ROWS
#define FGD_PREFETCH_ROWS 8
#endif
#ifndef FGD_PREFETCH_BYTES
#define FGD_PREFETCH_BYTES 6400
#endif
#ifndef FGD_PREFETCH_MAX_ROWS
#define FGD_PREFETCH_MAX_ROWS 32
#endif
/* Bytes of rows in one call above which rows taken in storage order are
 * prefetched as well (fgd_prefetches_rows): below, they are likely in the
 * last-level cache, where the prefetches only cost instructions (measured
 * on a 32 MB L3: 3% slower at 24 MB, 10% faster at 32 MB). Python's
 * chunks of an epoch hold about 32 MB of rows (solver.CHUNK_BYTES). */
#ifndef FGD_INORDER_PREFETCH_BYTES
#define FGD_INORDER_PREFETCH_BYTES ((int64_t)24 << 20)
#endif

/* Rows ahead to prefetch rows of rowbytes bytes (see FGD_PREFETCH_BYTES). */
static inline int64_t fgd_prefetch_ahead(int64_t rowbytes)
{
    const int64_t k = FGD_PREFETCH_BYTES / (rowbytes > 0 ? rowbytes : 1);
    return k < FGD_PREFETCH_ROWS ? FGD_PREFETCH_ROWS
           : k > FGD_PREFETCH_MAX_ROWS ? FGD_PREFETCH_MAX_ROWS : k;
}

/* Prefetch every 64-byte line that the nbytes bytes at row touch: from the
 * line holding the first byte to the one holding the last (stepping 64
 * bytes from the first byte misses the last line of a row that does not
 * start on a line boundary, e.g. half the rows of 40 bytes). */
static inline void fgd_prefetch_row(const void *row, int64_t nbytes)
{
    const uintptr_t a1 = (uintptr_t)row + (uintptr_t)(nbytes > 0 ? nbytes : 0);
    uintptr_t a = (uintptr_t)row & ~(uintptr_t)63;
#if defined(__GNUC__) && defined(__x86_64__)
    /* non-temporal (prefetchnta): a row is read once per epoch. On AMD Zen 5
     * it measured 4-13% faster than into L2 (prefetcht1) for mini-batches of
     * 1M x 100 rows in order, in blocks or shuffled, on one or two threads,
     * and 6% for batch 1 shuffled (benchmarks/README.md); an earlier
     * measurement had preferred L2 to L1 (prefetcht0) for shuffled rows.
     * volatile asm because GCC 12 dropped a loop of __builtin_prefetch */
    for (; a < a1; a += 64) __asm__ volatile("prefetchnta %0" : : "m"(*(const char *)a));
#elif defined(__GNUC__)
    for (; a < a1; a += 64) __builtin_prefetch((const void *)a, 0, 0);
#else
    (void)a;
    (void)a1;
#endif
}

/* Prefetch one value (a target or a sample weight) of a row visited soon.
 * volatile asm, as for the rows: written as __builtin_prefetch, GCC 12 had
 * dropped these prefetches from the batch-1 loop (fgd_epoch_single), where
 * the target's cache miss then cost more than the row's: 1M x 100 float64
 * batch 1 shuffled 166-171 -> 50 ns per row once they were back. */
static inline void fgd_prefetch_value(const double *p)
{
#if defined(__GNUC__) && defined(__x86_64__)
    __asm__ volatile("prefetcht0 %0" : : "m"(*(const char *)p));
#elif defined(__GNUC__)
    __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}

/* Prefetch row i of the C-contiguous X (rows of rowbytes bytes), its target
 * y[i] and its sample weight sw[i] (sw may be NULL). */
static inline void fgd_prefetch_sample(const void *X, int64_t rowbytes, const double *y,
                                       const double *sw, int64_t i)
{
    fgd_prefetch_row((const char *)X + i * rowbytes, rowbytes);
    fgd_prefetch_value(y + i);
    if (sw) fgd_prefetch_value(sw + i);
}

/* Prefetch the rows at positions [r0, min(r1, r0 + ahead)) of the order
 * (storage order when order is NULL): the first rows of a thread's slice,
 * which the loop's look-ahead has not reached yet. */
static inline void fgd_prefetch_first_rows(const void *X, int64_t rowbytes,
                                           const int64_t *order, int64_t r0, int64_t r1,
                                           int64_t ahead)
{
    int64_t r;
    for (r = r0; r < r1 && r < r0 + ahead; r++)
        fgd_prefetch_row((const char *)X + (order ? order[r] : r) * rowbytes, rowbytes);
}

/* Whether a loop prefetches the rows it visits next: in a shuffled order
 * always; rows in storage order too where the n rows of rowbytes bytes are
 * larger than the caches, since each thread's slice is a jump from its last
 * one that the hardware prefetcher is slow to follow (1M x 100 float64,
 * batch 256, in order: 15% less time on one thread, 11% on two; where X
 * fits in the L3, up to 9% more: benchmarks/README.md). */
static inline int fgd_prefetches_rows(const int64_t *order, int64_t n, int64_t rowbytes)
{
    return order != NULL || n * rowbytes > FGD_INORDER_PREFETCH_BYTES;
}

/* Row index that thread tid of nt visits `ahead` positions after position r
 * of its slice [r0, r1) of the batch of B rows starting at `start`; -1 when
 * there is none. Past the end of the slice it looks into the thread's
 * slices of the next batches, at most FGD_PREFETCH_BATCHES of them (small
 * batches on several threads). order NULL: rows in storage order. */
#ifndef FGD_PREFETCH_BATCHES
#define FGD_PREFETCH_BATCHES 4
#endif
static inline int64_t fgd_row_ahead(const int64_t *order, int64_t n, int64_t B, int64_t start,
                                    int64_t r, int64_t r1, int tid, int nt, int64_t ahead)
{
    int64_t left = r + ahead - r1, next = start + B;
    int k;
    if (left < 0 || nt == 1) {   /* one thread: its slices follow each other */
        const int64_t rp = r + ahead;
        return rp < n ? (order ? order[rp] : rp) : -1;
    }
    for (k = 0; k < FGD_PREFETCH_BATCHES && next < n; k++, next += B) {
        const int64_t m = n - next < B ? n - next : B;
        const int64_t q0 = next + m * tid / nt, q1 = next + m * (tid + 1) / nt;
        if (q0 + left < q1) return order ? order[q0 + left] : q0 + left;
        left -= q1 - q0;
    }
    return -1;
}

#endif /* FASTGD_PREFETCH_H */
