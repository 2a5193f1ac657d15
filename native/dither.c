/* dither.c -- TPDF dither and error-feedback noise shaping (see dither.h). */
#include <stdlib.h>
#include <string.h>
#include "outboard.h"
#include "ob_internal.h"

#define OB_DITHER_TAPS 9

/* Wannamaker 1992, 9-tap F-weighted error filter (44.1 kHz). */
static const double WANNAMAKER9[OB_DITHER_TAPS] = {
    2.412, -3.370, 3.937, -4.174, 3.353, -2.205, 1.281, -0.569, 0.0847
};

/*
 * State glossary:
 *   bits, scale   target word length; scale = 2^(bits-1) (LSB = 1/scale)
 *   shaping       OB_DITHER_SHAPE_*
 *   rng[c][2]     xorshift128+ state per channel
 *   err[c][k]     total quantisation error of the last taps samples, in LSB,
 *                 err[c][0] the most recent
 */
struct ob_dither {
    int nch, bits, shaping;
    double scale;
    uint32_t seed;
    uint64_t rng[OB_MAX_CHANNELS][2];
    double err[OB_MAX_CHANNELS][OB_DITHER_TAPS];
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t xorshift128p(uint64_t s[2])
{
    uint64_t a = s[0];
    const uint64_t b = s[1];
    s[0] = b;
    a ^= a << 23;
    s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
    return s[1] + b;
}

/* uniform in [0, 1) with 53 bits */
static inline double uniform01(uint64_t s[2])
{
    return (double)(xorshift128p(s) >> 11) * (1.0 / 9007199254740992.0);
}

static int valid(int bits, int shaping)
{
    return bits >= 8 && bits <= 24 && shaping >= OB_DITHER_SHAPE_NONE &&
           shaping <= OB_DITHER_SHAPE_WANNAMAKER9;
}

void ob_dither_reset(ob_dither *d)
{
    memset(d->err, 0, sizeof d->err);
    uint64_t x = d->seed ? d->seed : 0x5EEDu;
    for (int c = 0; c < OB_MAX_CHANNELS; c++) {
        d->rng[c][0] = splitmix64(&x);
        d->rng[c][1] = splitmix64(&x);
    }
}

ob_dither *ob_dither_new(int nch, int bits, int shaping, uint32_t seed)
{
    if (nch < 1 || nch > OB_MAX_CHANNELS || !valid(bits, shaping))
        return NULL;
    ob_dither *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->nch = nch;
    d->seed = seed;
    ob_dither_set(d, bits, shaping);
    ob_dither_reset(d);
    return d;
}

void ob_dither_free(ob_dither *d) { free(d); }

int ob_dither_set(ob_dither *d, int bits, int shaping)
{
    if (!valid(bits, shaping))
        return OB_ERR_ARG;
    d->bits = bits;
    d->shaping = shaping;
    d->scale = ldexp(1.0, bits - 1);
    return OB_OK;
}

int ob_dither_latency(const ob_dither *d) { return 0; }

void ob_dither_process(ob_dither *d, float **ch, int nch, int frames)
{
    if (nch > d->nch)
        nch = d->nch;
    const double scale = d->scale, kmax = scale - 1.0, kmin = -scale;
    const int shaping = d->shaping;
    for (int c = 0; c < nch; c++) {
        float *x = ch[c];
        uint64_t *rng = d->rng[c];
        double *e = d->err[c];
        for (int i = 0; i < frames; i++) {
            double v = (double)x[i] * scale; /* in LSB */
            double fb = 0.0;
            if (shaping == OB_DITHER_SHAPE_FIRST) {
                fb = e[0];
            } else if (shaping == OB_DITHER_SHAPE_WANNAMAKER9) {
                for (int k = 0; k < OB_DITHER_TAPS; k++)
                    fb += WANNAMAKER9[k] * e[k];
            }
            double want = v - fb;
            double tpdf = uniform01(rng) - uniform01(rng); /* (-1, 1) LSB, triangular */
            double k = floor(want + tpdf + 0.5);
            if (k > kmax) k = kmax;
            if (k < kmin) k = kmin;
            if (shaping != OB_DITHER_SHAPE_NONE) {
                /* total error of this sample relative to the shaped input;
                 * bounded so a clipped overload cannot wind up the loop */
                double err = k - want;
                if (err > 4.0) err = 4.0;
                if (err < -4.0) err = -4.0;
                memmove(e + 1, e, (OB_DITHER_TAPS - 1) * sizeof *e);
                e[0] = err;
            }
            x[i] = (float)(k / scale);
        }
    }
}
