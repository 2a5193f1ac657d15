/* multiband.c -- multiband compressor (see multiband.h). */
#include <stdlib.h>
#include <string.h>

#include "outboard.h"
#include "ob_internal.h"
#include "crossover.h"

enum { NB_MAX = OB_MULTIBAND_MAX_BANDS, CH = OB_XOVER_CHUNK };

enum {
    GLIDE_STEP = 16,   /* frames between two glide steps (absolute grid) */
    NG = 5             /* glided compressor parameters, see GLIDED */
};

/* The band compressors' continuous parameters that glide (see multiband.h). */
static const int GLIDED[NG] = {OB_MULTIBAND_THRESHOLD_DB, OB_MULTIBAND_RATIO,
                               OB_MULTIBAND_KNEE_DB, OB_MULTIBAND_MAKEUP_DB,
                               OB_MULTIBAND_STEREO_LINK};

/* A glide: from `from` to `to` along a raised cosine over len frames, stepped
 * at every GLIDE_STEP grid point (pos: frames done).  The ratio glides as
 * the slope 1 - 1/R (the gain computer's measure; 1 for R = 100). */
typedef struct {
    double from, to, cur;
    int pos, on;
} glide;

/*
 * State (glossary)
 *   x         the crossover: band b, channel c of the current piece in
 *             band[b * nch + c] (double, CH frames)
 *   comp[b]   band b's compressor; it works in place on fb[b * nch + c]
 *             (float copies of the bands)
 *   gl[b][j]  glide of band b's parameter GLIDED[j] (the value handed to
 *             the compressor's setter at each step); n_gliding: how many run
 *   lvl[b]    solo/mute level 0..1, ramped;  wet[b]  1 compressed, 0 bypassed
 *   solo, mute, byp   the switches as set (per band, 0/1)
 *   phase     absolute frames since new/reset, mod CH (the crossover's grid)
 *   fresh     nothing processed since new/reset: setters apply at once
 */
struct ob_multiband {
    double fs;
    int nch, nb, ramp_len, glide_len, phase, fresh, n_gliding;
    ob_xover *x;
    ob_compressor *comp[NB_MAX];
    glide gl[NB_MAX][NG];
    ob_sramp lvl[NB_MAX], wet[NB_MAX];
    int solo[NB_MAX], mute[NB_MAX], byp[NB_MAX];
    double *in;        /* nch x CH: the input piece, double */
    double *band;      /* nb x nch x CH */
    float *fb;         /* nb x nch x CH */
    double *inp[OB_MAX_CHANNELS];
    double *bandp[NB_MAX * OB_MAX_CHANNELS];
    float *fbp[NB_MAX][OB_MAX_CHANNELS];
};

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

static double slope_of(double ratio) { return ratio >= 100.0 ? 1.0 : 1.0 - 1.0 / ratio; }

/* A glided value handed to band b's compressor. */
static void glide_apply(ob_multiband *st, int b, int j, double v)
{
    if (GLIDED[j] == OB_MULTIBAND_RATIO)
        v = v >= 1.0 ? 100.0 : 1.0 / (1.0 - v);
    set_comp(st->comp[b], GLIDED[j], v);
}

/* A glide ends: its target handed to the compressor. */
static void glide_end(ob_multiband *st, int b, int j)
{
    glide *g = &st->gl[b][j];
    g->cur = g->from = g->to;
    if (g->on) {
        g->on = 0;
        st->n_gliding--;
    }
    glide_apply(st, b, j, g->to);
}

/* One step of every running glide (at a GLIDE_STEP grid point). */
static void glide_step(ob_multiband *st)
{
    for (int b = 0; b < st->nb; b++)
        for (int j = 0; j < NG; j++) {
            glide *g = &st->gl[b][j];
            if (!g->on)
                continue;
            g->pos += GLIDE_STEP;
            if (g->pos >= st->glide_len) {
                glide_end(st, b, j);
                continue;
            }
            const double u = 0.5 - 0.5 * cos(M_PI * (double)g->pos / (double)st->glide_len);
            g->cur = g->from + (g->to - g->from) * u;
            glide_apply(st, b, j, g->cur);
        }
}

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
    st->glide_len = st->ramp_len;
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
        ob_sramp_init(&st->lvl[b], 1.0);
        ob_sramp_init(&st->wet[b], 1.0);
    }
    st->fresh = 1;
    /* the compressors' defaults, as the glides' starting points */
    const double defaults[NG] = {-18.0, 0.5 /* ratio 2 */, 6.0, 0.0, 1.0};
    for (int b = 0; b < bands; b++)
        for (int j = 0; j < NG; j++) {
            st->gl[b][j] = (glide){defaults[j], defaults[j], defaults[j], 0, 0};
            glide_apply(st, b, j, defaults[j]);
        }
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

