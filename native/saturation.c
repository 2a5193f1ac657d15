/* saturation.c -- oversampled saturation and clipping (see saturation.h). */
#include "outboard.h"
#include "ob_internal.h"

#include <stdlib.h>
#include <string.h>

/* The dot products run four doubles wide; on x86-64 with GCC the process
 * loop is compiled for AVX2 and for the baseline and the loader picks one.
 * Both round identically (no FMA: the build uses -ffp-contract=off, and the
 * summation order is the code's), so output does not depend on the CPU. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

typedef double v4d __attribute__((vector_size(32)));
typedef double v4du __attribute__((vector_size(32), aligned(8)));  /* unaligned loads */

#define LN2 0.69314718054994530942
#define ADAA_EPS 1e-6    /* below this input step, ADAA takes f at the midpoint */
#define CHUNK 128        /* flush grid, samples from new/reset */
#define CUTOFF 0.475     /* both filters' cut-off, in units of fs */
#define DESIGN_STEPS 2048 /* Simpson intervals of the decimator's compensated design */

static int in_range(double x, double lo, double hi) { return x >= lo && x <= hi; }

/*
 * State glossary (n counts base samples, m = n L + p samples at L fs):
 *   L, T         factor; taps per phase (= latency, base samples)
 *   up[p][j]     interpolator phase p's tap on u[n - j] (L rows of T)
 *   nd, down[k]  decimator taps on w[m - k], k < nd = L T + 1 (zero-padded to
 *                ndp, a multiple of 16)
 *   xh[c]        ring of the driven input u, 2T doubles written twice, so
 *                xh[c][xpos + j] = u[n - j] for j < T is contiguous
 *   wh[c]        ring of the curve's output w at L fs, 2 ndp doubles, same
 *                trick: wh[c][wpos + k] = w[m - k]
 *   vp[c]        the last interpolated sample v[m - 1]; fp[c][s] F(vp) of the
 *                curve in slot s (0: current, 1: the one fading out)
 *   hx[c], hy[c] DC blocker's last input and output
 *   dry[c]       ring of T input samples (float), dpos the oldest
 *   drive, mix, trim   raised-cosine ramps of the linear values (ob_sramp),
 *                 ramp samples at fs
 *   cur, old, want     curve in use, curve fading out, curve asked for
 *   xf, fade_len       weight of the curve in use during a crossfade (a
 *                 raised-cosine ramp 0 -> 1 at L fs) and its length; xf.left
 *                 == 0: none running
 *   phase        samples since the last flush grid line
 */
struct ob_saturation {
    double fs;
    int nch, L, T, nd, ndp;
    int fresh;
    double *up, *down;
    double *xh, *wh, *vp, *fp, *hx, *hy;
    float *dry;
    int xpos, wpos, dpos, phase;
    double drive_db, mix_pct, output_db;
    ob_sramp drive, mix, trim, xf;
    int ramp, cur, old, want, fade_len;
    double hp_b0, hp_a1;
    double tube_tb, tube_inv, tube_lc;   /* tanh B, 1 / sech^2 B, logcosh B */
};

/* ---- the curves ------------------------------------------------------------ */

static inline double logcosh(double x)
{
    const double a = fabs(x);
    return a + log1p(exp(-2.0 * a)) - LN2;
}

/* f, the curve */
static inline double curve_f(const ob_saturation *st, int curve, double u)
{
    switch (curve) {
    case OB_SAT_TAPE: return tanh(u);
    case OB_SAT_TUBE:
        return (tanh(u + (double)OB_SAT_TUBE_BIAS * 1e-3) - st->tube_tb) * st->tube_inv;
    case OB_SAT_SOFT_CLIP:
        if (fabs(u) <= 1.5)
            return u - (4.0 / 27.0) * u * u * u;
        return u > 0.0 ? 1.0 : -1.0;
    default:
        return u > 1.0 ? 1.0 : u < -1.0 ? -1.0 : u;
    }
}

