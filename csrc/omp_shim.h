/*
 * omp_shim.h -- the few OpenMP calls the core makes, with single-threaded
 * stand-ins when the compiler has no OpenMP (the build then still works and
 * fastgd.show_config() says it is single-threaded).
 */
#ifndef FASTGD_OMP_SHIM_H
#define FASTGD_OMP_SHIM_H

#include <stdint.h>

/* Own cache line: keeps one thread's writes from evicting another's reads. */
#if defined(__GNUC__)
#define FGD_CACHE_LINE __attribute__((aligned(64)))
#else
#define FGD_CACHE_LINE
#endif

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

/*
 * A barrier for the threads of one parallel region, for the epoch loops that
 * meet twice per mini-batch. libgomp's `omp barrier` took about 420 ns per
 * crossing on two threads of the project's VM; this one, a counter and a
 * sense flag on their own cache lines, about 40 ns. At batch 256 on
 * 1,000,000 rows that is 7,800 crossings per epoch: 3.3 ms of libgomp
 * barriers against an epoch bound of 25 ms (reading X once). Measured end
 * to end: 8% of such an epoch in cache, 3-5% out of cache.
 *
 * A waiting thread spins (with the CPU's pause hint) for a while, then yields
 * its core on every further check, so that more threads than cores, or a
 * busy machine, still make progress. The counter's acquire-release update
 * and the flag's release store / acquire load order memory as `omp barrier`
 * does: what any thread wrote before the barrier, every thread reads after
 * it.
 *
 * Declare one fgd_barrier per parallel region, shared and zeroed
 * (FGD_BARRIER_INIT), and one int sense per thread, zero; every thread of
 * the region must call fgd_barrier_wait the same number of times. Without
 * GCC-style atomics it is `omp barrier`; without OpenMP, nothing.
 */
#if defined(_OPENMP) && defined(__GNUC__)
#include <sched.h>
#ifndef FGD_BARRIER_SPINS
#define FGD_BARRIER_SPINS 4096
#endif
typedef struct {
    FGD_CACHE_LINE int count;
    FGD_CACHE_LINE int sense;
} fgd_barrier;
#define FGD_BARRIER_INIT {0, 0}

/* One round of a wait loop: the CPU's pause hint for the first
 * FGD_BARRIER_SPINS rounds (*spins counts them), then give up the core. */
static inline void fgd_wait_round(int *spins)
{
    if (*spins < FGD_BARRIER_SPINS) {
        ++*spins;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ __volatile__("yield");
#endif
    } else {
        sched_yield();
    }
}

static inline void fgd_barrier_wait(fgd_barrier *b, int nt, int *sense)
{
    const int s = !*sense;
    int spins = 0;
    *sense = s;
    if (nt <= 1) return;
    if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == nt) {
        /* the last to arrive: reset the count for the next crossing (no
         * thread touches it before it sees the new sense), then release */
        __atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->sense, s, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != s) fgd_wait_round(&spins);
}
#else
typedef struct {
    int unused;
} fgd_barrier;
#define FGD_BARRIER_INIT {0}
static inline void fgd_barrier_wait(fgd_barrier *b, int nt, int *sense)
{
    (void)b;
    (void)sense;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp barrier
    }
#else
    (void)nt;
#endif
}
#endif

/*
 * Bounded staleness for the lock-free (Hogwild!) loops. Thread tid of nt
 * visits positions tid, tid + nt, ... of the epoch; left alone, a thread the
 * OS deschedules for a few milliseconds falls thousands of positions behind
 * the others and stays there, so that its rows' steps land on a model
 * thousands of steps ahead of the step numbers they were computed for
 * (momentum with lr 0.05 ended 3 epochs 14% above the serial loss when a
 * busy machine did that). fgd_pace keeps every thread within
 * FGD_PACE_LEAD positions of the slowest one that is still running: a thread
 * that gets that far ahead waits (spinning, then yielding its core, as
 * fgd_barrier_wait). Each thread publishes its position every
 * FGD_PACE_EVERY of its rows on its own cache line, so on free cores the
 * check costs a cache miss per FGD_PACE_EVERY rows.
 *
 * Zero one fgd_pace_slot per thread before the parallel region; every
 * thread calls fgd_pace at each of its positions (with its own countdown,
 * zero at first) and fgd_pace_done when it leaves the loop (by the end or
 * by `*stop`). Without GCC-style atomics, no pacing.
 */
