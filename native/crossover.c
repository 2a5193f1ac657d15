/* crossover.c -- Linkwitz-Riley band splitter (see crossover.h).
 *
 * Two channels run together in the two lanes of a 128-bit vector (GCC
 * vector extension, as in biquad.c); an odd channel count runs a silent
 * lane.  Every filter is a cascade of direct form I sections evaluated as
 *   y = (((b1 x1 + b2 x2) - a2 y2) - a1 y1) + b0 x
 * section by section over a chunk, so the recursions of a cascade overlap.
 */
#include <stdlib.h>
#include <string.h>

#include "outboard.h"
#include "ob_internal.h"
#include "crossover.h"

typedef double v2d __attribute__((vector_size(16)));

enum {
    MAX_X = OB_XOVER_MAX_BANDS - 1,   /* crossovers */
    MAX_LP = 4,                       /* sections of one LR low pass (LR8) */
    MAX_AP = 2                        /* sections of one allpass (LR8) */
};

/* A cascade's history: hist[2k], hist[2k+1] = the input of section k one and
 * two samples ago, which is the output of section k - 1 (G + 1 pairs). */
struct ob_xover {
    double fs;
    int nch, npair, order, nb, nx, nlp, nap;
    /* glides: crossover k moves from f_from to f_tgt along a raised cosine in
     * log frequency over glide_len frames; f_cur is its frequency at the
     * next grid point (g_pos frames into the glide) */
    double f_cur[MAX_X], f_tgt[MAX_X], f_from[MAX_X];   /* Hz */
    int g_pos[MAX_X], moving[MAX_X], glide_len;
    int gliding;                         /* some crossover moves */
    int interp;                          /* coefficients move in this grid chunk */
    double lp[MAX_X][MAX_LP][5];         /* b0 b1 b2 a1 a2 at the next grid point */
    double ap[MAX_X][MAX_AP][5];
    double lp0[MAX_X][MAX_LP][5];        /* ... and at the last one (interp) */
    double ap0[MAX_X][MAX_AP][5];
    /* per pair: nx low-pass cascades, nx allpass cascades, and the band
     * compensation: band b < nx - 1 through AP_(b+1) .. AP_(nx-1) */
    v2d *h;                              /* all histories, see hist_* */
    int h_per_pair;
};

static int n_comp(int nx, int b) { return b < nx - 1 ? nx - 1 - b : 0; }

static v2d *hist_lp(const ob_xover *x, int p, int k)
{
    return x->h + (size_t)p * (size_t)x->h_per_pair + (size_t)k * 2 * (size_t)(x->nlp + 1);
}

static v2d *hist_ap(const ob_xover *x, int p, int k)
{
    return hist_lp(x, p, x->nx) + (size_t)k * 2 * (size_t)(x->nap + 1);
}

/* Band b's compensation cascade: n_comp(b) allpasses of nap sections each. */
static v2d *hist_comp(const ob_xover *x, int p, int b)
{
    v2d *h = hist_ap(x, p, x->nx);
    for (int j = 0; j < b; j++)
        h += 2 * (n_comp(x->nx, j) * x->nap + 1);
    return h;
}

/* ---- design ---------------------------------------------------------------- */

/* Coefficients of crossover k at f Hz: the low pass (Butterworth of half the
 * order, squared) and the allpass D(-s)/D(s) of the same poles, bilinear
 * with the corner prewarped: K = tan(pi f / fs). */
static void design(ob_xover *x, int k, double f)
{
    const double K = tan(M_PI * f / x->fs);
    if (x->order == 2) {
        const double a0 = 1.0 + K, a1 = (K - 1.0) / a0;
        for (int j = 0; j < 2; j++) {
            double *c = x->lp[k][j];
            c[0] = c[1] = K / a0;
            c[2] = 0.0;
            c[3] = a1;
            c[4] = 0.0;
        }
        double *c = x->ap[k][0];
        c[0] = a1; c[1] = 1.0; c[2] = 0.0; c[3] = a1; c[4] = 0.0;
        return;
    }
    /* pole pairs of the Butterworth of order n = order / 2: 1/Q = 2 sin(pi (2i+1) / 2n) */
    const int n = x->order / 2;
    for (int i = 0; i < n / 2; i++) {
        const double invq = 2.0 * sin(M_PI * (2 * i + 1) / (2.0 * n));
        const double a0 = 1.0 + K * invq + K * K;
        const double a1 = 2.0 * (K * K - 1.0) / a0, a2 = (1.0 - K * invq + K * K) / a0;
        const double g = K * K / a0;
        for (int j = 0; j < 2; j++) {   /* the section twice: LR = Butterworth squared */
            double *c = x->lp[k][2 * i + j];
            c[0] = g; c[1] = 2.0 * g; c[2] = g; c[3] = a1; c[4] = a2;
        }
        double *c = x->ap[k][i];
        c[0] = a2; c[1] = a1; c[2] = 1.0; c[3] = a1; c[4] = a2;
    }
}

