/* dynamic_eq.c -- dynamic equalizer (see dynamic_eq.h). */
#include "outboard.h"
#include "ob_internal.h"

#include <stdlib.h>
#include <string.h>

#define SNAP 1e-9          /* the smoothed gain change snaps this close to its target */
#define CHUNK 128          /* flush grid, samples from new/reset */
#define LEVEL_FLOOR 1e-30  /* mean square floor: -300 dB */

/*
 * State glossary, per band (each ob_sramp is a raised-cosine ramp of
 * OB_DEQ_RAMP_MS toward the value set; .cur is the value in use):
 *   type, type_t     filter type in use / asked for
 *   k                type fade, 1 = the band's gain, 0 = an identity filter;
 *                    falls to 0 while type_t != type, then rises back
 *   lf, lq           log2 of the frequency (Hz) and of Q
 *   gain, thr, ratio, range   static gain dB, threshold dB, ratio, range dB
 *   mw               mode weight, 0 above .. 1 below
 *   a_att, a_rel     attack / release poles; a_rms mean-square pole
 *   cs, alpha        cos w0, sin w0 / (2 Q) of the current frequency and Q
 *   bp[3]            band pass b0 (= -b2), a1, a2, normalised (b1 = 0)
 *   c[5]             the filter's b0 b1 b2 a1 a2 for gain g_at (dirty: redo)
 *   r                smoothed gain change, dB >= 0; r_max since the last take
 *   det[c][4], flt[c][4]   direct form I histories x1 x2 y1 y2 per channel
 *   ms[c]            mean square of the band-passed input per channel
 *   ramping          some one-pole or fade has not reached its target
 */
typedef struct {
    int type, type_t, ramping, dirty;
    ob_sramp k, mw, lf, lq, gain, thr, ratio, range;
    double attack_ms, release_ms, a_att, a_rel, a_rms;
    double cs, alpha, bp[3], c[5], g_at;
    double r, r_max;
    double *det, *flt, *ms;
} band;

struct ob_dynamic_eq {
    double fs;
    int nch, nb, fresh, phase, ramp;
    band b[OB_DEQ_MAX_BANDS];
    double *mem;
};

static int in_range(double x, double lo, double hi) { return x >= lo && x <= hi; }

static inline double flush_state(double v) { return isfinite(v) ? ob_flush(v) : 0.0; }

/* ---- design -------------------------------------------------------------------- */

/* cos w0, alpha, the band pass and the mean-square pole for the current
 * frequency and Q. */
static void design_shape(const ob_dynamic_eq *st, band *b)
{
    const double f = exp2(b->lf.cur), q = exp2(b->lq.cur);
    const double w0 = 2.0 * M_PI * f / st->fs;
    b->cs = cos(w0);
    b->alpha = sin(w0) / (2.0 * q);
    const double a0 = 1.0 + b->alpha;
    b->bp[0] = b->alpha / a0;
    b->bp[1] = -2.0 * b->cs / a0;
    b->bp[2] = (1.0 - b->alpha) / a0;
    double tau_ms = 2000.0 / f;
    if (tau_ms < OB_DEQ_RMS_MS)
        tau_ms = OB_DEQ_RMS_MS;
    b->a_rms = ob_tau_coeff(tau_ms, st->fs);
    b->dirty = 1;
}

/* The cookbook peak / shelf of gain g dB at the current shape, normalised. */
static void design_filter(band *b, double g)
{
    const double A = pow(10.0, g / 40.0), cs = b->cs, al = b->alpha;
    double b0, b1, b2, a0, a1, a2;
    if (b->type == OB_DEQ_PEAK) {
        b0 = 1.0 + al * A;
        b1 = -2.0 * cs;
        b2 = 1.0 - al * A;
        a0 = 1.0 + al / A;
        a1 = -2.0 * cs;
        a2 = 1.0 - al / A;
    } else {
        const double sa = 2.0 * sqrt(A) * al, ap = A + 1.0, am = A - 1.0;
        if (b->type == OB_DEQ_LOWSHELF) {
            b0 = A * (ap - am * cs + sa);
            b1 = 2.0 * A * (am - ap * cs);
            b2 = A * (ap - am * cs - sa);
            a0 = ap + am * cs + sa;
            a1 = -2.0 * (am + ap * cs);
            a2 = ap + am * cs - sa;
        } else {
            b0 = A * (ap + am * cs + sa);
            b1 = -2.0 * A * (am + ap * cs);
            b2 = A * (ap + am * cs - sa);
            a0 = ap - am * cs + sa;
            a1 = 2.0 * (am - ap * cs);
            a2 = ap - am * cs - sa;
        }
    }
    b->c[0] = b0 / a0;
    b->c[1] = b1 / a0;
    b->c[2] = b2 / a0;
    b->c[3] = a1 / a0;
    b->c[4] = a2 / a0;
    b->g_at = g;
    b->dirty = 0;
}

