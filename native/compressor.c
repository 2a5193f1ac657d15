/* compressor.c -- feed-forward compressor (see compressor.h for the design). */
#include "outboard.h"
#include "ob_internal.h"

#include <stdatomic.h>
#include <stdlib.h>

#define LN10 2.30258509299404568402
#define DB_PER_NEPER_POW (10.0 / LN10) /* 10 log10(p) = DB_PER_NEPER_POW * ln(p) */
#define OCT_PER_DB_AMP 0.16609640474436811739 /* 10^(dB/20) = 2^(OCT_PER_DB_AMP * dB) */
#define SNAP 1e-9                      /* a ramp closer than this to its target ends */
#define HPF_Q 0.70710678118654752440

struct ob_compressor {
    double fs;
    int nch;
    int fresh;         /* no sample processed since new/reset: setters snap */
    int ramping;       /* some ramped parameter is not at its target yet */

    /* user values, as set */
    double ratio, attack_ms, release_ms, rms_ms, hpf_hz;
    int detector, mode;

    /* ramped parameters: target (_t) and current */
    double thr_t, thr;       /* threshold, dBFS */
    double slope_t, slope;   /* 1 - 1/R (1 for R >= 100) */
    double knee_t, knee;     /* knee width W, dB */
    double mk_t, mk;         /* makeup, dB */
    double link_t, link;     /* stereo link 0..1 */
    double msmix_t, msmix;   /* 0 = L/R, 1 = M/S */
    double det_t, det;       /* weight of the RMS detector (1 - det: peak) */
    double hlf_t, hlf;       /* log2 of the sidechain high-pass frequency */
    double hmix_t, hmix;     /* weight of the high-passed detector path */

    /* derived from the current values */
    double a_ramp, a_att, a_rel, a_rms;
    double mk_lin;           /* 10^(mk/20) */
    double p_knee;           /* power at the knee's start, 10^((thr - knee/2)/10) */
    double b0, b1, b2, a1, a2;  /* sidechain high pass, normalised by a0 */

    /* per channel (arrays of nch) */
    double *z1, *z2;         /* high-pass state, transposed direct form II */
    double *msq_raw, *msq_hp;   /* RMS averagers (mean square), both paths */
    double *yl;              /* smoothed gain reduction y_L, dB >= 0 */
    double *pw[4];           /* scratch: power of the 4 detectors, see process */
    double *xl, *g;          /* scratch: gain reduction target, linear gain */

    _Atomic double gr_now, gr_max;  /* meters, dB >= 0 */
};

/* ---- helpers ------------------------------------------------------------ */

static int in_range(double x, double lo, double hi) { return x >= lo && x <= hi; }

/* Gain reduction of the static curve, x_G - y_G (dB >= 0), for level x (dB). */
static double gain_computer(double x, double thr, double slope, double knee)
{
    double over = x - thr;
    if (2.0 * over <= -knee)
        return 0.0;
    if (2.0 * over >= knee)
        return slope * over;
    double k = over + 0.5 * knee;
    return slope * k * k / (2.0 * knee);
}

static void update_knee_power(ob_compressor *st)
{
    st->p_knee = pow(10.0, (st->thr - 0.5 * st->knee) / 10.0);
}

static void update_hpf(ob_compressor *st)
{
    /* RBJ Audio EQ Cookbook, HPF: b = (1+cos w0)/2 * [1, -2, 1],
     * a = [1 + alpha, -2 cos w0, 1 - alpha], alpha = sin w0 / (2Q). */
    double f = exp2(st->hlf);
    double w0 = 2.0 * M_PI * f / st->fs;
    double cw = cos(w0), alpha = sin(w0) / (2.0 * HPF_Q);
    double a0 = 1.0 + alpha;
    st->b0 = 0.5 * (1.0 + cw) / a0;
    st->b1 = -(1.0 + cw) / a0;
    st->b2 = st->b0;
    st->a1 = -2.0 * cw / a0;
    st->a2 = (1.0 - alpha) / a0;
}

