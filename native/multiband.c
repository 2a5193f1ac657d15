/* multiband.c -- multiband compressor (see multiband.h). */
#include <stdlib.h>
#include <string.h>

#include "outboard.h"
#include "ob_internal.h"
#include "crossover.h"

enum { NB_MAX = OB_MULTIBAND_MAX_BANDS, CH = OB_XOVER_CHUNK };

/* A linear ramp toward a target, per sample (left: samples to go). */
typedef struct {
    double cur, target, step;
    int left;
} lramp;

static void lramp_set(lramp *r, double target, int len)
{
    r->target = target;
    if (target == r->cur) {
        r->left = 0;
        return;
    }
    r->left = len;
    r->step = (target - r->cur) / (double)len;
}

static double lramp_next(lramp *r)
{
    if (r->left > 0)
        r->cur = --r->left ? r->cur + r->step : r->target;
    return r->cur;
}

/*
 * State (glossary)
 *   x         the crossover: band b, channel c of the current piece in
 *             band[b * nch + c] (double, CH frames)
 *   comp[b]   band b's compressor; it works in place on fb[b * nch + c]
 *             (float copies of the bands)
 *   lvl[b]    solo/mute level 0..1, ramped;  wet[b]  1 compressed, 0 bypassed
 *   solo, mute, byp   the switches as set (per band, 0/1)
 *   phase     absolute frames since new/reset, mod CH (the crossover's grid)
 *   fresh     nothing processed since new/reset: switches apply at once
 */
struct ob_multiband {
    double fs;
    int nch, nb, ramp_len, phase, fresh;
    ob_xover *x;
    ob_compressor *comp[NB_MAX];
    lramp lvl[NB_MAX], wet[NB_MAX];
    int solo[NB_MAX], mute[NB_MAX], byp[NB_MAX];
    double *in;        /* nch x CH: the input piece, double */
    double *band;      /* nb x nch x CH */
    float *fb;         /* nb x nch x CH */
    double *inp[OB_MAX_CHANNELS];
    double *bandp[NB_MAX * OB_MAX_CHANNELS];
    float *fbp[NB_MAX][OB_MAX_CHANNELS];
};

ob_multiband *ob_multiband_new(double fs, int nch, int order, int bands,
                               const double *crossovers_hz)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS || bands < 2 ||
        bands > NB_MAX || !crossovers_hz)
        return NULL;
    ob_multiband *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->fs = fs;
    st->nch = nch;
    st->nb = bands;
    st->ramp_len = (int)lround(OB_MULTIBAND_RAMP_MS * 1e-3 * fs);
    st->x = ob_xover_new(fs, nch, order, bands, crossovers_hz);
    const size_t per = (size_t)nch * CH;
    st->in = calloc(per, sizeof(double));
    st->band = calloc(per * (size_t)bands, sizeof(double));
    st->fb = calloc(per * (size_t)bands, sizeof(float));
    int ok = st->x && st->in && st->band && st->fb;
    for (int b = 0; b < bands && ok; b++)
        ok = (st->comp[b] = ob_compressor_new(fs, nch)) != NULL;
    if (!ok) {
        ob_multiband_free(st);
        return NULL;
    }
    for (int c = 0; c < nch; c++)
        st->inp[c] = st->in + (size_t)c * CH;
    for (int b = 0; b < bands; b++)
        for (int c = 0; c < nch; c++) {
            st->bandp[b * nch + c] = st->band + ((size_t)b * (size_t)nch + (size_t)c) * CH;
            st->fbp[b][c] = st->fb + ((size_t)b * (size_t)nch + (size_t)c) * CH;
        }
    for (int b = 0; b < bands; b++) {
        st->lvl[b].cur = st->lvl[b].target = 1.0;
        st->wet[b].cur = st->wet[b].target = 1.0;
    }
    st->fresh = 1;
    return st;
}