/* ---- lifetime -------------------------------------------------------------------- */

static void snap_band(band *b)
{
    b->type = b->type_t;
    ob_sramp_init(&b->k, 1.0);
    ob_sramp_snap(&b->mw);
    ob_sramp_snap(&b->lf);
    ob_sramp_snap(&b->lq);
    ob_sramp_snap(&b->gain);
    ob_sramp_snap(&b->thr);
    ob_sramp_snap(&b->ratio);
    ob_sramp_snap(&b->range);
    b->ramping = 0;
}

ob_dynamic_eq *ob_dynamic_eq_new(double fs, int nch, int bands)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS || bands < 1 ||
        bands > OB_DEQ_MAX_BANDS)
        return NULL;
    ob_dynamic_eq *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->fs = fs;
    st->nch = nch;
    st->nb = bands;
    const size_t per = (size_t)nch * 9;   /* det 4, flt 4, ms 1 per channel */
    st->mem = calloc(per * (size_t)bands, sizeof(double));
    if (!st->mem) {
        free(st);
        return NULL;
    }
    st->ramp = (int)lround(OB_DEQ_RAMP_MS * 1e-3 * fs);
    for (int i = 0; i < bands; i++) {
        band *b = &st->b[i];
        double *m = st->mem + per * (size_t)i;
        b->det = m;
        b->flt = m + 4 * (size_t)nch;
        b->ms = m + 8 * (size_t)nch;
        b->type_t = OB_DEQ_PEAK;
        ob_sramp_init(&b->mw, 0.0);
        ob_sramp_init(&b->lf, log2(1000.0));
        ob_sramp_init(&b->lq, log2(0.7071));
        ob_sramp_init(&b->gain, 0.0);
        ob_sramp_init(&b->thr, -20.0);
        ob_sramp_init(&b->ratio, 2.0);
        ob_sramp_init(&b->range, 12.0);
        b->attack_ms = 5.0;
        b->release_ms = 100.0;
        b->a_att = ob_tau_coeff(b->attack_ms, fs);
        b->a_rel = ob_tau_coeff(b->release_ms, fs);
    }
    ob_dynamic_eq_reset(st);
    return st;
}

void ob_dynamic_eq_free(ob_dynamic_eq *st)
{
    if (!st)
        return;
    free(st->mem);
    free(st);
}

void ob_dynamic_eq_reset(ob_dynamic_eq *st)
{
    memset(st->mem, 0, sizeof(double) * (size_t)st->nch * 9 * (size_t)st->nb);
    for (int i = 0; i < st->nb; i++) {
        band *b = &st->b[i];
        snap_band(b);
        b->r = b->r_max = 0.0;
        design_shape(st, b);
        design_filter(b, b->gain.cur);
    }
    st->phase = 0;
    st->fresh = 1;
}

/* ---- parameters ------------------------------------------------------------------ */