/* One step of a one-pole ramp; returns 1 if the current value moved. */
static int ramp(double *cur, double target, double a)
{
    if (*cur == target)
        return 0;
    double v = target + a * (*cur - target);
    if (fabs(v - target) < SNAP)
        v = target;
    *cur = v;
    return 1;
}

static void snap_all(ob_compressor *st)
{
    st->thr = st->thr_t;
    st->slope = st->slope_t;
    st->knee = st->knee_t;
    st->mk = st->mk_t;
    st->link = st->link_t;
    st->msmix = st->msmix_t;
    st->det = st->det_t;
    st->hlf = st->hlf_t;
    st->hmix = st->hmix_t;
    st->mk_lin = exp2(OCT_PER_DB_AMP * st->mk);
    update_knee_power(st);
    update_hpf(st);
    st->ramping = 0;
}

/* A setter changed a target: snap before the first sample, else ramp. */
static int changed(ob_compressor *st)
{
    if (st->fresh)
        snap_all(st);
    else
        st->ramping = 1;
    return OB_OK;
}

static void ramp_step(ob_compressor *st)
{
    double a = st->a_ramp;
    int kn = ramp(&st->thr, st->thr_t, a);
    kn |= ramp(&st->knee, st->knee_t, a);
    if (kn)
        update_knee_power(st);
    ramp(&st->slope, st->slope_t, a);
    if (ramp(&st->mk, st->mk_t, a))
        st->mk_lin = exp2(OCT_PER_DB_AMP * st->mk);
    ramp(&st->link, st->link_t, a);
    ramp(&st->msmix, st->msmix_t, a);
    ramp(&st->det, st->det_t, a);
    if (ramp(&st->hlf, st->hlf_t, a))
        update_hpf(st);
    ramp(&st->hmix, st->hmix_t, a);
    st->ramping = st->thr != st->thr_t || st->knee != st->knee_t || st->slope != st->slope_t
        || st->mk != st->mk_t || st->link != st->link_t || st->msmix != st->msmix_t
        || st->det != st->det_t || st->hlf != st->hlf_t || st->hmix != st->hmix_t;
}

/* ---- lifecycle ------------------------------------------------------------ */