void ob_multiband_free(ob_multiband *st)
{
    if (!st)
        return;
    ob_xover_free(st->x);
    for (int b = 0; b < NB_MAX; b++)
        ob_compressor_free(st->comp[b]);
    free(st->in);
    free(st->band);
    free(st->fb);
    free(st);
}

static void snap(lramp *r)
{
    r->cur = r->target;
    r->left = 0;
}

void ob_multiband_reset(ob_multiband *st)
{
    if (!st)
        return;
    ob_xover_reset(st->x);
    for (int b = 0; b < st->nb; b++) {
        ob_compressor_reset(st->comp[b]);
        snap(&st->lvl[b]);
        snap(&st->wet[b]);
    }
    st->phase = 0;
    st->fresh = 1;
}

/* Levels from the solo and mute switches. */
static void update_levels(ob_multiband *st)
{
    int any_solo = 0;
    for (int b = 0; b < st->nb; b++)
        any_solo |= st->solo[b];
    for (int b = 0; b < st->nb; b++) {
        const double l = st->mute[b] || (any_solo && !st->solo[b]) ? 0.0 : 1.0;
        lramp_set(&st->lvl[b], l, st->ramp_len);
        lramp_set(&st->wet[b], st->byp[b] ? 0.0 : 1.0, st->ramp_len);
        if (st->fresh) {
            snap(&st->lvl[b]);
            snap(&st->wet[b]);
        }
    }
}

static int set_comp(ob_compressor *c, int param, double v)
{
    switch (param) {
    case OB_MULTIBAND_THRESHOLD_DB: return ob_compressor_set_threshold_db(c, v);
    case OB_MULTIBAND_RATIO: return ob_compressor_set_ratio(c, v);
    case OB_MULTIBAND_KNEE_DB: return ob_compressor_set_knee_db(c, v);
    case OB_MULTIBAND_ATTACK_MS: return ob_compressor_set_attack_ms(c, v);
    case OB_MULTIBAND_RELEASE_MS: return ob_compressor_set_release_ms(c, v);
    case OB_MULTIBAND_MAKEUP_DB: return ob_compressor_set_makeup_db(c, v);
    case OB_MULTIBAND_DETECTOR: return ob_compressor_set_detector(c, (int)v);
    case OB_MULTIBAND_RMS_WINDOW_MS: return ob_compressor_set_rms_window_ms(c, v);
    case OB_MULTIBAND_STEREO_LINK: return ob_compressor_set_stereo_link(c, v);
    case OB_MULTIBAND_MODE: return ob_compressor_set_mode(c, (int)v);
    case OB_MULTIBAND_SIDECHAIN_HPF_HZ: return ob_compressor_set_sidechain_hpf_hz(c, v);
    default: return OB_ERR_ARG;
    }
}

int ob_multiband_set(ob_multiband *st, int param, int band, double v)
{
    if (!st)
        return OB_ERR_ARG;
    if (param == OB_MULTIBAND_CROSSOVER_HZ)
        return ob_xover_set_freq(st->x, band, v);
    if (band < -1 || band >= st->nb)
        return OB_ERR_ARG;
    const int lo = band < 0 ? 0 : band, hi = band < 0 ? st->nb : band + 1;
    if (param == OB_MULTIBAND_SOLO || param == OB_MULTIBAND_BYPASS ||
        param == OB_MULTIBAND_MUTE) {
        if (v != 0.0 && v != 1.0)
            return OB_ERR_ARG;
        for (int b = lo; b < hi; b++) {
            int *sw = param == OB_MULTIBAND_SOLO ? st->solo
                      : param == OB_MULTIBAND_BYPASS ? st->byp : st->mute;
            sw[b] = v != 0.0;
        }
        update_levels(st);
        return OB_OK;
    }
    if (param < OB_MULTIBAND_THRESHOLD_DB || param > OB_MULTIBAND_SIDECHAIN_HPF_HZ)
        return OB_ERR_ARG;
    /* all bands take the value, or none: try the first, the rest agree */
    for (int b = lo; b < hi; b++) {
        const int s = set_comp(st->comp[b], param, v);
        if (s != OB_OK)
            return s;
    }
    return OB_OK;
}

