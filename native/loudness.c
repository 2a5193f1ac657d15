/* loudness.c -- ITU-R BS.1770-4 / EBU R 128 loudness meter (see loudness.h). */
#include "outboard.h"
#include "ob_internal.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

enum {
    TICKS_PER_HOP = 10,       /* 10 ms ticks, 100 ms hop */
    MOMENTARY_TICKS = 40,     /* 400 ms */
    SHORT_TERM_TICKS = 300,   /* 3 s */
    HIST_BINS = 10000         /* 0.01 dB bins from HIST_LO_LUFS to +30 LUFS */
};

#define HIST_LO_LUFS (-70.0)   /* absolute gate, BS.1770 and Tech 3342 */
#define HIST_BINS_PER_DB 100.0
#define LUFS_OFFSET (-0.691)   /* BS.1770: L = -0.691 + 10 log10(sum G_i z_i) */
#define MAX_WEIGHT 16.0

/* Shelf and high-pass analogue prototypes behind the BS.1770 48 kHz table
 * (the constants libebur128 derived from it). */
#define SHELF_F0 1681.974450955533
#define SHELF_G_DB 3.999843853973347
#define SHELF_Q 0.7071752369554196
#define SHELF_VB_EXP 0.4996667741545416
#define HP_F0 38.13547087602444
#define HP_Q 0.5003270373238773

typedef struct {
    uint64_t *n;   /* blocks per bin */
    double *e;     /* sum of the blocks' energies (weighted mean squares) per bin */
} histogram;

struct ob_loudness {
    double fs;
    int nch;
    long tick;                 /* samples per 10 ms */
    double k1[5], k2[5];       /* stage 1 / stage 2: b0 b1 b2 a1 a2 (a0 = 1) */
    double *w;                 /* [nch] channel weights G_i */
    double *z;                 /* [nch][6] filter history, see process */
    double *acc;               /* [nch] sum of squares of K-weighted samples, this tick */
    float *peak;               /* [nch] max |x| since reset */
    long pos;                  /* samples of the current tick seen so far */
    double ring[SHORT_TERM_TICKS]; /* sum_i G_i * acc_i of the last 300 ticks */
    int ring_next;             /* ring index the next tick is written to */
    int64_t ticks;             /* ticks completed (a 100 ms hop is 10 ticks) */
    int64_t nonfinite;         /* non-finite input samples (measured as 0) */
    double m_e, s_e;           /* current momentary / short-term energy */
    double m_max_e, s_max_e;   /* their maxima since reset */
    histogram gate;            /* 400 ms gating blocks, for integrated */
    histogram range;           /* 3 s blocks, for loudness range */
    void *mem;                 /* one allocation for the histograms */
};

static double energy_to_lufs(double e)
{
    return e > 0.0 ? LUFS_OFFSET + 10.0 * log10(e) : -HUGE_VAL;
}

static void design(ob_loudness *st)
{
    double fs = st->fs;
    double K = tan(M_PI * SHELF_F0 / fs);
    double vh = pow(10.0, SHELF_G_DB / 20.0);
    double vb = pow(vh, SHELF_VB_EXP);
    double a0 = 1.0 + K / SHELF_Q + K * K;
    st->k1[0] = (vh + vb * K / SHELF_Q + K * K) / a0;
    st->k1[1] = 2.0 * (K * K - vh) / a0;
    st->k1[2] = (vh - vb * K / SHELF_Q + K * K) / a0;
    st->k1[3] = 2.0 * (K * K - 1.0) / a0;
    st->k1[4] = (1.0 - K / SHELF_Q + K * K) / a0;

    /* High pass: b = g * [1, -2, 1].  Its pass-band gain is a0 / g^-1, so
     * g = a0(48 kHz) / a0(fs) keeps the 48 kHz filter's gain at every rate
     * (g == 1 exactly at 48 kHz: the published table). */
    double K48 = tan(M_PI * HP_F0 / 48000.0);
    double a048 = 1.0 + K48 / HP_Q + K48 * K48;
    K = tan(M_PI * HP_F0 / fs);
    a0 = 1.0 + K / HP_Q + K * K;
    double g = fs == 48000.0 ? 1.0 : a048 / a0;
    st->k2[0] = g;
    st->k2[1] = -2.0 * g;
    st->k2[2] = g;
    st->k2[3] = 2.0 * (K * K - 1.0) / a0;
    st->k2[4] = (1.0 - K / HP_Q + K * K) / a0;
}