static int freq_ok(const ob_xover *x, double f) { return f >= 10.0 && f <= 0.45 * x->fs; }

ob_xover *ob_xover_new(double fs, int nch, int order, int bands, const double *freqs_hz)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS ||
        (order != 2 && order != 4 && order != 8) || bands < 1 || bands > OB_XOVER_MAX_BANDS ||
        (bands > 1 && !freqs_hz))
        return NULL;
    ob_xover *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->fs = fs;
    x->nch = nch;
    x->npair = (nch + 1) / 2;
    x->order = order;
    x->nb = bands;
    x->nx = bands - 1;
    x->nlp = order == 8 ? 4 : 2;
    x->nap = order == 8 ? 2 : 1;
    for (int k = 0; k < x->nx; k++) {
        if (!freq_ok(x, freqs_hz[k]) || (k > 0 && !(freqs_hz[k] > freqs_hz[k - 1]))) {
            free(x);
            return NULL;
        }
        x->f_cur[k] = x->f_tgt[k] = freqs_hz[k];
        design(x, k, freqs_hz[k]);
    }
    x->glide_len = OB_XOVER_CHUNK *
        (int)ceil(OB_XOVER_GLIDE_MS * 1e-3 * fs / (double)OB_XOVER_CHUNK);
    memcpy(x->lp0, x->lp, sizeof x->lp);
    memcpy(x->ap0, x->ap, sizeof x->ap);
    int per = 2 * x->nx * (x->nlp + 1) + 2 * x->nx * (x->nap + 1);
    for (int b = 0; b < x->nb; b++)
        per += 2 * (n_comp(x->nx, b) * x->nap + 1);
    x->h_per_pair = per;
    x->h = aligned_alloc(16, sizeof(v2d) * (size_t)per * (size_t)x->npair);
    if (!x->h) {
        free(x);
        return NULL;
    }
    ob_xover_reset(x);
    return x;
}

void ob_xover_free(ob_xover *x)
{
    if (!x)
        return;
    free(x->h);
    free(x);
}

void ob_xover_reset(ob_xover *x)
{
    memset(x->h, 0, sizeof(v2d) * (size_t)x->h_per_pair * (size_t)x->npair);
    if (x->gliding || x->interp) {
        for (int k = 0; k < x->nx; k++) {
            x->f_cur[k] = x->f_from[k] = x->f_tgt[k];
            x->moving[k] = 0;
            design(x, k, x->f_cur[k]);
        }
        memcpy(x->lp0, x->lp, sizeof x->lp);
        memcpy(x->ap0, x->ap, sizeof x->ap);
        x->gliding = x->interp = 0;
    }
}

int ob_xover_bands(const ob_xover *x) { return x ? x->nb : 0; }

int ob_xover_set_freq(ob_xover *x, int k, double hz)
{
    if (!x || k < 0 || k >= x->nx || !freq_ok(x, hz) || (k > 0 && !(hz > x->f_tgt[k - 1])) ||
        (k < x->nx - 1 && !(hz < x->f_tgt[k + 1])))
        return OB_ERR_ARG;
    x->f_tgt[k] = hz;
    x->f_from[k] = x->f_cur[k];
    x->g_pos[k] = 0;
    x->moving[k] = 1;
    x->gliding = 1;
    return OB_OK;
}

double ob_xover_freq(const ob_xover *x, int k)
{
    return x && k >= 0 && k < x->nx ? x->f_tgt[k] : -1.0;
}

static double flush_state(double v) { return isfinite(v) ? ob_flush(v) : 0.0; }