static int set_one(ob_dynamic_eq *st, band *b, int param, double v)
{
    ob_sramp *r = NULL;
    switch (param) {
    case OB_DEQ_TYPE:
        if (!(v == OB_DEQ_PEAK || v == OB_DEQ_LOWSHELF || v == OB_DEQ_HIGHSHELF))
            return OB_ERR_ARG;
        b->type_t = (int)v;
        break;
    case OB_DEQ_FREQ_HZ:
        if (!in_range(v, 10.0, 0.45 * st->fs))
            return OB_ERR_ARG;
        r = &b->lf;
        v = log2(v);
        break;
    case OB_DEQ_Q:
        if (!in_range(v, 0.1, 10.0))
            return OB_ERR_ARG;
        r = &b->lq;
        v = log2(v);
        break;
    case OB_DEQ_GAIN_DB:
        if (!in_range(v, -24.0, 24.0))
            return OB_ERR_ARG;
        r = &b->gain;
        v = v;
        break;
    case OB_DEQ_THRESHOLD_DB:
        if (!in_range(v, -80.0, 0.0))
            return OB_ERR_ARG;
        r = &b->thr;
        v = v;
        break;
    case OB_DEQ_RATIO:
        if (!in_range(v, 1.0, 100.0))
            return OB_ERR_ARG;
        r = &b->ratio;
        v = v;
        break;
    case OB_DEQ_ATTACK_MS:
        if (!in_range(v, 0.1, 500.0))
            return OB_ERR_ARG;
        b->attack_ms = v;
        b->a_att = ob_tau_coeff(v, st->fs);
        return OB_OK;
    case OB_DEQ_RELEASE_MS:
        if (!in_range(v, 1.0, 5000.0))
            return OB_ERR_ARG;
        b->release_ms = v;
        b->a_rel = ob_tau_coeff(v, st->fs);
        return OB_OK;
    case OB_DEQ_RANGE_DB:
        if (!in_range(v, 0.0, 24.0))
            return OB_ERR_ARG;
        r = &b->range;
        v = v;
        break;
    case OB_DEQ_MODE:
        if (!(v == OB_DEQ_ABOVE || v == OB_DEQ_BELOW))
            return OB_ERR_ARG;
        r = &b->mw;
        break;
    default:
        return OB_ERR_ARG;
    }
    if (st->fresh) {   /* at once: nothing plays yet */
        if (r)
            ob_sramp_init(r, v);
        b->type = b->type_t;
        design_shape(st, b);
    } else {
        if (r)
            ob_sramp_set(r, v, st->ramp);
        b->ramping = 1;
    }
    return OB_OK;
}

int ob_dynamic_eq_set(ob_dynamic_eq *st, int param, int band_idx, double value)
{
    if (band_idx < -1 || band_idx >= st->nb)
        return OB_ERR_ARG;
    if (band_idx >= 0)
        return set_one(st, &st->b[band_idx], param, value);
    for (int i = 0; i < st->nb; i++)   /* every band: the first refusal refuses all */
        if (set_one(st, &st->b[i], param, value) != OB_OK)
            return OB_ERR_ARG;
    return OB_OK;
}

int ob_dynamic_eq_latency(const ob_dynamic_eq *st)
{
    (void)st;
    return 0;
}

int ob_dynamic_eq_bands(const ob_dynamic_eq *st) { return st->nb; }

double ob_dynamic_eq_gain_reduction_db(const ob_dynamic_eq *st, int band_idx)
{
    if (band_idx < 0 || band_idx >= st->nb)
        return -1.0;
    return st->b[band_idx].r;
}

double ob_dynamic_eq_take_gain_reduction_db(ob_dynamic_eq *st, int band_idx)
{
    if (band_idx < 0 || band_idx >= st->nb)
        return -1.0;
    band *b = &st->b[band_idx];
    const double m = b->r_max;
    b->r_max = b->r;
    return m;
}

/* ---- processing ------------------------------------------------------------------ */

/* One sample of a band's ramps; returns whether its shape (frequency, Q) moved. */
static int advance(ob_dynamic_eq *st, band *b)
{
    const int shape = b->lf.left > 0 || b->lq.left > 0;
    ob_sramp_next(&b->lf);
    ob_sramp_next(&b->lq);
    ob_sramp_next(&b->gain);
    ob_sramp_next(&b->thr);
    ob_sramp_next(&b->ratio);
    ob_sramp_next(&b->range);
    ob_sramp_next(&b->mw);
    /* a new type: fade the band to 0 dB (identity), switch, fade back */
    if (b->type != b->type_t) {
        if (b->k.to != 0.0)
            ob_sramp_set(&b->k, 0.0, st->ramp);
        if (b->k.left == 0) {
            b->type = b->type_t;
            b->dirty = 1;
            ob_sramp_set(&b->k, 1.0, st->ramp);
        }
    } else if (b->k.to != 1.0) {
        ob_sramp_set(&b->k, 1.0, st->ramp);
    }
    ob_sramp_next(&b->k);
    b->ramping = b->lf.left > 0 || b->lq.left > 0 || b->gain.left > 0 || b->thr.left > 0 ||
                 b->ratio.left > 0 || b->range.left > 0 || b->mw.left > 0 || b->k.left > 0 ||
                 b->type != b->type_t;
    return shape;
}