ob_loudness *ob_loudness_new(double fs, int nch)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS)
        return NULL;
    ob_loudness *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->fs = fs;
    st->nch = nch;
    st->tick = (long)floor(fs / 100.0 + 0.5);
    st->w = calloc((size_t)nch, sizeof *st->w);
    st->z = calloc((size_t)nch * 6, sizeof *st->z);
    st->acc = calloc((size_t)nch, sizeof *st->acc);
    st->peak = calloc((size_t)nch, sizeof *st->peak);
    st->mem = calloc(2 * HIST_BINS, sizeof(uint64_t) + sizeof(double));
    if (!st->w || !st->z || !st->acc || !st->peak || !st->mem) {
        ob_loudness_free(st);
        return NULL;
    }
    st->gate.n = (uint64_t *)st->mem;
    st->range.n = st->gate.n + HIST_BINS;
    st->gate.e = (double *)(st->range.n + HIST_BINS);
    st->range.e = st->gate.e + HIST_BINS;
    for (int c = 0; c < nch; c++)
        st->w[c] = 1.0;
    if (nch == 5) {
        st->w[3] = st->w[4] = 1.41;
    } else if (nch == 6 || nch == 8) {
        st->w[3] = 0.0;
        for (int c = 4; c < nch; c++)
            st->w[c] = 1.41;
    }
    design(st);
    ob_loudness_reset(st);
    return st;
}

void ob_loudness_free(ob_loudness *st)
{
    if (!st)
        return;
    free(st->w);
    free(st->z);
    free(st->acc);
    free(st->peak);
    free(st->mem);
    free(st);
}

void ob_loudness_reset(ob_loudness *st)
{
    int nch = st->nch;
    memset(st->z, 0, (size_t)nch * 6 * sizeof *st->z);
    memset(st->acc, 0, (size_t)nch * sizeof *st->acc);
    memset(st->peak, 0, (size_t)nch * sizeof *st->peak);
    memset(st->ring, 0, sizeof st->ring);
    memset(st->mem, 0, 2 * HIST_BINS * (sizeof(uint64_t) + sizeof(double)));
    st->pos = 0;
    st->ring_next = 0;
    st->ticks = 0;
    st->nonfinite = 0;
    st->m_e = st->s_e = 0.0;
    st->m_max_e = st->s_max_e = 0.0;
}

int ob_loudness_set_channel_weight(ob_loudness *st, int ch, double weight)
{
    if (ch < 0 || ch >= st->nch || !(weight >= 0.0 && weight <= MAX_WEIGHT))
        return OB_ERR_ARG;
    st->w[ch] = weight;
    return OB_OK;
}

double ob_loudness_channel_weight(const ob_loudness *st, int ch)
{
    return ch >= 0 && ch < st->nch ? st->w[ch] : NAN;
}

int ob_loudness_latency(const ob_loudness *st)
{
    (void)st;
    return 0;
}

static void hist_add(histogram *h, double e)
{
    double l = energy_to_lufs(e);
    if (!(l >= HIST_LO_LUFS))   /* absolute gate (also drops -inf) */
        return;
    double x = (l - HIST_LO_LUFS) * HIST_BINS_PER_DB;
    int b = x < (double)(HIST_BINS - 1) ? (int)x : HIST_BINS - 1;
    h->n[b] += 1;
    h->e[b] += e;
}

/* Sum of the last `ticks` entries of the ring, oldest first (a fixed order,
 * so the result is the same however the signal was cut into blocks). */
static double ring_sum(const ob_loudness *st, int ticks)
{
    double s = 0.0;
    int i = st->ring_next - ticks;
    if (i < 0)
        i += SHORT_TERM_TICKS;
    for (int k = 0; k < ticks; k++) {
        s += st->ring[i];
        if (++i == SHORT_TERM_TICKS)
            i = 0;
    }
    return s;
}

/* A 10 ms tick is complete: weight and sum the channels, update M, S and
 * their maxima; on a 100 ms hop also the histograms. */