/* One piece of n frames (not crossing the grid) at offset off of ch. */
static void run_piece(ob_multiband *st, float **ch, int off, int n)
{
    const int nch = st->nch, nb = st->nb;
    for (int c = 0; c < nch; c++)
        for (int i = 0; i < n; i++)
            st->inp[c][i] = (double)ch[c][off + i];
    ob_xover_split(st->x, (const double *const *)st->inp, n, st->bandp);
    for (int b = 0; b < nb; b++) {
        for (int c = 0; c < nch; c++) {
            const double *s = st->bandp[b * nch + c];
            float *d = st->fbp[b][c];
            for (int i = 0; i < n; i++)
                d[i] = (float)s[i];
        }
        ob_compressor_process(st->comp[b], st->fbp[b], nch, n);
    }
    int steady = 1;
    for (int b = 0; b < nb; b++)
        steady &= st->lvl[b].left == 0 && st->wet[b].left == 0 && st->lvl[b].cur == 1.0 &&
                  st->wet[b].cur == 1.0;
    if (steady) {
        for (int c = 0; c < nch; c++) {
            float *y = ch[c] + off;
            for (int i = 0; i < n; i++) {
                double s = 0.0;
                for (int b = 0; b < nb; b++)
                    s += (double)st->fbp[b][c][i];
                y[i] = (float)s;
            }
        }
        return;
    }
    /* ramps: per band and sample, the weights of the compressed and the dry band */
    double gw[NB_MAX][CH], gd[NB_MAX][CH];
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < n; i++) {
            const double l = lramp_next(&st->lvl[b]), w = lramp_next(&st->wet[b]);
            gw[b][i] = l * w;
            gd[b][i] = l * (1.0 - w);
        }
    for (int c = 0; c < nch; c++) {
        float *y = ch[c] + off;
        for (int i = 0; i < n; i++) {
            double s = 0.0;
            for (int b = 0; b < nb; b++)
                s += gw[b][i] * (double)st->fbp[b][c][i] + gd[b][i] * st->bandp[b * nch + c][i];
            y[i] = (float)s;
        }
    }
}

int ob_multiband_process(ob_multiband *st, float **ch, int nch, int frames)
{
    if (!st || !ch || nch != st->nch || frames < 0)
        return OB_ERR_ARG;
    if (frames > 0)
        st->fresh = 0;
    for (int off = 0; off < frames;) {
        const int n = frames - off < CH - st->phase ? frames - off : CH - st->phase;
        run_piece(st, ch, off, n);
        off += n;
        st->phase += n;
        if (st->phase == CH) {
            ob_xover_grid(st->x);
            st->phase = 0;
        }
    }
    return OB_OK;
}

int ob_multiband_latency(const ob_multiband *st) { return st ? 0 : -1; }
int ob_multiband_bands(const ob_multiband *st) { return st ? st->nb : 0; }

double ob_multiband_take_gain_reduction_db(ob_multiband *st, int band)
{
    if (!st || band < 0 || band >= st->nb)
        return -1.0;
    return ob_compressor_take_max_gain_reduction_db(st->comp[band]);
}

/* ---- the engine's verbs -------------------------------------------------------- */

static void k_process(void *s, float **ch, int nch, int frames)
{
    ob_multiband_process(s, ch, nch, frames);
}
static int k_latency(const void *s) { return ob_multiband_latency(s); }
static int k_set(void *s, int p, int i, double v) { return ob_multiband_set(s, p, i, v); }
static void k_reset(void *s) { ob_multiband_reset(s); }
static int k_meters(const void *s) { return ob_multiband_bands(s); }
static double k_take_gr(void *s, int k) { return ob_multiband_take_gain_reduction_db(s, k); }

static const ob_kernel_ops OPS = {k_process, k_latency, k_set, k_reset, k_meters, k_take_gr};

const ob_kernel_ops *ob_multiband_ops(void) { return &OPS; }