void ob_multiband_reset(ob_multiband *st)
{
    if (!st)
        return;
    ob_xover_reset(st->x);
    for (int b = 0; b < st->nb; b++) {
        for (int j = 0; j < NG; j++)
            glide_end(st, b, j);
        ob_compressor_reset(st->comp[b]);
        ob_sramp_snap(&st->lvl[b]);
        ob_sramp_snap(&st->wet[b]);
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
        const double w = st->byp[b] ? 0.0 : 1.0;
        if (l != st->lvl[b].to)
            ob_sramp_set(&st->lvl[b], l, st->ramp_len);
        if (w != st->wet[b].to)
            ob_sramp_set(&st->wet[b], w, st->ramp_len);
        if (st->fresh) {
            ob_sramp_snap(&st->lvl[b]);
            ob_sramp_snap(&st->wet[b]);
        }
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
    int j = 0;
    while (j < NG && GLIDED[j] != param)
        j++;
    if (j == NG) {   /* set at once (the compressor crossfades or applies it) */
        for (int b = lo; b < hi; b++) {
            const int s = set_comp(st->comp[b], param, v);
            if (s != OB_OK)
                return s;   /* the same value for every band: the first refuses */
        }
        return OB_OK;
    }
    if (!(param == OB_MULTIBAND_THRESHOLD_DB ? v >= -60.0 && v <= 0.0
          : param == OB_MULTIBAND_RATIO ? v >= 1.0 && v <= 100.0
          : param == OB_MULTIBAND_KNEE_DB ? v >= 0.0 && v <= 24.0
          : param == OB_MULTIBAND_MAKEUP_DB ? v >= -24.0 && v <= 24.0
          : v >= 0.0 && v <= 1.0))
        return OB_ERR_ARG;
    for (int b = lo; b < hi; b++) {
        glide *g = &st->gl[b][j];
        g->to = param == OB_MULTIBAND_RATIO ? slope_of(v) : v;
        if (st->fresh || g->to == g->cur) {
            glide_end(st, b, j);
            continue;
        }
        g->from = g->cur;
        g->pos = 0;
        if (!g->on) {
            g->on = 1;
            st->n_gliding++;
        }
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
    ob_xover_split(st->x, (const double *const *)st->inp, st->phase, n, st->bandp);
    for (int b = 0; b < nb; b++) {
        for (int c = 0; c < nch; c++) {
            const double *s = st->bandp[b * nch + c];
            float *d = st->fbp[b][c];
            for (int i = 0; i < n; i++)
                d[i] = (float)ob_flush(s[i]);   /* never a float32 denormal */
        }
        ob_compressor_process(st->comp[b], st->fbp[b], nch, n);
    }
    int steady = 1;
    for (int b = 0; b < nb; b++)
        steady &= st->lvl[b].left == 0 && st->wet[b].left == 0;
    if (steady) {   /* no ramp running: constant weights, silent bands skipped */
        double gw[NB_MAX], gd[NB_MAX];
        for (int b = 0; b < nb; b++) {
            gw[b] = st->lvl[b].cur * st->wet[b].cur;
            gd[b] = st->lvl[b].cur * (1.0 - st->wet[b].cur);
        }
        for (int c = 0; c < nch; c++) {
            double acc[CH] = {0};
            for (int b = 0; b < nb; b++) {
                const float *w = st->fbp[b][c];
                const double *d = st->bandp[b * nch + c];
                if (gw[b] == 1.0)
                    for (int i = 0; i < n; i++)
                        acc[i] += (double)w[i];
                else if (gw[b] != 0.0)
                    for (int i = 0; i < n; i++)
                        acc[i] += gw[b] * (double)w[i];
                if (gd[b] == 1.0)
                    for (int i = 0; i < n; i++)
                        acc[i] += d[i];
                else if (gd[b] != 0.0)
                    for (int i = 0; i < n; i++)
                        acc[i] += gd[b] * d[i];
            }
            float *y = ch[c] + off;
            for (int i = 0; i < n; i++)
                y[i] = (float)ob_flush(acc[i]);
        }
        return;
    }
    /* ramps: per band and sample, the weights of the compressed and the dry band */
    double gw[NB_MAX][CH], gd[NB_MAX][CH];
    for (int b = 0; b < nb; b++)
        for (int i = 0; i < n; i++) {
            const double l = ob_sramp_next(&st->lvl[b]), w = ob_sramp_next(&st->wet[b]);
            gw[b][i] = l * w;
            gd[b][i] = l * (1.0 - w);
        }
    for (int c = 0; c < nch; c++) {
        float *y = ch[c] + off;
        for (int i = 0; i < n; i++) {
            double s = 0.0;
            for (int b = 0; b < nb; b++)
                s += gw[b][i] * (double)st->fbp[b][c][i] + gd[b][i] * st->bandp[b * nch + c][i];
            y[i] = (float)ob_flush(s);
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
        /* pieces end at the crossover's grid, and at the glides' while they run */
        const int grid = st->n_gliding ? GLIDE_STEP - st->phase % GLIDE_STEP : CH - st->phase;
        const int n = frames - off < grid ? frames - off : grid;
        run_piece(st, ch, off, n);
        off += n;
        st->phase += n;
        if (st->n_gliding && st->phase % GLIDE_STEP == 0)
            glide_step(st);
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