static void end_tick(ob_loudness *st)
{
    double e = 0.0;
    for (int c = 0; c < st->nch; c++) {
        e += st->w[c] * st->acc[c];
        st->acc[c] = 0.0;
    }
    st->ring[st->ring_next] = e;
    if (++st->ring_next == SHORT_TERM_TICKS)
        st->ring_next = 0;
    st->ticks++;
    int on_hop = st->ticks % TICKS_PER_HOP == 0;
    if (st->ticks >= MOMENTARY_TICKS) {
        double m = ring_sum(st, MOMENTARY_TICKS) / ((double)MOMENTARY_TICKS * (double)st->tick);
        st->m_e = m;
        if (m > st->m_max_e)
            st->m_max_e = m;
        if (on_hop)
            hist_add(&st->gate, m);
    }
    if (st->ticks >= SHORT_TERM_TICKS) {
        double s = ring_sum(st, SHORT_TERM_TICKS) / ((double)SHORT_TERM_TICKS * (double)st->tick);
        st->s_e = s;
        if (s > st->s_max_e)
            st->s_max_e = s;
        if (on_hop)
            hist_add(&st->range, s);
    }
}

static void flush_state(ob_loudness *st)
{
    for (int c = 0; c < st->nch; c++) {
        double *z = st->z + 6 * c;
        for (int k = 2; k < 6; k++)
            z[k] = ob_flush(z[k]);
    }
}

/*
 * Glossary of the per-channel state (z[6 * c + ...]), direct form I cascade:
 *   x1, x2  last two input samples (stage 1 input)
 *   s1, s2  last two stage-1 outputs (= stage 2 input)
 *   y1, y2  last two stage-2 outputs (the K-weighted signal)
 * and acc = sum of y^2 over the current tick, pk = max |x| since reset.
 * s1, s2, y1, y2 are flushed to 0 below 1e-30 at the end of every 10 ms
 * tick: fixed positions in the signal, never block edges, which would make
 * the result depend on the block size.  Within one tick the fastest-decaying
 * state (the shelf's poles, at any rate) loses at most 32.5 decades, far
 * from the 278 that separate 1e-30 from the double denormals, so neither
 * the state nor y^2 ever goes denormal on a decay.
 * The loop is cut at tick boundaries only; a tick's sum is accumulated
 * sample by sample in sample order, so any block size gives the same bits.
 */
int ob_loudness_process(ob_loudness *st, float **ch, int nch, int frames)
{
    if (!st || !ch || nch != st->nch || frames < 0)
        return OB_ERR_ARG;
    const double b10 = st->k1[0], b11 = st->k1[1], b12 = st->k1[2];
    const double a11 = st->k1[3], a12 = st->k1[4];
    const double b20 = st->k2[0], b21 = st->k2[1], b22 = st->k2[2];
    const double a21 = st->k2[3], a22 = st->k2[4];
    int done = 0;
    while (done < frames) {
        long room = st->tick - st->pos;
        int n = room < (long)(frames - done) ? (int)room : frames - done;
        for (int c = 0; c < nch; c++) {
            const float *x = ch[c] + done;
            double *z = st->z + 6 * c;
            double x1 = z[0], x2 = z[1], s1 = z[2], s2 = z[3], y1 = z[4], y2 = z[5];
            double acc = st->acc[c];
            float pk = st->peak[c];
            int64_t bad = 0;
            for (int i = 0; i < n; i++) {
                float xf = x[i];
                float ax = fabsf(xf);
                if (!(ax <= FLT_MAX)) {   /* NaN or Inf: measured as silence */
                    xf = 0.0f;
                    ax = 0.0f;
                    bad++;
                }
                if (ax > pk)
                    pk = ax;
                double in = (double)xf;
                /* the previous output's term last: a short dependency chain */
                double s = (b10 * in + b11 * x1 + b12 * x2 - a12 * s2) - a11 * s1;
                double y = (b21 * s1 + b22 * s2 - a22 * y2) + b20 * s - a21 * y1;
                x2 = x1;
                x1 = in;
                s2 = s1;
                s1 = s;
                y2 = y1;
                y1 = y;
                acc += y * y;
            }
            z[0] = x1; z[1] = x2; z[2] = s1; z[3] = s2; z[4] = y1; z[5] = y2;
            st->acc[c] = acc;
            st->peak[c] = pk;
            st->nonfinite += bad;
        }
        done += n;
        st->pos += n;
        if (st->pos == st->tick) {
            flush_state(st);
            end_tick(st);
            st->pos = 0;
        }
    }
    return OB_OK;
}

double ob_loudness_momentary(const ob_loudness *st) { return energy_to_lufs(st->m_e); }
double ob_loudness_short_term(const ob_loudness *st) { return energy_to_lufs(st->s_e); }
double ob_loudness_momentary_max(const ob_loudness *st) { return energy_to_lufs(st->m_max_e); }
double ob_loudness_short_term_max(const ob_loudness *st) { return energy_to_lufs(st->s_max_e); }
int64_t ob_loudness_blocks(const ob_loudness *st) { return st->ticks / TICKS_PER_HOP; }