/* F, its antiderivative with F(0) = 0 */
static inline double curve_F(const ob_saturation *st, int curve, double u)
{
    switch (curve) {
    case OB_SAT_TAPE: return logcosh(u);
    case OB_SAT_TUBE:
        return (logcosh(u + (double)OB_SAT_TUBE_BIAS * 1e-3) - st->tube_lc - u * st->tube_tb) *
               st->tube_inv;
    case OB_SAT_SOFT_CLIP:
        if (fabs(u) <= 1.5) {
            const double u2 = u * u;
            return 0.5 * u2 - u2 * u2 / 27.0;
        }
        return fabs(u) - 0.5625;
    default:
        return fabs(u) <= 1.0 ? 0.5 * u * u : fabs(u) - 0.5;
    }
}

/* First-order ADAA: the mean of f over [v_prev, v]; fv = F(v), fprev = F(v_prev). */
static inline double adaa(const ob_saturation *st, int curve, double v, double v_prev, double fv,
                          double fprev)
{
    const double d = v - v_prev;
    if (fabs(d) < ADAA_EPS)
        return curve_f(st, curve, 0.5 * (v + v_prev));
    return (fv - fprev) / d;
}

/* ---- filter design ---------------------------------------------------------- */

/* Kaiser window at offset t from the centre of a window of half-length half. */
static double kaiser(double t, double half, double beta)
{
    const double u = t / half;
    if (u * u >= 1.0)
        return u * u == 1.0 ? 1.0 / ob_bessel_i0(beta) : 0.0;
    return ob_bessel_i0(beta * sqrt(1.0 - u * u)) / ob_bessel_i0(beta);
}

/* (1/pi) * integral over 0..wc of cos(w t) / cos(w / 2) dw (Simpson): the
 * impulse response at t of a low pass whose passband is 1 / cos(w / 2). */
static double compensated(double t, double wc)
{
    const int n = DESIGN_STEPS;
    const double h = wc / n;
    double s = 0.0;
    for (int i = 0; i <= n; i++) {
        const double w = h * i;
        const double g = cos(w * t) / cos(0.5 * w);
        s += (i == 0 || i == n ? 1.0 : (i & 1) ? 4.0 : 2.0) * g;
    }
    return s * h / 3.0 / M_PI;
}

static void design(ob_saturation *st)
{
    const int L = st->L, T = st->T, nu = L * T;
    const double beta = OB_SAT_BETA_X10 * 0.1;
    const double wc = 2.0 * M_PI * CUTOFF / L;   /* rad per sample at L fs */
    /* interpolator: length L T, centre (L T - 1) / 2; phase p, tap j is
     * prototype tap j L + p; each phase scaled to sum 1 (DC passes exactly) */
    const double cu = 0.5 * (nu - 1);
    for (int p = 0; p < L; p++) {
        double sum = 0.0;
        for (int j = 0; j < T; j++) {
            const double t = j * L + p - cu;
            const double h = (wc / M_PI) * (t == 0.0 ? 1.0 : sin(wc * t) / (wc * t)) *
                             kaiser(t, cu, beta);
            st->up[p * T + j] = h;
            sum += h;
        }
        for (int j = 0; j < T; j++)
            st->up[p * T + j] /= sum;
    }
    /* decimator: length L T + 1, centre L T / 2, compensated passband; the
     * design is symmetric, computed for one half */
    const int c = nu / 2;
    double sum = 0.0;
    for (int k = 0; k <= c; k++) {
        const double t = k - c;
        const double h = compensated(t, wc) * kaiser(t, c, beta);
        st->down[k] = h;
        st->down[nu - k] = h;
        sum += k == c ? h : 2.0 * h;
    }
    for (int k = 0; k <= nu; k++)
        st->down[k] /= sum;
}

/* ---- lifetime ---------------------------------------------------------------- */