ob_compressor *ob_compressor_new(double fs, int nch)
{
    if (!in_range(fs, 8000.0, 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS)
        return NULL;
    ob_compressor *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    double *buf = calloc((size_t)nch * 11, sizeof *buf);
    if (!buf) {
        free(st);
        return NULL;
    }
    st->fs = fs;
    st->nch = nch;
    st->z1 = buf;
    st->z2 = buf + nch;
    st->msq_raw = buf + 2 * nch;
    st->msq_hp = buf + 3 * nch;
    st->yl = buf + 4 * nch;
    for (int k = 0; k < 4; k++)
        st->pw[k] = buf + (5 + k) * nch;
    st->xl = buf + 9 * nch;
    st->g = buf + 10 * nch;
    st->a_ramp = ob_tau_coeff(OB_COMP_RAMP_MS, fs);

    st->fresh = 1;
    ob_compressor_set_threshold_db(st, -18.0);
    ob_compressor_set_ratio(st, 2.0);
    ob_compressor_set_knee_db(st, 6.0);
    ob_compressor_set_attack_ms(st, 10.0);
    ob_compressor_set_release_ms(st, 100.0);
    ob_compressor_set_makeup_db(st, 0.0);
    ob_compressor_set_detector(st, OB_COMP_DETECT_PEAK);
    ob_compressor_set_rms_window_ms(st, 10.0);
    ob_compressor_set_stereo_link(st, 1.0);
    ob_compressor_set_mode(st, OB_COMP_MODE_STEREO);
    st->hlf_t = log2(100.0); /* the filter runs (weight 0) until first set */
    ob_compressor_set_sidechain_hpf_hz(st, 0.0);
    ob_compressor_reset(st);
    return st;
}

void ob_compressor_free(ob_compressor *st)
{
    if (!st)
        return;
    free(st->z1);
    free(st);
}

void ob_compressor_reset(ob_compressor *st)
{
    for (int c = 0; c < st->nch; c++)
        st->z1[c] = st->z2[c] = st->msq_raw[c] = st->msq_hp[c] = st->yl[c] = 0.0;
    atomic_store_explicit(&st->gr_now, 0.0, memory_order_relaxed);
    atomic_store_explicit(&st->gr_max, 0.0, memory_order_relaxed);
    snap_all(st);
    st->fresh = 1;
}

/* ---- setters ----------------------------------------------------------------- */

int ob_compressor_set_threshold_db(ob_compressor *st, double threshold_db)
{
    if (!in_range(threshold_db, -60.0, 0.0))
        return OB_ERR_ARG;
    st->thr_t = threshold_db;
    return changed(st);
}

int ob_compressor_set_ratio(ob_compressor *st, double ratio)
{
    if (!in_range(ratio, 1.0, 100.0))
        return OB_ERR_ARG;
    st->ratio = ratio;
    st->slope_t = ratio >= 100.0 ? 1.0 : 1.0 - 1.0 / ratio;
    return changed(st);
}

int ob_compressor_set_knee_db(ob_compressor *st, double knee_db)
{
    if (!in_range(knee_db, 0.0, 24.0))
        return OB_ERR_ARG;
    st->knee_t = knee_db;
    return changed(st);
}

int ob_compressor_set_attack_ms(ob_compressor *st, double attack_ms)
{
    if (!in_range(attack_ms, 0.01, 500.0))
        return OB_ERR_ARG;
    st->attack_ms = attack_ms;
    st->a_att = ob_tau_coeff(attack_ms, st->fs);
    return OB_OK;
}

int ob_compressor_set_release_ms(ob_compressor *st, double release_ms)
{
    if (!in_range(release_ms, 1.0, 5000.0))
        return OB_ERR_ARG;
    st->release_ms = release_ms;
    st->a_rel = ob_tau_coeff(release_ms, st->fs);
    return OB_OK;
}

int ob_compressor_set_makeup_db(ob_compressor *st, double makeup_db)
{
    if (!in_range(makeup_db, -24.0, 24.0))
        return OB_ERR_ARG;
    st->mk_t = makeup_db;
    return changed(st);
}

int ob_compressor_set_detector(ob_compressor *st, int detector)
{
    if (detector != OB_COMP_DETECT_PEAK && detector != OB_COMP_DETECT_RMS)
        return OB_ERR_ARG;
    st->detector = detector;
    st->det_t = detector == OB_COMP_DETECT_RMS ? 1.0 : 0.0;
    return changed(st);
}

int ob_compressor_set_rms_window_ms(ob_compressor *st, double rms_window_ms)
{
    if (!in_range(rms_window_ms, 1.0, 300.0))
        return OB_ERR_ARG;
    st->rms_ms = rms_window_ms;
    st->a_rms = ob_tau_coeff(rms_window_ms, st->fs);
    return OB_OK;
}

int ob_compressor_set_stereo_link(ob_compressor *st, double link)
{
    if (!in_range(link, 0.0, 1.0))
        return OB_ERR_ARG;
    st->link_t = link;
    return changed(st);
}

int ob_compressor_set_mode(ob_compressor *st, int mode)
{
    if (mode == OB_COMP_MODE_MID_SIDE && st->nch != 2)
        return OB_ERR_ARG;
    if (mode != OB_COMP_MODE_STEREO && mode != OB_COMP_MODE_MID_SIDE)
        return OB_ERR_ARG;
    st->mode = mode;
    st->msmix_t = mode == OB_COMP_MODE_MID_SIDE ? 1.0 : 0.0;
    return changed(st);
}

int ob_compressor_set_sidechain_hpf_hz(ob_compressor *st, double hz)
{
    if (hz != 0.0 && !in_range(hz, 20.0, 500.0))
        return OB_ERR_ARG;
    st->hpf_hz = hz;
    st->hmix_t = hz == 0.0 ? 0.0 : 1.0;
    if (hz != 0.0)
        st->hlf_t = log2(hz);  /* off: the filter keeps running at its last frequency */
    return changed(st);
}

int ob_compressor_latency(const ob_compressor *st)
{
    (void)st;
    return 0;
}

double ob_compressor_gain_reduction_db(const ob_compressor *st)
{
    return atomic_load_explicit(&((ob_compressor *)st)->gr_now, memory_order_relaxed);
}

double ob_compressor_take_max_gain_reduction_db(ob_compressor *st)
{
    return atomic_exchange_explicit(&st->gr_max, 0.0, memory_order_relaxed);
}

/* The ramped parameters as one sample sees them (reloaded only while ramping). */
typedef struct {
    double thr, slope, knee, link, mk, mk_lin, mu, p_knee;
    double b0, b1, b2, a1, a2;
    double w[4];  /* detector weights */
    int kact;     /* the one detector with weight 1, or -1 while crossfading */
} frame_params;

static inline void load_params(const ob_compressor *st, frame_params *f)
{
    f->thr = st->thr; f->slope = st->slope; f->knee = st->knee; f->link = st->link;
    f->mk = st->mk; f->mk_lin = st->mk_lin; f->mu = st->msmix; f->p_knee = st->p_knee;
    f->b0 = st->b0; f->b1 = st->b1; f->b2 = st->b2; f->a1 = st->a1; f->a2 = st->a2;
    const double hm = st->hmix, det = st->det;
    f->w[0] = (1.0 - hm) * (1.0 - det);
    f->w[1] = (1.0 - hm) * det;
    f->w[2] = hm * (1.0 - det);
    f->w[3] = hm * det;
    f->kact = -1;
    for (int k = 0; k < 4; k++)
        if (f->w[k] == 1.0)
            f->kact = k;
}

/* Add w * (gain reduction target of detector powers p[]) to xl[]. */
static inline void add_targets(double *restrict xl, const double *restrict p, double pmax,
                               double w, int nch, const frame_params *f)
{
    if (pmax < f->p_knee)
        return;  /* every channel below the knee: no reduction */
    const double linked = gain_computer(DB_PER_NEPER_POW * log(pmax), f->thr, f->slope, f->knee);
    if (f->link >= 1.0) {
        for (int c = 0; c < nch; c++)
            xl[c] += w * linked;
        return;
    }
    for (int c = 0; c < nch; c++) {
        double own = 0.0;
        if (p[c] >= f->p_knee)
            own = gain_computer(DB_PER_NEPER_POW * log(p[c]), f->thr, f->slope, f->knee);
        xl[c] += w * (own + f->link * (linked - own));
    }
}

/* ---- process ---------------------------------------------------------------
 *
 * Four detectors run on every channel at all times, so that switching the
 * detector or the sidechain filter crossfades gain-reduction targets (linear
 * in dB, like every other ramp) between settled detectors:
 *   pw[0] = d^2           raw, peak           weight (1 - hmix)(1 - det)
 *   pw[1] = msq_raw       raw, RMS            weight (1 - hmix) det
 *   pw[2] = h^2           high-passed, peak   weight hmix (1 - det)
 *   pw[3] = msq_hp        high-passed, RMS    weight hmix det
 * Outside a ramp exactly one weight is 1 and only that detector takes a log.
 *
 * Glossary (per sample i; c = channel, or M (c=0) / S (c=1) in mid-side):
 *   d         detector input: x_c, or the L/R -> M/S crossfade by msmix
 *   h         d through the sidechain high pass (state z1, z2)
 *   msq_*[c]  RMS averagers: m = a_rms m + (1 - a_rms) power
 *   pmax      loudest channel's power of one detector; the log is skipped
 *             below the knee (p < p_knee: no gain reduction)
 *   xl[c]     gain reduction target x_L: per detector, own level's reduction
 *             interpolated by link towards the loudest channel's; summed
 *             with the detector weights
 *   yl[c]     smoothed gain reduction y_L, dB, smooth branching detector
 *   g[c]      linear gain: 10^((makeup - y_L)/20)
 *   peak      largest y_L in this block (merged into the gr_max meter)
 */
int ob_compressor_process(ob_compressor *st, float **ch, int nch, int frames)
{
    if (nch != st->nch || frames < 0)
        return OB_ERR_ARG;
    if (frames == 0)
        return OB_OK;
    st->fresh = 0;
    double *xl = st->xl, *g = st->g, *yl = st->yl;
    double *msq_raw = st->msq_raw, *msq_hp = st->msq_hp, *z1 = st->z1, *z2 = st->z2;
    double *const *pw = st->pw;
    const double a_att = st->a_att, a_rel = st->a_rel, a_rms = st->a_rms;
    double peak = 0.0;
    frame_params f;
    load_params(st, &f);

    for (int i = 0; i < frames; i++) {
        if (st->ramping) {
            ramp_step(st);
            load_params(st, &f);
        }
        double pmax[4] = {0.0, 0.0, 0.0, 0.0};

        for (int c = 0; c < nch; c++) {
            double d = ch[c][i];
            if (f.mu > 0.0) {  /* nch == 2 */
                double l = ch[0][i], r = ch[1][i];
                double ms = c == 0 ? 0.5 * (l + r) : 0.5 * (l - r);
                d = f.mu == 1.0 ? ms : d + f.mu * (ms - d);
            }
            double h = f.b0 * d + z1[c];
            z1[c] = ob_flush(f.b1 * d - f.a1 * h + z2[c]);
            z2[c] = ob_flush(f.b2 * d - f.a2 * h);
            double pc[4];
            pc[0] = d * d;
            pc[2] = h * h;
            pc[1] = msq_raw[c] = ob_flush(a_rms * msq_raw[c] + (1.0 - a_rms) * pc[0]);
            pc[3] = msq_hp[c] = ob_flush(a_rms * msq_hp[c] + (1.0 - a_rms) * pc[2]);
            for (int k = 0; k < 4; k++) {
                pw[k][c] = pc[k];
                if (pc[k] > pmax[k])
                    pmax[k] = pc[k];
            }
            xl[c] = 0.0;
        }

        if (f.kact >= 0) {
            add_targets(xl, pw[f.kact], pmax[f.kact], 1.0, nch, &f);
        } else {
            for (int k = 0; k < 4; k++)
                if (f.w[k] != 0.0)
                    add_targets(xl, pw[k], pmax[k], f.w[k], nch, &f);
        }

        for (int c = 0; c < nch; c++) {
            double x = xl[c], y = yl[c];
            y = ob_flush(x + (x > y ? a_att : a_rel) * (y - x));
            yl[c] = y;
            if (y > peak)
                peak = y;
            if (y == 0.0)
                g[c] = f.mk_lin;
            else if (c > 0 && y == yl[c - 1])
                g[c] = g[c - 1];  /* linked channels share one gain */
            else
                g[c] = exp2(OCT_PER_DB_AMP * (f.mk - y));
        }

        if (f.mu == 0.0) {
            for (int c = 0; c < nch; c++)
                ch[c][i] = (float)(g[c] * ch[c][i]);
        } else {
            double l = ch[0][i], r = ch[1][i];
            if (f.mu == 1.0) {
                double m = g[0] * 0.5 * (l + r), s = g[1] * 0.5 * (l - r);
                ch[0][i] = (float)(m + s);
                ch[1][i] = (float)(m - s);
            } else {  /* (1-mu) diag(g0, g1) + mu * (M/S decode . diag . encode) */
                double gs = 0.5 * (g[0] + g[1]), gd = 0.5 * (g[0] - g[1]);
                double a = g[0] + f.mu * (gs - g[0]), dd = g[1] + f.mu * (gs - g[1]);
                double b = f.mu * gd;
                ch[0][i] = (float)(a * l + b * r);
                ch[1][i] = (float)(b * l + dd * r);
            }
        }
    }

    double now = 0.0;
    for (int c = 0; c < nch; c++)
        if (yl[c] > now)
            now = yl[c];
    atomic_store_explicit(&st->gr_now, now, memory_order_relaxed);
    double old = atomic_load_explicit(&st->gr_max, memory_order_relaxed);
    while (peak > old && !atomic_compare_exchange_weak_explicit(
               &st->gr_max, &old, peak, memory_order_relaxed, memory_order_relaxed)) {
    }
    return OB_OK;
}