double ob_loudness_sample_peak(const ob_loudness *st, int ch)
{
    if (ch < -1 || ch >= st->nch)
        return NAN;
    float pk = 0.0f;
    if (ch >= 0) {
        pk = st->peak[ch];
    } else {
        for (int c = 0; c < st->nch; c++)
            if (st->peak[c] > pk)
                pk = st->peak[c];
    }
    return ob_lin_to_db((double)pk);
}

void ob_loudness_read(const ob_loudness *st, ob_loudness_reading *out)
{
    out->momentary_lufs = energy_to_lufs(st->m_e);
    out->short_term_lufs = energy_to_lufs(st->s_e);
    out->momentary_max_lufs = energy_to_lufs(st->m_max_e);
    out->short_term_max_lufs = energy_to_lufs(st->s_max_e);
    out->sample_peak_dbfs = ob_loudness_sample_peak(st, -1);
    out->blocks = st->ticks / TICKS_PER_HOP;
    out->ticks = st->ticks;
    out->nonfinite = st->nonfinite;
}

/* Loudness of the mean energy of bin b (nonempty). */
static double bin_lufs(const histogram *h, int b)
{
    return energy_to_lufs(h->e[b] / (double)h->n[b]);
}

/* Loudness of all blocks in h (all are above the absolute gate), and the
 * first bin whose mean loudness passes `rel_lu` below it (strictly above
 * when strict, else at or above).  Returns -HUGE_VAL when h is empty. */
static double relative_gate(const histogram *h, double rel_lu, int strict, int *first)
{
    double e = 0.0;
    uint64_t n = 0;
    for (int b = 0; b < HIST_BINS; b++) {
        n += h->n[b];
        e += h->e[b];
    }
    if (n == 0)
        return -HUGE_VAL;
    double gate = energy_to_lufs(e / (double)n) - rel_lu;
    int b = 0;
    for (; b < HIST_BINS; b++) {
        if (h->n[b] == 0)
            continue;
        double l = bin_lufs(h, b);
        if (strict ? l > gate : l >= gate)
            break;
    }
    *first = b;
    return gate;
}

double ob_loudness_integrated(const ob_loudness *st)
{
    const histogram *h = &st->gate;
    int first;
    if (relative_gate(h, 10.0, 1, &first) == -HUGE_VAL)
        return -HUGE_VAL;
    double e = 0.0;
    uint64_t n = 0;
    for (int b = first; b < HIST_BINS; b++) {
        n += h->n[b];
        e += h->e[b];
    }
    return n ? energy_to_lufs(e / (double)n) : -HUGE_VAL;
}

double ob_loudness_range(const ob_loudness *st)
{
    const histogram *h = &st->range;
    int first;
    if (relative_gate(h, 20.0, 0, &first) == -HUGE_VAL)
        return -HUGE_VAL;
    uint64_t n = 0;
    for (int b = first; b < HIST_BINS; b++)
        n += h->n[b];
    if (n == 0)
        return -HUGE_VAL;
    /* Nearest-rank percentiles (0-based index into the sorted values). */
    uint64_t k_lo = (uint64_t)((double)(n - 1) * 0.10 + 0.5);
    uint64_t k_hi = (uint64_t)((double)(n - 1) * 0.95 + 0.5);
    double lo = -HUGE_VAL, hi = -HUGE_VAL;
    uint64_t seen = 0;
    for (int b = first; b < HIST_BINS; b++) {
        if (h->n[b] == 0)
            continue;
        uint64_t next = seen + h->n[b];
        if (k_lo >= seen && k_lo < next)
            lo = bin_lufs(h, b);
        if (k_hi >= seen && k_hi < next) {
            hi = bin_lufs(h, b);
            break;
        }
        seen = next;
    }
    return hi - lo;
}

int ob_loudness_kweighting(const ob_loudness *st, int stage, double *b, double *a)
{
    const double *k = stage == 1 ? st->k1 : stage == 2 ? st->k2 : NULL;
    if (!k || !b || !a)
        return OB_ERR_ARG;
    b[0] = k[0];
    b[1] = k[1];
    b[2] = k[2];
    a[0] = 1.0;
    a[1] = k[3];
    a[2] = k[4];
    return OB_OK;
}