void ob_xover_grid(ob_xover *x)
{
    /* the coefficients reached here hold from now on, or are the start of the
     * next chunk's interpolation */
    if (x->interp) {
        memcpy(x->lp0, x->lp, sizeof x->lp);
        memcpy(x->ap0, x->ap, sizeof x->ap);
        x->interp = 0;
    }
    if (x->gliding) {
        int moving = 0;
        for (int k = 0; k < x->nx; k++) {
            if (!x->moving[k])
                continue;
            x->g_pos[k] += OB_XOVER_CHUNK;
            const double u = x->g_pos[k] >= x->glide_len
                ? 1.0 : 0.5 - 0.5 * cos(M_PI * (double)x->g_pos[k] / (double)x->glide_len);
            const double lf = log(x->f_from[k]), lt = log(x->f_tgt[k]);
            x->f_cur[k] = u == 1.0 ? x->f_tgt[k] : exp(lf + u * (lt - lf));
            design(x, k, x->f_cur[k]);
            x->moving[k] = u < 1.0;
            moving |= x->moving[k];
        }
        x->gliding = moving;
        x->interp = 1;   /* from lp0 (here) to lp (the next grid point) */
    }
    const size_t nh = (size_t)x->h_per_pair * (size_t)x->npair;
    for (size_t i = 0; i < nh; i++)
        x->h[i] = (v2d){flush_state(x->h[i][0]), flush_state(x->h[i][1])};
}

/* ---- processing -------------------------------------------------------------- */

/* One section, one sample: DF1 with the input entering last (see the top). */
static inline v2d sec(const double *c, v2d *z, v2d xi)
{
    const v2d y = ((((v2d){1, 1} * c[1] * z[0] + (v2d){1, 1} * c[2] * z[1]) -
                    (v2d){1, 1} * c[4] * z[3]) - (v2d){1, 1} * c[3] * z[2]) +
                  (v2d){1, 1} * c[0] * xi;
    z[1] = z[0];
    z[0] = xi;
    z[3] = z[2];
    z[2] = y;
    return y;
}

/*
 * Sample by sample through the whole tree, so that the recursions of all
 * sections (independent from one sample to the next) overlap in the
 * pipeline; section by section, each would wait for its own recursion.
 * State is held per section as x1 x2 y1 y2 (z[0..3]) in local copies of the
 * cascades' histories: the output history of one section equals the input
 * history of the next, and both copies are kept equal.
 */
/* One channel pair of ob_xover_split, for NLP low-pass and NAP allpass
 * sections per crossover (constants, so the section loops unroll). */
