/* imager.c -- stereo imager (see imager.h). */
#include <stdlib.h>
#include <string.h>

#include "outboard.h"
#include "ob_internal.h"
#include "crossover.h"

enum { NB_MAX = OB_IMAGER_MAX_BANDS, CH = OB_XOVER_CHUNK };

/*
 * State (glossary)
 *   xm        bass-mono crossover (LR4, 2 bands) on M and S; runs while
 *             mono.cur > 0 or ramping (xm_live), cleared when it starts
 *   mono      bass-mono weight: 0 off, 1 on (ramped crossfade)
 *   xb        band crossover on M and S (bands > 1)
 *   width[b]  band b's side gain, ramped
 *   ms[0], ms[1]   M and S of the current piece; bm, bb: the crossovers' bands
 *   phase     absolute frames since new/reset, mod CH (the crossovers' grid)
 *   fresh     nothing processed since new/reset: setters apply at once
 */
struct ob_imager {
    double fs;
    int nb, ramp_len, phase, fresh, xm_live;
    double mono_hz;            /* as set; 0 = off */
    ob_xover *xm, *xb;
    ob_sramp mono, width[NB_MAX];
    double ms[2][CH];
    double bm[2 * 2][CH];      /* mono split: band * 2 + (0: M, 1: S) */
    double bb[NB_MAX * 2][CH]; /* band split */
    double *msp[2], *bmp[4], *bbp[NB_MAX * 2];
};

ob_imager *ob_imager_new(double fs, int order, int bands, const double *crossovers_hz)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || bands < 1 || bands > NB_MAX ||
        (order != 2 && order != 4 && order != 8) || (bands > 1 && !crossovers_hz))
        return NULL;
    ob_imager *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->fs = fs;
    st->nb = bands;
    st->ramp_len = (int)lround(OB_IMAGER_RAMP_MS * 1e-3 * fs);
    const double f0 = 100.0;
    st->xm = ob_xover_new(fs, 2, 4, 2, &f0);
    if (bands > 1)
        st->xb = ob_xover_new(fs, 2, order, bands, crossovers_hz);
    if (!st->xm || (bands > 1 && !st->xb)) {
        ob_imager_free(st);
        return NULL;
    }
    for (int j = 0; j < 2; j++)
        st->msp[j] = st->ms[j];
    for (int j = 0; j < 4; j++)
        st->bmp[j] = st->bm[j];
    for (int j = 0; j < 2 * bands; j++)
        st->bbp[j] = st->bb[j];
    ob_sramp_init(&st->mono, 0.0);
    for (int b = 0; b < bands; b++)
        ob_sramp_init(&st->width[b], 1.0);
    st->fresh = 1;
    return st;
}

void ob_imager_free(ob_imager *st)
{
    if (!st)
        return;
    ob_xover_free(st->xm);
    ob_xover_free(st->xb);
    free(st);
}

void ob_imager_reset(ob_imager *st)
{
    if (!st)
        return;
    ob_xover_reset(st->xm);
    if (st->xb)
        ob_xover_reset(st->xb);
    ob_sramp_snap(&st->mono);
    for (int b = 0; b < st->nb; b++)
        ob_sramp_snap(&st->width[b]);
    st->xm_live = st->mono.cur > 0.0;
    st->phase = 0;
    st->fresh = 1;
}

int ob_imager_set(ob_imager *st, int param, int index, double v)
{
    if (!st)
        return OB_ERR_ARG;
    switch (param) {
    case OB_IMAGER_WIDTH: {
        if (index < -1 || index >= st->nb || !(v >= 0.0 && v <= 2.0))
            return OB_ERR_ARG;
        const int lo = index < 0 ? 0 : index, hi = index < 0 ? st->nb : index + 1;
        for (int b = lo; b < hi; b++) {
            ob_sramp_set(&st->width[b], v, st->ramp_len);
            if (st->fresh)
                ob_sramp_snap(&st->width[b]);
        }
        return OB_OK;
    }
    case OB_IMAGER_MONO_BELOW_HZ:
        if (!(v == 0.0 || (v >= 20.0 && v <= 1000.0 && v <= 0.45 * st->fs)))
            return OB_ERR_ARG;
        if (v > 0.0 && ob_xover_set_freq(st->xm, 0, v) != OB_OK)
            return OB_ERR_ARG;
        st->mono_hz = v;
        ob_sramp_set(&st->mono, v > 0.0 ? 1.0 : 0.0, st->ramp_len);
        if (st->fresh) {
            ob_sramp_snap(&st->mono);
            ob_xover_reset(st->xm);   /* the new frequency at once */
            st->xm_live = st->mono.cur > 0.0;
        }
        return OB_OK;
    case OB_IMAGER_CROSSOVER_HZ:
        return st->xb ? ob_xover_set_freq(st->xb, index, v) : OB_ERR_ARG;
    default: return OB_ERR_ARG;
    }
}

