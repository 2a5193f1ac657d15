/* delay.c -- integer + fractional delay line (see delay.h). */
#include "outboard.h"
#include "ob_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    float *buf;         /* 2 * cap floats: every sample is written twice (at w
                           and w + cap) so any window of <= cap samples is
                           contiguous */
    int w;              /* next write position, 0..cap-1 */
    double delay;       /* samples */
    int line;           /* integer part (integer delay), or floor(D) - center */
    int frac;           /* 1: the FIR runs */
    double h[OB_DELAY_FIR_TAPS];   /* taps, reversed: h[k] weights x[n - line - (T-1) + k] */
} dchan;

struct ob_delay {
    double fs;
    int nch, max_delay, cap, mask;
    dchan ch[OB_MAX_CHANNELS];
};

/* Modified Bessel function of the first kind, order 0 (power series). */
static double bessel_i0(double x)
{
    double sum = 1.0, term = 1.0, q = 0.25 * x * x;
    for (int k = 1; k < 200; k++) {
        term *= q / ((double)k * (double)k);
        sum += term;
        if (term < 1e-17 * sum)
            break;
    }
    return sum;
}

ob_delay *ob_delay_new(double fs, int nch, int max_delay)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS ||
        max_delay < 1 || max_delay > OB_DELAY_MAX)
        return NULL;
    ob_delay *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fs = fs;
    d->nch = nch;
    d->max_delay = max_delay;
    int cap = 1;
    while (cap < max_delay + OB_DELAY_FIR_TAPS + 1)
        cap <<= 1;
    d->cap = cap;
    d->mask = cap - 1;
    for (int c = 0; c < nch; c++) {
        d->ch[c].buf = calloc(2 * (size_t)cap, sizeof(float));
        if (!d->ch[c].buf) {
            ob_delay_free(d);
            return NULL;
        }
    }
    return d;
}

void ob_delay_free(ob_delay *d)
{
    if (!d)
        return;
    for (int c = 0; c < d->nch; c++)
        free(d->ch[c].buf);
    free(d);
}

void ob_delay_reset(ob_delay *d)
{
    if (!d)
        return;
    for (int c = 0; c < d->nch; c++) {
        memset(d->ch[c].buf, 0, 2 * (size_t)d->cap * sizeof(float));
        d->ch[c].w = 0;
    }
}

int ob_delay_set_delay(ob_delay *d, int ch, double samples)
{
    if (!d || ch < 0 || ch >= d->nch || !(samples >= 0.0 && samples <= (double)d->max_delay))
        return OB_ERR_ARG;
    const double whole = floor(samples), f = samples - whole;
    dchan *s = &d->ch[ch];
    if (f == 0.0) {
        s->delay = samples;
        s->line = (int)whole;
        s->frac = 0;
        return OB_OK;
    }
    if (whole < (double)OB_DELAY_FIR_CENTER)
        return OB_ERR_ARG;
    const int T = OB_DELAY_FIR_TAPS;
    const double half = 0.5 * T, beta = 0.1 * OB_DELAY_FIR_BETA_X10, i0b = bessel_i0(beta);
    for (int k = 0; k < T; k++) {
        /* tap k of y[n] = sum_k g[k] x[n - line - k], centred on center + f */
        const double x = (double)k - (double)OB_DELAY_FIR_CENTER - f;
        const double r = x / half, arg = 1.0 - r * r;
        const double win = bessel_i0(beta * sqrt(arg > 0.0 ? arg : 0.0)) / i0b;
        const double sinc = x == 0.0 ? 1.0 : sin(M_PI * x) / (M_PI * x);
        s->h[T - 1 - k] = sinc * win;
    }
    s->delay = samples;
    s->line = (int)whole - OB_DELAY_FIR_CENTER;
    s->frac = 1;
    return OB_OK;
}

double ob_delay_get_delay(const ob_delay *d, int ch)
{
    return d && ch >= 0 && ch < d->nch ? d->ch[ch].delay : -1.0;
}

int ob_delay_max_delay(const ob_delay *d) { return d ? d->max_delay : 0; }

/*
 * Per channel (glossary):
 *   buf    the input history, written twice (w and w + cap)
 *   w      where the current sample goes
 *   line   integer delay: the tap read; fractional: the newest sample the
 *          FIR reads is x[n - line], the oldest x[n - line - (T - 1)]
 *   h      FIR taps in memory order (oldest sample first)
 */
void ob_delay_process(ob_delay *d, float **ch, int nch, int frames)
{
    if (!d || nch > d->nch)
        nch = d ? d->nch : 0;
    const int cap = d ? d->cap : 0, mask = d ? d->mask : 0, T = OB_DELAY_FIR_TAPS;
    for (int c = 0; c < nch; c++) {
        dchan *s = &d->ch[c];
        float *x = ch[c], *buf = s->buf;
        int w = s->w;
        if (!s->frac) {
            const int D = s->line;
            for (int i = 0; i < frames; i++) {
                buf[w] = buf[w + cap] = x[i];
                x[i] = buf[(w - D) & mask];
                w = (w + 1) & mask;
            }
        } else {
            const int back = s->line + T - 1;
            const double *h = s->h;
            for (int i = 0; i < frames; i++) {
                buf[w] = buf[w + cap] = x[i];
                const float *p = buf + ((w - back) & mask);
                double acc = 0.0;
                for (int k = 0; k < T; k++)
                    acc += h[k] * (double)p[k];
                x[i] = (float)acc;
                w = (w + 1) & mask;
            }
        }
        s->w = w;
    }
}

int ob_delay_latency(const ob_delay *d)
{
    double m = 0.0;
    for (int c = 0; d && c < d->nch; c++)
        m = d->ch[c].delay > m ? d->ch[c].delay : m;
    return (int)ceil(m);
}