static inline __attribute__((always_inline)) void
split_pair(ob_xover *x, int p, const double *const *in, int at, int n, double *const *band,
           const int NLP, const int NAP)
{
    const int nx = x->nx, nch = x->nch, nb = x->nb;
    enum { MAXS = MAX_X * (MAX_LP + MAX_AP) + MAX_X * MAX_X * MAX_AP };
    /* every section of the tree in processing order: per crossover its NLP
     * low-pass sections then its NAP allpass sections, then per band b its
     * compensation sections; z[s] = x1 x2 y1 y2 of section s */
    const double *c[MAXS];
    v2d z[MAXS][4];
    int s = 0;
    for (int k = 0; k < nx; k++) {
        const v2d *h = hist_lp(x, p, k);
        for (int j = 0; j < NLP; j++, s++) {
            c[s] = x->lp[k][j];
            z[s][0] = h[2 * j]; z[s][1] = h[2 * j + 1];
            z[s][2] = h[2 * j + 2]; z[s][3] = h[2 * j + 3];
        }
        h = hist_ap(x, p, k);
        for (int j = 0; j < NAP; j++, s++) {
            c[s] = x->ap[k][j];
            z[s][0] = h[2 * j]; z[s][1] = h[2 * j + 1];
            z[s][2] = h[2 * j + 2]; z[s][3] = h[2 * j + 3];
        }
    }
    const int n_tree = s;
    for (int b = 0; b + 1 < nx; b++) {
        const v2d *h = hist_comp(x, p, b);
        for (int j = 0; j < n_comp(nx, b) * NAP; j++, s++) {
            c[s] = x->ap[b + 1 + j / NAP][j % NAP];
            z[s][0] = h[2 * j]; z[s][1] = h[2 * j + 1];
            z[s][2] = h[2 * j + 2]; z[s][3] = h[2 * j + 3];
        }
    }
    const int n_all = s;
    /* while a crossover glides: each section's coefficients move linearly from
     * their value at the last grid point (c0) to the next (c), per sample */
    const double *from[MAXS];
    double cur[MAXS][5];
    if (x->interp) {
        s = 0;
        for (int k = 0; k < nx; k++) {
            for (int j = 0; j < NLP; j++, s++)
                from[s] = x->lp0[k][j];
            for (int j = 0; j < NAP; j++, s++)
                from[s] = x->ap0[k][j];
        }
        for (int b = 0; b + 1 < nx; b++)
            for (int j = 0; j < n_comp(nx, b) * NAP; j++, s++)
                from[s] = x->ap0[b + 1 + j / NAP][j % NAP];
    }
    const double *to[MAXS];
    for (int t = 0; t < n_all; t++)
        to[t] = c[t];
    const int c0 = 2 * p, c1 = 2 * p + 1 < nch ? 2 * p + 1 : -1;
    for (int i = 0; i < n; i++) {
        if (x->interp) {
            const double w = (double)(at + i + 1) / (double)OB_XOVER_CHUNK;
            for (int t = 0; t < n_all; t++) {
                for (int q = 0; q < 5; q++)
                    cur[t][q] = from[t][q] + (to[t][q] - from[t][q]) * w;
                c[t] = cur[t];
            }
        }
        v2d r = (v2d){in[c0][i], c1 >= 0 ? in[c1][i] : 0.0};
        v2d out[OB_XOVER_MAX_BANDS];
        for (int k = 0; k < nx; k++) {
            const int s0 = k * (NLP + NAP);
            v2d lo = r, ap = r;
            for (int j = 0; j < NLP; j++)
                lo = sec(c[s0 + j], z[s0 + j], lo);
            for (int j = 0; j < NAP; j++)
                ap = sec(c[s0 + NLP + j], z[s0 + NLP + j], ap);
            out[k] = lo;
            r = ap - lo;   /* AP - LP: the high pass (LR2: inverted) */
        }
        out[nx] = r;
        int t = n_tree;
        for (int b = 0; b + 1 < nx; b++)
            for (int j = 0; j < (nx - 1 - b) * NAP; j++, t++)
                out[b] = sec(c[t], z[t], out[b]);
        for (int b = 0; b < nb; b++) {
            band[b * nch + c0][i] = out[b][0];
            if (c1 >= 0)
                band[b * nch + c1][i] = out[b][1];
        }
    }
    /* store the histories back (the copies of a shared pair are equal) */
    s = 0;
    for (int k = 0; k < nx; k++) {
        v2d *h = hist_lp(x, p, k);
        for (int j = 0; j < NLP; j++, s++) {
            h[2 * j] = z[s][0]; h[2 * j + 1] = z[s][1];
            h[2 * j + 2] = z[s][2]; h[2 * j + 3] = z[s][3];
        }
        h = hist_ap(x, p, k);
        for (int j = 0; j < NAP; j++, s++) {
            h[2 * j] = z[s][0]; h[2 * j + 1] = z[s][1];
            h[2 * j + 2] = z[s][2]; h[2 * j + 3] = z[s][3];
        }
    }
    for (int b = 0; b + 1 < nx; b++) {
        v2d *h = hist_comp(x, p, b);
        for (int j = 0; j < n_comp(nx, b) * NAP; j++, s++) {
            h[2 * j] = z[s][0]; h[2 * j + 1] = z[s][1];
            h[2 * j + 2] = z[s][2]; h[2 * j + 3] = z[s][3];
        }
    }
}

/*
 * Sample by sample through the whole tree, so that the recursions of all
 * sections (independent from one sample to the next) overlap in the
 * pipeline; section by section, each would wait for its own recursion.
 */
void ob_xover_split(ob_xover *x, const double *const *in, int at, int n, double *const *band)
{
    for (int p = 0; p < x->npair; p++) {
        if (x->order == 8)
            split_pair(x, p, in, at, n, band, 4, 2);
        else
            split_pair(x, p, in, at, n, band, 2, 1);
    }
}
