/* truepeak.c -- polyphase true-peak interpolator and meter (see truepeak.h). */
#include <stdlib.h>
#include <string.h>
#include "outboard.h"
#include "ob_internal.h"

/* Kaiser window shape.  With 24 taps per phase, beta 7 keeps every phase
 * within 0.0006 (0.006 dB) of an ideal fractional delay up to 0.40 fs and
 * 0.010 (0.09 dB) up to 0.42 fs, and gives a transition band around fs/2 a
 * little wider than that of scipy's resample_poly default (beta 5, 20 taps):
 * longer, sharper designs read wide-band content near Nyquist (clipped or
 * limited material) differently from common meters, in either direction,
 * by up to 0.2 dB. */
#define TP_BETA 7.0

/* interpolate() takes the tap pairs two at a time */
_Static_assert(OB_TRUEPEAK_TAPS % 4 == 0, "OB_TRUEPEAK_TAPS must be a multiple of 4");

/*
 * State glossary:
 *   factor L      oversampling factor (phases per input sample)
 *   taps K        taps per phase; delay D = K / 2 input samples
 *   c_p[j]        (not stored) phase p's tap on x[n - j]; phase p
 *                 interpolates input time n - D + p / L.  Phase 0 is the unit
 *                 impulse at j = D.  The prototype is symmetric, so phase
 *                 L - p is phase p reversed: c_{L-p}[j] = c_p[K-1-j].
 *   fold          the phases 1..L/2 folded over that symmetry, H = L/2:
 *                 fold[(2j)H + q-1]   = (c_q[j] + c_q[K-1-j]) / 2
 *                 fold[(2j+1)H + q-1] = (c_q[j] - c_q[K-1-j]) / 2
 *                 for j < K/2; with S_j = x[n-j] + x[n-K+1+j] and
 *                 A_j = x[n-j] - x[n-K+1+j], phase q is sum(fold_p S + fold_m A)
 *                 and phase L - q is sum(fold_p S - fold_m A): half the
 *                 multiplies of the direct form, the phases side by side.
 *   hist[c]       2K doubles: a ring written twice (at pos and pos + K), so
 *                 hist[c][pos[c] + j] = x[n - j] for j = 0..K-1, contiguous
 *   last[c]       channel c's last-phase value of the previous interval
 *                 (left neighbour for the parabola)
 *   peak[c]       running max of the true peak, linear
 */
struct ob_truepeak {
    double fs;
    int nch, factor, taps, delay, refine;
    double *fold;
    double *hist;
    int *pos;
    double *last;
    double *peak;
};

/* Unnormalised prototype tap: Kaiser-windowed sinc at the distance of tap j
 * (on x[n - j]) from phase p's instant, t = D - j - p / L input samples. */
static double proto(int L, int D, int p, int j)
{
    const int num = (D - j) * L - p; /* t = num / L */
    if (num == 0)
        return 1.0;
    if (num % L == 0)
        return 0.0; /* sinc zero at a non-zero integer: exactly 0 */
    const double t = (double)num / L, u = t / D;
    if (u * u >= 1.0)
        return 0.0;
    const double w = ob_bessel_i0(TP_BETA * sqrt(1.0 - u * u)) / ob_bessel_i0(TP_BETA);
    return sin(M_PI * t) / (M_PI * t) * w;
}

static void design(ob_truepeak *st)
{
    const int L = st->factor, K = st->taps, D = st->delay, H = L / 2;
    for (int q = 1; q <= H; q++) {
        double sum = 0.0; /* each phase normalised to unit gain at DC */
        for (int j = 0; j < K; j++)
            sum += proto(L, D, q, j);
        for (int j = 0; j < K / 2; j++) {
            const double a = proto(L, D, q, j) / sum, b = proto(L, D, q, K - 1 - j) / sum;
            st->fold[(size_t)(2 * j) * H + q - 1] = 0.5 * (a + b);
            st->fold[(size_t)(2 * j + 1) * H + q - 1] = q == H ? 0.0 : 0.5 * (a - b);
        }
    }
}

static int default_factor(double fs)
{
    return fs < 96000.0 ? 4 : fs < 192000.0 ? 2 : 1;
}

ob_truepeak *ob_truepeak_new_detector(double fs, int nch, int factor, int refine)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS)
        return NULL;
    if (factor == 0)
        factor = default_factor(fs);
    if (factor != 1 && factor != 2 && factor != 4 && factor != 8 && factor != 16)
        return NULL;
    if (refine != 0 && refine != 1)
        return NULL;
    ob_truepeak *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->fs = fs;
    st->nch = nch;
    st->factor = factor;
    st->taps = OB_TRUEPEAK_TAPS;
    st->delay = OB_TRUEPEAK_TAPS / 2;
    st->refine = refine;
    st->fold = malloc(sizeof(double) * (size_t)(factor > 1 ? factor : 2) * st->taps / 2);
    st->hist = malloc(sizeof(double) * (size_t)nch * 2 * st->taps);
    st->pos = malloc(sizeof(int) * (size_t)nch);
    st->last = malloc(sizeof(double) * (size_t)nch);
    st->peak = malloc(sizeof(double) * (size_t)nch);
    if (!st->fold || !st->hist || !st->pos || !st->last || !st->peak) {
        ob_truepeak_free(st);
        return NULL;
    }
    design(st);
    ob_truepeak_reset(st);
    return st;
}

ob_truepeak *ob_truepeak_new(double fs, int nch, int factor)
{
    return ob_truepeak_new_detector(fs, nch, factor, 0);
}

void ob_truepeak_free(ob_truepeak *st)
{
    if (!st)
        return;
    free(st->fold);
    free(st->hist);
    free(st->pos);
    free(st->last);
    free(st->peak);
    free(st);
}