ob_saturation *ob_saturation_new(double fs, int nch, int factor)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS)
        return NULL;
    if (factor != 2 && factor != 4 && factor != 8)
        return NULL;
    ob_saturation *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->fs = fs;
    st->nch = nch;
    st->L = factor;
    st->T = OB_SAT_TAPS;
    st->nd = factor * OB_SAT_TAPS + 1;
    st->ndp = (st->nd + 15) / 16 * 16;
    const size_t n = (size_t)nch;
    st->up = calloc((size_t)factor * (size_t)st->T, sizeof(double));
    st->down = calloc((size_t)st->ndp, sizeof(double));
    st->xh = calloc(n * 2 * (size_t)st->T, sizeof(double));
    st->wh = calloc(n * 2 * (size_t)st->ndp, sizeof(double));
    st->vp = calloc(n, sizeof(double));
    st->fp = calloc(n * 2, sizeof(double));
    st->hx = calloc(n, sizeof(double));
    st->hy = calloc(n, sizeof(double));
    st->dry = calloc(n * (size_t)st->T, sizeof(float));
    if (!st->up || !st->down || !st->xh || !st->wh || !st->vp || !st->fp || !st->hx || !st->hy ||
        !st->dry) {
        ob_saturation_free(st);
        return NULL;
    }
    design(st);
    const double B = OB_SAT_TUBE_BIAS * 1e-3;
    st->tube_tb = tanh(B);
    st->tube_inv = 1.0 / (1.0 - st->tube_tb * st->tube_tb);
    st->tube_lc = logcosh(B);
    const double K = tan(M_PI * OB_SAT_DC_HZ / fs);
    st->hp_b0 = 1.0 / (1.0 + K);
    st->hp_a1 = (K - 1.0) / (K + 1.0);
    st->ramp = (int)lround(OB_SAT_RAMP_MS * 1e-3 * fs);
    st->fade_len = (int)lround(OB_SAT_RAMP_MS * 1e-3 * fs * factor);
    if (st->fade_len < 1)
        st->fade_len = 1;
    st->cur = st->old = st->want = OB_SAT_TAPE;
    st->fresh = 1;
    ob_saturation_set_drive_db(st, 0.0);
    ob_saturation_set_mix_pct(st, 100.0);
    ob_saturation_set_output_db(st, 0.0);
    ob_saturation_reset(st);
    return st;
}

void ob_saturation_free(ob_saturation *st)
{
    if (!st)
        return;
    free(st->up);
    free(st->down);
    free(st->xh);
    free(st->wh);
    free(st->vp);
    free(st->fp);
    free(st->hx);
    free(st->hy);
    free(st->dry);
    free(st);
}

void ob_saturation_reset(ob_saturation *st)
{
    const size_t n = (size_t)st->nch;
    memset(st->xh, 0, sizeof(double) * n * 2 * (size_t)st->T);
    memset(st->wh, 0, sizeof(double) * n * 2 * (size_t)st->ndp);
    memset(st->vp, 0, sizeof(double) * n);
    memset(st->fp, 0, sizeof(double) * n * 2);  /* F(0) = 0 for every curve */
    memset(st->hx, 0, sizeof(double) * n);
    memset(st->hy, 0, sizeof(double) * n);
    memset(st->dry, 0, sizeof(float) * n * (size_t)st->T);
    st->xpos = st->wpos = st->dpos = st->phase = 0;
    ob_sramp_snap(&st->drive);
    ob_sramp_snap(&st->mix);
    ob_sramp_snap(&st->trim);
    st->cur = st->old = st->want;
    ob_sramp_init(&st->xf, 1.0);
    st->fresh = 1;
}

/* ---- parameters ------------------------------------------------------------- */

/* A new target: at once before the first process call, else ramped. */
static void set_ramp(ob_saturation *st, ob_sramp *r, double v)
{
    if (st->fresh)
        ob_sramp_init(r, v);
    else
        ob_sramp_set(r, v, st->ramp);
}