/* Per sample: every band's ramps and detector (on the kernel's input),
 * then its filter on the running signal, channel by channel. */
void ob_dynamic_eq_process(ob_dynamic_eq *st, float **ch, int nch, int frames)
{
    if (nch > st->nch)
        nch = st->nch;
    if (frames <= 0)
        return;
    st->fresh = 0;
    double xin[OB_MAX_CHANNELS], y[OB_MAX_CHANNELS];
    for (int i = 0; i < frames; i++) {
        for (int c = 0; c < nch; c++)
            xin[c] = y[c] = (double)ch[c][i];
        for (int k = 0; k < st->nb; k++) {
            band *b = &st->b[k];
            if (b->ramping && advance(st, b))
                design_shape(st, b);
            /* detector: band pass of the input, mean square, linked */
            const double g0 = b->bp[0], p1 = b->bp[1], p2 = b->bp[2], am = b->a_rms;
            double p = 0.0;
            for (int c = 0; c < nch; c++) {
                double *h = b->det + 4 * c;
                const double d = g0 * (xin[c] - h[1]) - p1 * h[2] - p2 * h[3];
                h[1] = h[0];
                h[0] = xin[c];
                h[3] = h[2];
                h[2] = d;
                const double m = am * b->ms[c] + (1.0 - am) * d * d;
                b->ms[c] = m;
                p = m > p ? m : p;
            }
            /* gain computer and ballistics */
            const double L = 10.0 * log10(p > LEVEL_FLOOR ? p : LEVEL_FLOOR);
            const double over = L - b->thr.cur, ratio = b->ratio.cur, mw = b->mw.cur;
            const double up = over > 0.0 ? over * (1.0 - 1.0 / ratio) : 0.0;
            const double dn = over < 0.0 ? -over * (ratio - 1.0) : 0.0;
            double rt = (1.0 - mw) * up + mw * dn;
            rt = rt < b->range.cur ? rt : b->range.cur;
            const double a = rt > b->r ? b->a_att : b->a_rel;
            double r = rt + (b->r - rt) * a;
            if (fabs(r - rt) < SNAP)
                r = rt;
            b->r = r;
            if (r > b->r_max)
                b->r_max = r;
            /* the filter */
            const double g = b->k.cur * (b->gain.cur - r);
            if (b->dirty || g != b->g_at)
                design_filter(b, g);
            const double c0 = b->c[0], c1 = b->c[1], c2 = b->c[2], c3 = b->c[3], c4 = b->c[4];
            for (int c = 0; c < nch; c++) {
                double *h = b->flt + 4 * c;
                const double x = y[c];
                const double v = (((c1 * h[0] + c2 * h[1]) - c4 * h[3]) - c3 * h[2]) + c0 * x;
                h[1] = h[0];
                h[0] = x;
                h[3] = h[2];
                h[2] = v;
                y[c] = v;
            }
        }
        for (int c = 0; c < nch; c++)
            ch[c][i] = (float)ob_flush(y[c]);
        if (++st->phase == CHUNK) {
            st->phase = 0;
            for (int k = 0; k < st->nb; k++) {
                band *b = &st->b[k];
                for (int j = 0; j < 9 * st->nch; j++)
                    b->det[j] = flush_state(b->det[j]);   /* det, flt, ms are contiguous */
                if (!isfinite(b->r)) {
                    b->r = 0.0;
                    b->dirty = 1;
                }
                if (!isfinite(b->r_max))
                    b->r_max = 0.0;
            }
        }
    }
}

/* ---- the engine's verbs ----------------------------------------------------------- */

static void k_process(void *st, float **ch, int nch, int frames)
{
    ob_dynamic_eq_process(st, ch, nch, frames);
}
static int k_latency(const void *st) { return ob_dynamic_eq_latency(st); }
static int k_set(void *st, int param, int index, double value)
{
    return ob_dynamic_eq_set(st, param, index, value);
}
static void k_reset(void *st) { ob_dynamic_eq_reset(st); }
static int k_meters(const void *st) { return ob_dynamic_eq_bands(st); }
static double k_take(void *st, int meter) { return ob_dynamic_eq_take_gain_reduction_db(st, meter); }

static const ob_kernel_ops OPS = {k_process, k_latency, k_set, k_reset, k_meters, k_take};

const ob_kernel_ops *ob_dynamic_eq_ops(void) { return &OPS; }