void ob_truepeak_reset(ob_truepeak *st)
{
    memset(st->hist, 0, sizeof(double) * (size_t)st->nch * 2 * st->taps);
    for (int c = 0; c < st->nch; c++) {
        st->pos[c] = 0;
        st->last[c] = 0.0;
        st->peak[c] = 0.0;
    }
}

/* v[1..L-1]: the interpolated values of phases 1..L-1 from the window xw
 * (xw[j] = x[n - j]), by the folded form (see the glossary). */
static inline void interpolate(const double *restrict fold, const double *restrict xw, int K,
                               int L, double *restrict v)
{
    enum { HMAX = OB_TRUEPEAK_MAX_FACTOR / 2 };
    const int H = L / 2;
    /* two sets of accumulators (even / odd tap pairs) halve the chains of
     * dependent additions */
    double P0[HMAX], M0[HMAX], P1[HMAX], M1[HMAX];
    for (int q = 0; q < H; q++)
        P0[q] = M0[q] = P1[q] = M1[q] = 0.0;
    for (int j = 0; j < K / 2; j += 2) {
        const double s0 = xw[j] + xw[K - 1 - j], a0 = xw[j] - xw[K - 1 - j];
        const double s1 = xw[j + 1] + xw[K - 2 - j], a1 = xw[j + 1] - xw[K - 2 - j];
        const double *restrict f0 = fold + (size_t)j * 2 * H;
        const double *restrict f1 = f0 + 2 * H;
        for (int q = 0; q < H; q++) {
            P0[q] += f0[q] * s0;
            M0[q] += f0[H + q] * a0;
            P1[q] += f1[q] * s1;
            M1[q] += f1[H + q] * a1;
        }
    }
    for (int q = 1; q < H; q++) {
        const double P = P0[q - 1] + P1[q - 1], M = M0[q - 1] + M1[q - 1];
        v[q] = P + M;
        v[L - q] = P - M;
    }
    v[H] = P0[H - 1] + P1[H - 1];
}

/* The shared per-sample step (see ob_truepeak_push in the header). */
static inline double tp_push(ob_truepeak *restrict st, int c, float x)
{
    const int K = st->taps, L = st->factor;
    double *restrict hb = st->hist + (size_t)c * 2 * K;
    int pos = st->pos[c] - 1;
    if (pos < 0)
        pos += K;
    st->pos[c] = pos;
    hb[pos] = hb[pos + K] = (double)x;
    const double *restrict xw = hb + pos; /* xw[j] = x[n - j] */

    /* w[1 + p] = phase p of this interval; w[0] = the previous interval's
     * last phase, w[L + 1] = the next interval's phase 0 (x[n - D + 1]) */
    double w[OB_TRUEPEAK_MAX_FACTOR + 2];
    double *v = w + 1;
    switch (L) { /* constant trip counts for the compiler */
    case 16: interpolate(st->fold, xw, OB_TRUEPEAK_TAPS, 16, v); break;
    case 8: interpolate(st->fold, xw, OB_TRUEPEAK_TAPS, 8, v); break;
    case 4: interpolate(st->fold, xw, OB_TRUEPEAK_TAPS, 4, v); break;
    case 2: interpolate(st->fold, xw, OB_TRUEPEAK_TAPS, 2, v); break;
    default: break;
    }
    v[0] = xw[st->delay]; /* phase 0 is x[n - D], exactly */
    double best = fabs(v[0]);
    if (!st->refine) {
        for (int p = 1; p < L; p++) {
            const double f = fabs(v[p]);
            best = f > best ? f : best;
        }
        return best;
    }
    int ib = 0; /* branch-free: which phase wins is unpredictable */
    for (int p = 1; p < L; p++) {
        const double f = fabs(v[p]);
        const int gt = f > best;
        best = gt ? f : best;
        ib = gt ? p : ib;
    }
    w[0] = st->last[c];
    w[L + 1] = xw[st->delay - 1];
    st->last[c] = v[L - 1];
    /* parabola through the largest value and its neighbours, if they form a
     * local maximum of one sign */
    const double a = w[ib], b = w[ib + 1], d = w[ib + 2];
    const double A = fabs(a), B = best, C = fabs(d);
    const double curv = A - 2.0 * B + C;
    const int ok = (a * b > 0.0) & (d * b > 0.0) & (B >= A) & (B >= C) & (curv < 0.0);
    const double vertex = B - (A - C) * (A - C) / (8.0 * (ok ? curv : -1.0));
    return ok && vertex > best ? vertex : best;
}

double ob_truepeak_push(ob_truepeak *st, int c, float x)
{
    return tp_push(st, c, x);
}

void ob_truepeak_process(ob_truepeak *st, float **ch, int nch, int frames)
{
    if (nch > st->nch)
        nch = st->nch;
    for (int c = 0; c < nch; c++) {
        const float *x = ch[c];
        double pk = st->peak[c];
        for (int i = 0; i < frames; i++) {
            const double p = tp_push(st, c, x[i]);
            if (p > pk)
                pk = p;
        }
        st->peak[c] = pk;
    }
}

double ob_truepeak_channel_dbtp(const ob_truepeak *st, int c)
{
    if (c < 0 || c >= st->nch)
        return -HUGE_VAL;
    return ob_lin_to_db(st->peak[c]);
}

double ob_truepeak_max_dbtp(const ob_truepeak *st)
{
    double pk = 0.0;
    for (int c = 0; c < st->nch; c++)
        if (st->peak[c] > pk)
            pk = st->peak[c];
    return ob_lin_to_db(pk);
}

int ob_truepeak_factor(const ob_truepeak *st) { return st->factor; }

int ob_truepeak_latency(const ob_truepeak *st) { return st->delay; }