int ob_saturation_set_drive_db(ob_saturation *st, double drive_db)
{
    if (!in_range(drive_db, -12.0, 36.0))
        return OB_ERR_ARG;
    st->drive_db = drive_db;
    set_ramp(st, &st->drive, ob_db_to_lin(drive_db));
    return OB_OK;
}

int ob_saturation_set_curve(ob_saturation *st, int curve)
{
    if (curve < OB_SAT_TAPE || curve > OB_SAT_HARD_CLIP)
        return OB_ERR_ARG;
    st->want = curve;
    if (st->fresh) {
        st->cur = st->old = curve;
        ob_sramp_init(&st->xf, 1.0);
    }
    return OB_OK;
}

int ob_saturation_set_mix_pct(ob_saturation *st, double mix_pct)
{
    if (!in_range(mix_pct, 0.0, 100.0))
        return OB_ERR_ARG;
    st->mix_pct = mix_pct;
    set_ramp(st, &st->mix, mix_pct * 0.01);
    return OB_OK;
}

int ob_saturation_set_output_db(ob_saturation *st, double output_db)
{
    if (!in_range(output_db, -24.0, 24.0))
        return OB_ERR_ARG;
    st->output_db = output_db;
    set_ramp(st, &st->trim, ob_db_to_lin(output_db));
    return OB_OK;
}

int ob_saturation_set(ob_saturation *st, int param, int index, double value)
{
    (void)index;
    switch (param) {
    case OB_SAT_PARAM_DRIVE_DB: return ob_saturation_set_drive_db(st, value);
    case OB_SAT_PARAM_CURVE:
        if (!(value == floor(value)))
            return OB_ERR_ARG;
        return ob_saturation_set_curve(st, (int)value);
    case OB_SAT_PARAM_MIX_PCT: return ob_saturation_set_mix_pct(st, value);
    case OB_SAT_PARAM_OUTPUT_DB: return ob_saturation_set_output_db(st, value);
    default: return OB_ERR_ARG;
    }
}

int ob_saturation_latency(const ob_saturation *st) { return st->T; }
int ob_saturation_factor(const ob_saturation *st) { return st->L; }

/* ---- processing ----------------------------------------------------------------- */

/* sum a[i] b[i], i < n (a multiple of 16), in a fixed order: four vector
 * accumulators, so that four chains of additions overlap */