/* One piece of n frames (not crossing the grid) at offset off. */
static void run_piece(ob_imager *st, float **ch, int off, int n)
{
    float *l = ch[0] + off, *r = ch[1] + off;
    double *m = st->ms[0], *s = st->ms[1];
    for (int i = 0; i < n; i++) {
        m[i] = 0.5 * ((double)l[i] + (double)r[i]);
        s[i] = 0.5 * ((double)l[i] - (double)r[i]);
    }
    if (st->xm_live) {
        /* bm: 0 M low, 1 S low, 2 M high, 3 S high */
        ob_xover_split(st->xm, (const double *const *)st->msp, st->phase, n, st->bmp);
        for (int i = 0; i < n; i++) {
            const double a = ob_sramp_next(&st->mono);
            const double mm = st->bm[0][i] + st->bm[2][i], sm = st->bm[3][i];
            m[i] = a == 1.0 ? mm : (1.0 - a) * m[i] + a * mm;
            s[i] = a == 1.0 ? sm : (1.0 - a) * s[i] + a * sm;
        }
    }
    if (st->xb) {
        /* bb: band b's M at 2b, S at 2b + 1 */
        ob_xover_split(st->xb, (const double *const *)st->msp, st->phase, n, st->bbp);
        for (int i = 0; i < n; i++) {
            double mm = 0.0, ss = 0.0;
            for (int b = 0; b < st->nb; b++) {
                mm += st->bb[2 * b][i];
                ss += ob_sramp_next(&st->width[b]) * st->bb[2 * b + 1][i];
            }
            m[i] = mm;
            s[i] = ss;
        }
    } else {
        for (int i = 0; i < n; i++)
            s[i] *= ob_sramp_next(&st->width[0]);
    }
    for (int i = 0; i < n; i++) {
        l[i] = (float)ob_flush(m[i] + s[i]);   /* never a float32 denormal */
        r[i] = (float)ob_flush(m[i] - s[i]);
    }
}

int ob_imager_process(ob_imager *st, float **ch, int nch, int frames)
{
    if (!st || !ch || nch != 2 || frames < 0)
        return OB_ERR_ARG;
    if (frames > 0)
        st->fresh = 0;
    for (int off = 0; off < frames;) {
        const int n = frames - off < CH - st->phase ? frames - off : CH - st->phase;
        if (!st->xm_live && st->mono.to > 0.0) {   /* bass mono comes in: clean start */
            ob_xover_reset(st->xm);
            st->xm_live = 1;
        }
        const int neutral = !st->xb && !st->xm_live && st->width[0].left == 0 &&
                            st->width[0].cur == 1.0;
        if (!neutral)
            run_piece(st, ch, off, n);
        if (st->xm_live && st->mono.left == 0 && st->mono.cur == 0.0)
            st->xm_live = 0;   /* bass mono is out: stop running it */
        off += n;
        st->phase += n;
        if (st->phase == CH) {
            ob_xover_grid(st->xm);
            if (st->xb)
                ob_xover_grid(st->xb);
            st->phase = 0;
        }
    }
    return OB_OK;
}

int ob_imager_latency(const ob_imager *st) { return st ? 0 : -1; }

/* ---- the engine's verbs -------------------------------------------------------- */

static void k_process(void *s, float **ch, int nch, int frames)
{
    ob_imager_process(s, ch, nch, frames);
}
static int k_latency(const void *s) { return ob_imager_latency(s); }
static int k_set(void *s, int p, int i, double v) { return ob_imager_set(s, p, i, v); }
static void k_reset(void *s) { ob_imager_reset(s); }

static const ob_kernel_ops OPS = {k_process, k_latency, k_set, k_reset, NULL, NULL};

const ob_kernel_ops *ob_imager_ops(void) { return &OPS; }