#ifndef FGD_PACE_LEAD
#define FGD_PACE_LEAD 256
#endif
#define FGD_PACE_EVERY 16
typedef struct {
    FGD_CACHE_LINE int64_t pos;
} fgd_pace_slot;

static inline void fgd_pace(fgd_pace_slot *slot, int nt, int tid, int64_t r, const int *stop,
                            int *countdown)
{
#if defined(_OPENMP) && defined(__GNUC__)
    int spins = 0, k;
    if (--*countdown > 0) return;
    *countdown = FGD_PACE_EVERY;
    __atomic_store_n(&slot[tid].pos, r, __ATOMIC_RELAXED);
    for (;;) {
        int64_t slowest = INT64_MAX;
        for (k = 0; k < nt; k++) {
            const int64_t p = __atomic_load_n(&slot[k].pos, __ATOMIC_RELAXED);
            if (k != tid && p < slowest) slowest = p;
        }
        if (r - slowest <= FGD_PACE_LEAD || __atomic_load_n(stop, __ATOMIC_RELAXED)) return;
        fgd_wait_round(&spins);
    }
#else
    (void)slot; (void)nt; (void)tid; (void)r; (void)stop; (void)countdown;
#endif
}

static inline void fgd_pace_done(fgd_pace_slot *slot, int tid)
{
#if defined(_OPENMP) && defined(__GNUC__)
    __atomic_store_n(&slot[tid].pos, INT64_MAX, __ATOMIC_RELAXED);
#else
    (void)slot; (void)tid;
#endif
}

/*
 * A Hogwild! thread's plain-SGD intercept steps. Every row writes the
 * intercept: were the threads to update the shared one at every row, the
 * cache line holding it would move between cores at every row (a fifth of
 * the loop's time on two threads), and their unlocked read-modify-writes
 * would lose steps (about 40% of them, on two threads). So a thread keeps
 * its steps (b) and gradient sum (g), adds b atomically to the shared
 * intercept every FGD_PACE_EVERY of its rows and at its end (hog_b_step and
 * hog_b_done in csr_impl.h), and its margins add its pending b. g goes to
 * gsum after the threads end.
 */
typedef struct {
    double b, g;
    int left;
} fgd_hog_intercept;

/*
 * A lock for the one coordinate every Hogwild! row steps under a stateful
 * optimizer: the intercept and its state rows (Adagrad's sum, Adam's
 * moments, FTRL's z and n, ...). Their unlocked read-modify-writes lost
 * about half of the intercept's steps on two threads; plain SGD's per-thread
 * sums (fgd_hog_intercept) cannot serve there, because a moving average's
 * changes made from one start do not add up. The holder's critical section
 * is one coordinate's step, so waiters spin (then yield, as
 * fgd_barrier_wait). fgd_lock_init before the parallel region,
 * fgd_lock_destroy after it. Without GCC-style atomics it is an OpenMP
 * lock; without OpenMP, nothing.
 */
#if defined(_OPENMP) && defined(__GNUC__)
typedef int fgd_lock;
static inline void fgd_lock_init(fgd_lock *lk) { *lk = 0; }
static inline void fgd_lock_destroy(fgd_lock *lk) { (void)lk; }
static inline void fgd_lock_set(fgd_lock *lk)
{
    int spins = 0;
    while (__atomic_exchange_n(lk, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(lk, __ATOMIC_RELAXED)) fgd_wait_round(&spins);
}
static inline void fgd_lock_unset(fgd_lock *lk) { __atomic_store_n(lk, 0, __ATOMIC_RELEASE); }
#elif defined(_OPENMP)
typedef omp_lock_t fgd_lock;
static inline void fgd_lock_init(fgd_lock *lk) { omp_init_lock(lk); }
static inline void fgd_lock_destroy(fgd_lock *lk) { omp_destroy_lock(lk); }
static inline void fgd_lock_set(fgd_lock *lk) { omp_set_lock(lk); }
static inline void fgd_lock_unset(fgd_lock *lk) { omp_unset_lock(lk); }
#else
typedef int fgd_lock;
static inline void fgd_lock_init(fgd_lock *lk) { (void)lk; }
static inline void fgd_lock_destroy(fgd_lock *lk) { (void)lk; }
static inline void fgd_lock_set(fgd_lock *lk) { (void)lk; }
static inline void fgd_lock_unset(fgd_lock *lk) { (void)lk; }
#endif

#endif /* FASTGD_OMP_SHIM_H */