static inline __attribute__((always_inline)) double dot(const double *restrict a,
                                                        const double *restrict b, int n)
{
    v4d s0 = {0.0, 0.0, 0.0, 0.0}, s1 = s0, s2 = s0, s3 = s0;
    for (int i = 0; i < n; i += 16) {
        s0 += *(const v4du *)(a + i) * *(const v4du *)(b + i);
        s1 += *(const v4du *)(a + i + 4) * *(const v4du *)(b + i + 4);
        s2 += *(const v4du *)(a + i + 8) * *(const v4du *)(b + i + 8);
        s3 += *(const v4du *)(a + i + 12) * *(const v4du *)(b + i + 12);
    }
    const v4d s = (s0 + s1) + (s2 + s3);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static inline double flush_state(double v) { return isfinite(v) ? ob_flush(v) : 0.0; }

/*
 * Per base sample: the ramps advance; a waiting curve starts its crossfade
 * (its F of the last interpolated sample is taken then); then each channel:
 * u into the interpolator, L samples v through the curve (ADAA), the first
 * of them (m = n L) completing the decimator's output, the DC blocker, mix.
 */
CLONES
void ob_saturation_process(ob_saturation *st, float **ch, int nch, int frames)
{
    if (nch > st->nch)
        nch = st->nch;
    if (frames <= 0)
        return;
    st->fresh = 0;
    const int L = st->L, T = st->T, ndp = st->ndp, flen = st->fade_len;
    const double b0 = st->hp_b0, a1 = st->hp_a1;
    double k[8];   /* the crossfade's weight at each of the L samples */
    for (int i = 0; i < frames; i++) {
        const double g = ob_sramp_next(&st->drive), mix = ob_sramp_next(&st->mix);
        const double trim = ob_sramp_next(&st->trim);
        int start = 0;
        if (st->xf.left == 0 && st->want != st->cur) {
            st->old = st->cur;
            st->cur = st->want;
            ob_sramp_init(&st->xf, 0.0);
            ob_sramp_set(&st->xf, 1.0, flen);
            start = 1;
        }
        const int fading = st->xf.left > 0, cur = st->cur, old = st->old;
        if (fading)
            for (int p = 0; p < L; p++)
                k[p] = ob_sramp_next(&st->xf);
        st->xpos = st->xpos == 0 ? T - 1 : st->xpos - 1;
        st->dpos = st->dpos + 1 == T ? 0 : st->dpos + 1;
        const int xpos = st->xpos, dpos = st->dpos, wpos = st->wpos;
        for (int c = 0; c < nch; c++) {
            double *xh = st->xh + (size_t)c * 2 * T, *wh = st->wh + (size_t)c * 2 * ndp;
            double *fp = st->fp + 2 * c;
            const float x = ch[c][i];
            const double u = g * (double)x;
            xh[xpos] = u;
            xh[xpos + T] = u;
            if (start) {  /* the new curve takes slot 0, the old one slot 1 */
                fp[1] = fp[0];
                fp[0] = curve_F(st, cur, st->vp[c]);
            }
            double vprev = st->vp[c], z = 0.0;
            for (int p = 0; p < L; p++) {
                const double v = dot(st->up + (size_t)p * T, xh + xpos, T);
                const double Fv = curve_F(st, cur, v);
                double w = adaa(st, cur, v, vprev, Fv, fp[0]);
                fp[0] = Fv;
                if (fading) {
                    const double Fo = curve_F(st, old, v);
                    const double wo = adaa(st, old, v, vprev, Fo, fp[1]);
                    fp[1] = Fo;
                    w = k[p] * w + (1.0 - k[p]) * wo;
                }
                vprev = v;
                /* w[n L + p] into the ring, newest first */
                int pos = wpos - 1 - p;
                pos = pos < 0 ? pos + ndp : pos;
                wh[pos] = w;
                wh[pos + ndp] = w;
                if (p == 0)  /* w[n L] completes the decimator's output at n L */
                    z = dot(st->down, wh + pos, ndp);
            }
            st->vp[c] = vprev;
            /* DC blocker */
            const double y = b0 * (z - st->hx[c]) - a1 * st->hy[c];
            st->hx[c] = z;
            st->hy[c] = y;
            /* dry path, delayed by T */
            float *dl = st->dry + (size_t)c * T;
            const float d = dl[dpos];
            dl[dpos] = x;
            ch[c][i] = (float)ob_flush(trim * (mix * y + (1.0 - mix) * (double)d));
        }
        st->wpos = wpos - L < 0 ? wpos - L + ndp : wpos - L;
        if (++st->phase == CHUNK) {
            st->phase = 0;
            for (int c = 0; c < st->nch; c++) {
                st->hy[c] = flush_state(st->hy[c]);
                st->hx[c] = flush_state(st->hx[c]);
            }
        }
    }
}

/* ---- the engine's verbs ----------------------------------------------------- */

static void k_process(void *st, float **ch, int nch, int frames)
{
    ob_saturation_process(st, ch, nch, frames);
}
static int k_latency(const void *st) { return ob_saturation_latency(st); }
static int k_set(void *st, int param, int index, double value)
{
    return ob_saturation_set(st, param, index, value);
}
static void k_reset(void *st) { ob_saturation_reset(st); }

static const ob_kernel_ops OPS = {k_process, k_latency, k_set, k_reset, NULL, NULL};

const ob_kernel_ops *ob_saturation_ops(void) { return &OPS; }
