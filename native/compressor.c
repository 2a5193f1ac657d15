/* compressor.c -- feed-forward compressor (see compressor.h for the design). */
#include "outboard.h"
#include "ob_internal.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The staged loops below compute both sides of their selects and keep one,
 * so that they vectorise; with trapping math GCC moves the arithmetic back
 * into branches and does not.  No value changes (IEEE results are the same;
 * only exception flags, never read here, may differ). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#if defined(__GNUC__)
#define STAGE static inline __attribute__((always_inline))
#else
#define STAGE static inline
#endif
/* The stages of process (CLONES) are compiled twice on x86-64 with GCC, for
 * AVX2 and for the baseline, and the loader picks one for the CPU.  Both
 * round identically (no FMA: the build uses -ffp-contract=off), so output
 * does not depend on the CPU either.  STAGE helpers inline into them. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

#define SQRT2 1.41421356237309504880
#define DB_PER_OCT_POW 3.01029995663981195214  /* 10 log10(p) = DB_PER_OCT_POW * log2(p) */
#define DB_PER_NEPER_AMP 8.68588963806503655302 /* 10 log10(m) = DB_PER_NEPER_AMP * ln(m)/2 */
#define OCT_PER_DB_AMP 0.16609640474436811739  /* 10^(dB/20) = 2^(OCT_PER_DB_AMP * dB) */
#define SNAP 1e-9                      /* a ramp closer than this to its target ends */
#define HPF_Q 0.70710678118654752440
/* Frames per pass of the staged process.  Passes follow a grid of CHUNK
 * samples counted from new/reset; at each grid line the recursive state is
 * flushed (|v| < OB_DENORMAL_LIMIT -> 0).  Nothing in here decays from
 * 1e-30 to the denormal range (1e-308) within CHUNK samples, and the grid
 * does not depend on how the caller cuts the signal into blocks. */
#define CHUNK 128

struct ob_compressor {
    double fs;
    int nch;
    int fresh;         /* no sample processed since new/reset: setters snap */
    int ramping;       /* some ramped parameter is not at its target yet */
    int hp_wait;       /* samples the high pass still runs before it may take weight */
    int phase;         /* samples since the last grid line, 0..CHUNK-1 */

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

    /* which recursive detector parts run (their state is live): the high
     * pass, the raw and the high-passed RMS averagers */
    int on_bq, on_mr, on_mh;

    /* per channel (arrays of nch) */
    double *u1, *u2, *h1, *h2;  /* high pass, direct form I: last inputs, outputs */
    double *msq_raw, *msq_hp;   /* RMS averagers (mean square) of both paths */
    double *yl;              /* smoothed gain reduction y_L, dB >= 0 */

    /* scratch, nch x CHUNK each (channel c at c * CHUNK), see process */
    double *sd;              /* detector input */
    double *sp[4];           /* power of the 4 detectors */
    double *sx;              /* gain reduction target x_L */
    double *sy;              /* smoothed gain reduction, then linear gain */
    double *so;              /* unlinked target of one detector */
    double *sf;              /* feed-forward half of the high pass */
    double *sm;              /* CHUNK: loudest channel's power, or largest target */

    _Atomic double gr_now, gr_max;  /* meters, dB >= 0 */
};

/* ---- helpers ------------------------------------------------------------ */

static int in_range(double x, double lo, double hi) { return x >= lo && x <= hi; }

static inline uint64_t bits_of(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline double of_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* 10 log10(p), dB, for p >= 0 (0 and subnormals give a finite value below
 * -3000 dB).  p = 2^e m with m in [sqrt(1/2), sqrt 2); ln m = 2 t S(t^2),
 * t = (m - 1)/(m + 1), S(u) = atanh(sqrt u)/sqrt u = 1 + u/3 + u^2/5 + ...,
 * here a degree-4 fit on the range of u (Chebyshev nodes): error < 1e-11 dB.
 * Branch-free, so loops over it vectorise. */
static inline double power_db(double p)
{
    const uint64_t u = bits_of(p);
    /* exponent as a double: 2^52 + biased exponent, minus 2^52 + 1023 */
    double e = of_bits(0x4330000000000000ULL | (u >> 52)) - 4503599627371519.0;
    double m = of_bits((u & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL);
    const double mh = 0.5 * m, e1 = e + 1.0;
    const int big = m > SQRT2;
    m = big ? mh : m;
    e = big ? e1 : e;
    const double t = (m - 1.0) / (m + 1.0), t2 = t * t, t4 = t2 * t2;
    const double s = (1.0000000000042066 + 0.33333332620840928 * t2)
        + t4 * ((0.20000192829918442 + 0.14267498642382304 * t2) + 0.11808636538791516 * t4);
    return DB_PER_OCT_POW * e + DB_PER_NEPER_AMP * (t * s);
}

/* 10^(db/20) for |db| up to ~6000 (clamped there).  2^v, v = n + f with n
 * integer, |f| <= 1/2: 2^n built in the exponent bits, 2^f by a degree-8 fit
 * on [-1/2, 1/2] (Chebyshev nodes): relative error < 2e-12.  Branch-free. */
static inline double db_to_gain(double db)
{
    const double magic = 6755399441055744.0; /* 1.5 * 2^52: v + magic rounds v to an integer */
    double v = OCT_PER_DB_AMP * db;
    v = v < -1000.0 ? -1000.0 : v;
    v = v > 1000.0 ? 1000.0 : v;
    const double r = v + magic;
    const double f = v - (r - magic);
    const uint64_t n = bits_of(r) - bits_of(magic); /* round(v), two's complement */
    const double scale = of_bits((n + 1023u) << 52);
    const double f2 = f * f, f4 = f2 * f2, f8 = f4 * f4;
    const double s = ((1.0000000000000142 + 0.69314718054592961 * f)
                      + f2 * (0.2402265069563897 + 0.055504109412171342 * f))
        + f4 * ((0.0096181291942561593 + 0.0013333450558785471 * f)
                + f2 * (0.00015403433532200746 + 1.5310081589973446e-05 * f))
        + f8 * 1.3259691743114984e-06;
    return scale * s;
}

/* The static curve as one pass sees it. */
typedef struct {
    double thr, slope, knee, inv2w, p_knee;
} curve;

/* Gain reduction of the static curve, x_G - y_G (dB >= 0), for power p.
 * Exactly 0 for p < p_knee (so a pass entirely below it can be skipped).
 * `hard`: the knee is 0 (same result, fewer operations). */
static inline double gain_computer(int hard, double p, const curve *k)
{
    const double over = power_db(p) - k->thr;
    double gr;
    if (hard) {
        gr = 2.0 * over <= 0.0 ? 0.0 : k->slope * over;
    } else {
        const double q = over + 0.5 * k->knee;
        const double lin = k->slope * over, quad = k->slope * q * q * k->inv2w;
        gr = 2.0 * over >= k->knee ? lin : quad;
        gr = 2.0 * over <= -k->knee ? 0.0 : gr;
    }
    return p < k->p_knee ? 0.0 : gr;
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

/* Samples for a starting high pass to settle: 8 time constants of its
 * poles' decay (rate zeta w0 = 2 pi f / (2 Q)) at the lower of its current
 * and target frequency f, so its start-up transient has fallen by 69 dB
 * (90 ms at 20 Hz, 9 ms at 200 Hz). */
static int hp_warmup(const ob_compressor *st)
{
    const double f = exp2(st->hlf < st->hlf_t ? st->hlf : st->hlf_t);
    return (int)ceil(8.0 * 2.0 * HPF_Q * st->fs / (2.0 * M_PI * f));
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
    if (st->hmix == 0.0 && st->hmix_t != 0.0) {
        /* the high pass is switched on: it runs hp_warmup samples with its
         * weight held at 0 (a sample of it is done at each step), then ramps */
        if (st->hp_wait > 0)
            st->hp_wait--;
        else if (!st->on_bq)
            st->hp_wait = hp_warmup(st);
        if (st->hp_wait == 0)
            ramp(&st->hmix, st->hmix_t, a);
    } else {
        st->hp_wait = 0;
        ramp(&st->hmix, st->hmix_t, a);
    }
    st->ramping = st->thr != st->thr_t || st->knee != st->knee_t || st->slope != st->slope_t
        || st->mk != st->mk_t || st->link != st->link_t || st->msmix != st->msmix_t
        || st->det != st->det_t || st->hlf != st->hlf_t || st->hmix != st->hmix_t;
}

/* ---- lifecycle ------------------------------------------------------------ */

enum { N_STATE = 7, N_SCRATCH = 9 }; /* per-channel state arrays; nch x CHUNK scratch arrays */

ob_compressor *ob_compressor_new(double fs, int nch)
{
    if (!in_range(fs, 8000.0, 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS)
        return NULL;
    ob_compressor *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    size_t n = (size_t)nch;
    double *buf = calloc(N_STATE * n + (N_SCRATCH * n + 1) * CHUNK, sizeof *buf);
    if (!buf) {
        free(st);
        return NULL;
    }
    st->fs = fs;
    st->nch = nch;
    st->u1 = buf;
    st->u2 = buf + n;
    st->h1 = buf + 2 * n;
    st->h2 = buf + 3 * n;
    st->msq_raw = buf + 4 * n;
    st->msq_hp = buf + 5 * n;
    st->yl = buf + 6 * n;
    double *s = buf + N_STATE * n;
    st->sd = s;
    for (int k = 0; k < 4; k++)
        st->sp[k] = s + (1 + k) * n * CHUNK;
    st->sx = s + 5 * n * CHUNK;
    st->sy = s + 6 * n * CHUNK;
    st->so = s + 7 * n * CHUNK;
    st->sf = s + 8 * n * CHUNK;
    st->sm = s + 9 * n * CHUNK;
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
    st->hlf_t = log2(100.0); /* the high pass's frequency until one is set */
    ob_compressor_set_sidechain_hpf_hz(st, 0.0);
    ob_compressor_reset(st);
    return st;
}

void ob_compressor_free(ob_compressor *st)
{
    if (!st)
        return;
    free(st->u1);
    free(st);
}

void ob_compressor_reset(ob_compressor *st)
{
    for (int c = 0; c < st->nch; c++) {
        st->u1[c] = st->u2[c] = st->h1[c] = st->h2[c] = 0.0;
        st->msq_raw[c] = st->msq_hp[c] = st->yl[c] = 0.0;
    }
    st->on_bq = st->on_mr = st->on_mh = 1; /* zero history (silence) is valid state */
    st->phase = 0;
    st->hp_wait = 0;
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
        st->hlf_t = log2(hz);  /* off: the frequency stays where it was */
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

/* ---- process stages ----------------------------------------------------------
 *
 * The recursions (high pass, RMS averagers, attack/release) run up to two
 * channels side by side, so that independent chains share each loop
 * iteration; channel counts and kinds are constants at each call (the
 * STAGE functions inline), so the inner loops unroll.
 */

/* Starting value for an RMS averager of channel c when no other averager
 * runs to copy from: the power whose static-curve gain reduction is the
 * current y_L (the curve inverted), so the new detector starts where the gain
 * reduction is; with no gain reduction, the power of the current input. */
static double prime_power(const ob_compressor *st, int c)
{
    const double t = st->yl[c], slope = st->slope, knee = st->knee;
    if (!(t > 0.0) || !(slope > 0.0)) {
        const double d = st->sd[(size_t)c * CHUNK];
        return d * d;
    }
    const double over = t >= 0.5 * slope * knee ? t / slope
                                                : sqrt(2.0 * knee * t / slope) - 0.5 * knee;
    return pow(10.0, (st->thr + over) / 10.0);
}

/* Feed-forward half of the sidechain high pass (direct form I), all
 * channels: f = b0 d[n] + b1 d[n-1] + b2 d[n-2] into sf (vectorises). */
STAGE void hp_feed(ob_compressor *st, int n)
{
    const double b0 = st->b0, b1 = st->b1, b2 = st->b2;
    for (int c = 0; c < st->nch; c++) {
        const double *d = st->sd + (size_t)c * CHUNK;
        double *f = st->sf + (size_t)c * CHUNK;
        const double u1 = st->u1[c], u2 = st->u2[c];
        f[0] = (b0 * d[0] + b1 * u1) + b2 * u2;
        if (n > 1)
            f[1] = (b0 * d[1] + b1 * d[0]) + b2 * u1;
        for (int j = 2; j < n; j++)
            f[j] = (b0 * d[j] + b1 * d[j - 1]) + b2 * d[j - 2];
        st->u2[c] = n > 1 ? d[n - 2] : u1;
        st->u1[c] = d[n - 1];
    }
}

/* Which detector recursion a pass runs ahead of its targets ("S1"). */
enum { S1_NONE, S1_MSQ, S1_HP, S1_HPM };

#define PICK(lo, a, b) ((lo) ? ((a) < (b) ? (a) : (b)) : ((a) > (b) ? (a) : (b)))

/* One S1 step at frame j for channels c1..c1+G1-1 (arrays already offset to
 * c1): raw mean square m = a m + b d^2 (S1_MSQ, in = sp[0], om = sp[1]); or
 * the high pass's recursive half h = (f - a2 h[n-2]) - a1 h[n-1] (in = sf),
 * h^2 into op = sp[2], and for S1_HPM its mean square into om = sp[3]. */
STAGE void s1_step(int kind, int G1, const double *in, double *op, double *om, double *h1,
                   double *h2, double *m, int j, double a, double b, double a1, double a2)
{
    for (int g = 0; g < G1; g++) {
        const int k = g * CHUNK + j;
        if (kind == S1_MSQ) {
            m[g] = a * m[g] + b * in[k];
            om[k] = m[g];
        } else {
            const double h = (in[k] - a2 * h2[g]) - a1 * h1[g];
            h2[g] = h1[g];
            h1[g] = h;
            const double p = h * h;
            op[k] = p;
            if (kind == S1_HPM) {
                m[g] = a * m[g] + b * p;
                om[k] = m[g];
            }
        }
    }
}

/* Two S1 steps (j, j + 1); for the high pass h1 and h2 swap roles instead of
 * values (same arithmetic as two single steps). */
STAGE void s1_step2(int kind, int G1, const double *in, double *op, double *om, double *h1,
                    double *h2, double *m, int j, double a, double b, double a1, double a2)
{
    if (kind == S1_MSQ) {
        s1_step(kind, G1, in, op, om, h1, h2, m, j, a, b, a1, a2);
        s1_step(kind, G1, in, op, om, h1, h2, m, j + 1, a, b, a1, a2);
        return;
    }
    for (int g = 0; g < G1; g++) {
        const int k = g * CHUNK + j;
        const double h = (in[k] - a2 * h2[g]) - a1 * h1[g];
        const double hn = (in[k + 1] - a2 * h1[g]) - a1 * h;
        h2[g] = h;
        h1[g] = hn;
        const double p = h * h, pn = hn * hn;
        op[k] = p;
        op[k + 1] = pn;
        if (kind == S1_HPM) {
            m[g] = a * m[g] + b * p;
            om[k] = m[g];
            m[g] = a * m[g] + b * pn;
            om[k + 1] = m[g];
        }
    }
}

/* One attack/release step at frame j for G3 channels (arrays offset):
 * y = F(y, x) with F(y, x) = max(A, R), A = a_A y + (1 - a_A) x,
 * R = a_R y + (1 - a_R) x.  A - R = (a_R - a_A)(x - y): when attack is the
 * faster (a_A <= a_R) the branch "A if x > y, else R" is max(A, R); when it is
 * the slower, min(A, R) (`slow`).  No compare-and-branch on the recursion's
 * path; ties differ by rounding only.  Returns the running max of y. */
STAGE double s3_step(int G3, int slow, const double *x, double *y, double *v, int j, double aa,
                     double ar, double ba, double br, double pk)
{
    for (int g = 0; g < G3; g++) {
        const int k = g * CHUNK + j;
        const double ya = aa * v[g] + ba * x[k], yr = ar * v[g] + br * x[k];
        const double w = PICK(slow, ya, yr);
        v[g] = w;
        y[k] = w;
        pk = w > pk ? w : pk;
    }
    return pk;
}

/* The recursions in one loop: S1 (kind, channels c1..c1+G1-1, frames
 * 0..n1-1; its inputs sp[0] or sf ready) and attack/release (channels
 * c3..c3+G3-1, frames 0..n3-1, sx -> sy), side by side while both run: they
 * are independent (S1 may belong to the next pass), so their latencies
 * overlap.  Either may be absent (kind S1_NONE, G3 0).  Returns the largest y. */
STAGE double chains(int kind, int G1, int G3, int slow, ob_compressor *st, int c1, int n1,
                    int c3, int n3)
{
    const double a = st->a_rms, b = 1.0 - a, a1 = st->a1, a2 = st->a2;
    const size_t o1 = (size_t)c1 * CHUNK;
    const double *in = (kind == S1_MSQ ? st->sp[0] : st->sf) + o1;
    double *op = st->sp[2] + o1, *om = (kind == S1_MSQ ? st->sp[1] : st->sp[3]) + o1;
    double *msq = kind == S1_MSQ ? st->msq_raw : st->msq_hp;
    double h1[2] = {0.0, 0.0}, h2[2] = {0.0, 0.0}, m[2] = {0.0, 0.0};
    if (kind != S1_NONE)
        for (int g = 0; g < G1; g++) {
            h1[g] = st->h1[c1 + g];
            h2[g] = st->h2[c1 + g];
            m[g] = msq[c1 + g];
        }
    const double aa = st->a_att, ar = st->a_rel, ba = 1.0 - aa, br = 1.0 - ar;
    const size_t o3 = (size_t)c3 * CHUNK;
    const double *x = st->sx + o3;
    double *y = st->sy + o3;
    double v[2] = {0.0, 0.0};
    for (int g = 0; g < G3; g++)
        v[g] = st->yl[c3 + g];
    double pk = 0.0;

    const int both = kind != S1_NONE && G3 > 0 ? (n1 < n3 ? n1 : n3) : 0;
    int j = 0;
    for (; j + 1 < both; j += 2) {
        pk = s3_step(G3, slow, x, y, v, j, aa, ar, ba, br, pk);
        pk = s3_step(G3, slow, x, y, v, j + 1, aa, ar, ba, br, pk);
        s1_step2(kind, G1, in, op, om, h1, h2, m, j, a, b, a1, a2);
    }
    for (; j < both; j++) {
        pk = s3_step(G3, slow, x, y, v, j, aa, ar, ba, br, pk);
        s1_step(kind, G1, in, op, om, h1, h2, m, j, a, b, a1, a2);
    }
    if (kind != S1_NONE) {
        int j1 = j;
        for (; j1 + 1 < n1; j1 += 2)
            s1_step2(kind, G1, in, op, om, h1, h2, m, j1, a, b, a1, a2);
        for (; j1 < n1; j1++)
            s1_step(kind, G1, in, op, om, h1, h2, m, j1, a, b, a1, a2);
        for (int g = 0; g < G1; g++) {
            st->h1[c1 + g] = h1[g];
            st->h2[c1 + g] = h2[g];
            msq[c1 + g] = m[g];
        }
    }
    if (G3 > 0) {
        for (int j3 = j; j3 < n3; j3++)
            pk = s3_step(G3, slow, x, y, v, j3, aa, ar, ba, br, pk);
        for (int g = 0; g < G3; g++)
            st->yl[c3 + g] = v[g];
    }
    return pk;
}

/* S1 alone over channels 0..nch-1 (pairs, then a single). */
STAGE void s1_run(int kind, ob_compressor *st, int n)
{
    int c = 0;
    for (; c + 1 < st->nch; c += 2)
        chains(kind, 2, 0, 0, st, c, n, 0, 0);
    if (c < st->nch)
        chains(kind, 1, 0, 0, st, c, n, 0, 0);
}

/* Gain reduction targets of detector k (powers sp[k]), weighted by w, into
 * sx; `first`: sx holds nothing yet (assign instead of add).  Returns 0 if
 * the whole pass is below the knee (no target added), else 1. */
STAGE int targets(int hard, ob_compressor *st, int k, double w, int first, int n,
                  const curve *cv)
{
    const int nch = st->nch;
    const double *p = st->sp[k];
    double *x = st->sx, *o = st->so, *sm = st->sm;
    const double link = st->link;

    int above = 0;
    for (int c = 0; c < nch && !above; c++) {
        const double *pc = p + (size_t)c * CHUNK;
        const double pk = cv->p_knee;
        for (int j = 0; j < n; j++)
            above |= pc[j] >= pk;
    }
    if (!above) {  /* the whole pass below the knee: no reduction */
        if (first)
            for (int c = 0; c < nch; c++)
                memset(x + (size_t)c * CHUNK, 0, (size_t)n * sizeof *x);
        return 0;
    }

    if (link >= 1.0) {  /* one target from the loudest channel */
        for (int j = 0; j < n; j++)
            sm[j] = p[j];
        for (int c = 1; c < nch; c++) {
            const double *pc = p + (size_t)c * CHUNK;
            for (int j = 0; j < n; j++)
                sm[j] = pc[j] > sm[j] ? pc[j] : sm[j];
        }
        for (int j = 0; j < n; j++)
            sm[j] = w * gain_computer(hard, sm[j], cv);
        for (int c = 0; c < nch; c++) {
            double *xc = x + (size_t)c * CHUNK;
            if (first)
                memcpy(xc, sm, (size_t)n * sizeof *xc);
            else
                for (int j = 0; j < n; j++)
                    xc[j] += sm[j];
        }
        return 1;
    }

    if (link == 0.0 && first && w == 1.0) {  /* each channel its own target */
        for (int c = 0; c < nch; c++) {
            const double *pc = p + (size_t)c * CHUNK;
            double *xc = x + (size_t)c * CHUNK;
            for (int j = 0; j < n; j++)
                xc[j] = gain_computer(hard, pc[j], cv);
        }
        return 1;
    }
    /* own targets; the linked one is the largest of them (the curve is monotonic) */
    for (int c = 0; c < nch; c++) {
        const double *pc = p + (size_t)c * CHUNK;
        double *oc = o + (size_t)c * CHUNK;
        for (int j = 0; j < n; j++)
            oc[j] = gain_computer(hard, pc[j], cv);
    }
    if (link > 0.0) {
        for (int j = 0; j < n; j++)
            sm[j] = o[j];
        for (int c = 1; c < nch; c++) {
            const double *oc = o + (size_t)c * CHUNK;
            for (int j = 0; j < n; j++)
                sm[j] = oc[j] > sm[j] ? oc[j] : sm[j];
        }
        for (int c = 0; c < nch; c++) {
            double *oc = o + (size_t)c * CHUNK;
            for (int j = 0; j < n; j++)
                oc[j] = oc[j] + link * (sm[j] - oc[j]);
        }
    }
    for (int c = 0; c < nch; c++) {
        double *xc = x + (size_t)c * CHUNK;
        const double *oc = o + (size_t)c * CHUNK;
        if (first)
            for (int j = 0; j < n; j++)
                xc[j] = w * oc[j];
        else
            for (int j = 0; j < n; j++)
                xc[j] += w * oc[j];
    }
    return 1;
}

/* ---- process ---------------------------------------------------------------
 *
 * Outside a parameter ramp the signal goes through in passes of up to CHUNK
 * frames (along the grid, see CHUNK), stage by stage: each stage is a loop
 * over the pass, so the log and exp stages vectorise and the recursions run
 * without the rest in their way.  During a ramp, one frame per pass, after
 * one ramp step (so a ramp ends at the same sample whatever the block size).
 * Stages of a pass: front (detector input, starting/stopping recursions,
 * d^2, the high pass's feed-forward half), S1 (the detector recursions),
 * targets, attack/release, back (gains, applied).  Outside a ramp, with one
 * or two channels, a pass's S1 runs in one loop with the previous pass's
 * attack/release (`chains`): the same arithmetic, in another order.
 *
 * Detectors (weights from det and hmix; exactly one is 1 outside a ramp):
 *   sp[0] = d^2           raw, peak           weight (1 - hmix)(1 - det)
 *   sp[1] = msq_raw       raw, RMS            weight (1 - hmix) det
 *   sp[2] = h^2           high-passed, peak   weight hmix (1 - det)
 *   sp[3] = msq_hp        high-passed, RMS    weight hmix det
 * Only detectors with weight run (several only while a switch crossfades
 * their targets, linearly in dB).  No cold state is heard: the high pass,
 * switched on, starts from the steady state of a constant input equal to
 * the current sample and runs hp_warmup samples before its weight moves
 * (see ramp_step); an RMS averager starts at the other path's mean square if
 * that one runs (filter switched), else at the power that gives the current
 * y_L (detector switched; see prime_power).
 *
 * Glossary (per frame j of a pass; c = channel, or M (c=0) / S (c=1)):
 *   sd        detector input d: x_c, or the L/R -> M/S crossfade by msmix
 *   sf, h     feed-forward half of the sidechain high pass (state u1, u2),
 *             and its output h (state h1, h2)
 *   msq_*[c]  RMS averagers: m = a_rms m + (1 - a_rms) power
 *   sx        gain reduction target x_L: per detector, own level's reduction
 *             interpolated by link towards the loudest channel's; summed with
 *             the detector weights.  A detector whose pass stays below the
 *             knee (p < p_knee) gives 0 without a log.
 *   yl[c]     smoothed gain reduction y_L, dB, smooth branching detector;
 *             with link 1 and equal y_L, one recursion serves all channels;
 *             with y_L = 0 and no target in the pass, none runs
 *   sy        y_L per frame, then the linear gain 10^((makeup - y_L)/20)
 *             (exactly the makeup gain where y_L = 0)
 *   peak      largest y_L (merged into the gr_max meter)
 */
typedef struct {
    int i0, n;               /* frames i0..i0+n-1 of the block */
    double w[4];             /* detector weights */
    int need_raw, need_mr, need_bq, need_mh, s1;  /* recursions run; S1 kind (steady) */
    int above;               /* some target in the pass */
    int same, nrun, slow;    /* attack/release plan, see plan3 */
    int unity[OB_MAX_CHANNELS];
} pass_t;

CLONES static void front(ob_compressor *st, float **ch, int i0, int n, pass_t *P)
{
    const int nch = st->nch;
    const double mu = st->msmix, hm = st->hmix, det = st->det;
    P->i0 = i0;
    P->n = n;
    P->w[0] = (1.0 - hm) * (1.0 - det);
    P->w[1] = (1.0 - hm) * det;
    P->w[2] = hm * (1.0 - det);
    P->w[3] = hm * det;
    P->need_raw = P->w[0] != 0.0 || P->w[1] != 0.0;
    P->need_bq = P->w[2] != 0.0 || P->w[3] != 0.0 || st->hp_wait > 0;
    P->need_mr = P->w[1] != 0.0;
    P->need_mh = P->w[3] != 0.0;
    P->s1 = P->need_bq ? (P->need_mh ? S1_HPM : S1_HP) : P->need_mr ? S1_MSQ : S1_NONE;
    double *sd = st->sd;

    /* detector input */
    for (int c = 0; c < nch; c++) {
        double *d = sd + (size_t)c * CHUNK;
        const float *x = ch[c] + i0;
        if (mu == 0.0) {
            for (int j = 0; j < n; j++)
                d[j] = x[j];
        } else {  /* nch == 2 */
            const float *l = ch[0] + i0, *r = ch[1] + i0;
            if (c == 0)
                for (int j = 0; j < n; j++)
                    d[j] = 0.5 * ((double)l[j] + r[j]);
            else
                for (int j = 0; j < n; j++)
                    d[j] = 0.5 * ((double)l[j] - r[j]);
            if (mu != 1.0)
                for (int j = 0; j < n; j++)
                    d[j] = x[j] + mu * (d[j] - x[j]);
        }
    }

    /* start and stop recursive parts */
    if (P->need_bq && !st->on_bq)
        for (int c = 0; c < nch; c++) {  /* steady state of a constant input: h = 0 */
            st->u1[c] = st->u2[c] = sd[(size_t)c * CHUNK];
            st->h1[c] = st->h2[c] = 0.0;
        }
    if (P->need_mh && !st->on_mh)
        for (int c = 0; c < nch; c++)
            st->msq_hp[c] = st->on_mr ? st->msq_raw[c] : prime_power(st, c);
    if (P->need_mr && !st->on_mr)
        for (int c = 0; c < nch; c++)
            st->msq_raw[c] = st->on_mh ? st->msq_hp[c] : prime_power(st, c);
    st->on_bq = P->need_bq;
    st->on_mr = P->need_mr;
    st->on_mh = P->need_mh;

    /* inputs of the recursions */
    if (P->need_raw) {
        double *p = st->sp[0];
        for (int c = 0; c < nch; c++) {
            const double *d = sd + (size_t)c * CHUNK;
            double *pc = p + (size_t)c * CHUNK;
            for (int j = 0; j < n; j++)
                pc[j] = d[j] * d[j];
        }
    }
    if (P->need_bq)
        hp_feed(st, n);
}

/* S1 alone, every recursion the pass needs. */
CLONES static void s1_all(ob_compressor *st, const pass_t *P)
{
    if (P->need_mr)
        s1_run(S1_MSQ, st, P->n);
    if (P->need_bq) {
        if (P->need_mh)
            s1_run(S1_HPM, st, P->n);
        else
            s1_run(S1_HP, st, P->n);
    }
}

CLONES static void targets_all(ob_compressor *st, pass_t *P)
{
    const curve cv = {st->thr, st->slope, st->knee,
                      st->knee > 0.0 ? 1.0 / (2.0 * st->knee) : 0.0, st->p_knee};
    int first = 1, above = 0;
    for (int k = 0; k < 4; k++)
        if (P->w[k] != 0.0) {
            above |= cv.knee == 0.0 ? targets(1, st, k, P->w[k], first, P->n, &cv)
                                    : targets(0, st, k, P->w[k], first, P->n, &cv);
            first = 0;
        }
    P->above = above;
}

/* Attack/release plan: with link 1 and equal y_L, one recursion for all
 * channels (`same`, nrun = 1); a channel with y_L = 0 and no target in the
 * pass stays at 0 (`unity`, no recursion, makeup gain). */
STAGE void plan3(ob_compressor *st, pass_t *P)
{
    const int nch = st->nch;
    const double *yl = st->yl;
    int same = st->link >= 1.0;
    for (int c = 1; c < nch && same; c++)
        same = yl[c] == yl[0];
    P->same = same;
    P->nrun = same ? 1 : nch;
    P->slow = st->a_att > st->a_rel;
    for (int c = 0; c < P->nrun; c++)
        P->unity[c] = yl[c] == 0.0 && !P->above;
}

/* The attack/release recursions of a pass: first (c3, G3) group to run from
 * channel *c (advancing it); G3 = 0 when none is left. */
STAGE int next_group(const pass_t *P, int *c, int *G3)
{
    while (*c < P->nrun && P->unity[*c])
        (*c)++;
    if (*c >= P->nrun) {
        *G3 = 0;
        return 0;
    }
    *G3 = *c + 1 < P->nrun ? 2 : 1;
    const int c3 = *c;
    *c += *G3;
    return c3;
}

/* Attack/release of a pass alone. */
CLONES static double s3_all(ob_compressor *st, const pass_t *P)
{
    double peak = 0.0, pk;
    int c = 0, G3;
    for (;;) {
        const int c3 = next_group(P, &c, &G3);
        if (G3 == 2)
            pk = P->slow ? chains(S1_NONE, 0, 2, 1, st, 0, 0, c3, P->n)
                         : chains(S1_NONE, 0, 2, 0, st, 0, 0, c3, P->n);
        else if (G3 == 1)
            pk = P->slow ? chains(S1_NONE, 0, 1, 1, st, 0, 0, c3, P->n)
                         : chains(S1_NONE, 0, 1, 0, st, 0, 0, c3, P->n);
        else
            break;
        peak = pk > peak ? pk : peak;
    }
    if (P->same)
        for (int k = 1; k < st->nch; k++)
            st->yl[k] = st->yl[0];
    return peak;
}

CLONES static void back(ob_compressor *st, float **ch, const pass_t *P)
{
    const int nch = st->nch, n = P->n, i0 = P->i0;
    const double mu = st->msmix, mk = st->mk, mk_lin = st->mk_lin;
    double *sy = st->sy;

    /* linear gains */
    for (int c = 0; c < P->nrun; c++) {
        double *g = sy + (size_t)c * CHUNK;
        if (P->unity[c]) {
            for (int j = 0; j < n; j++)
                g[j] = mk_lin;
        } else {
            for (int j = 0; j < n; j++) {
                const double v = db_to_gain(mk - g[j]);
                g[j] = g[j] == 0.0 ? mk_lin : v;
            }
        }
    }

    /* apply */
    if (mu == 0.0) {
        for (int c = 0; c < nch; c++) {
            const double *g = sy + (size_t)(P->same ? 0 : c) * CHUNK;
            float *x = ch[c] + i0;
            for (int j = 0; j < n; j++)
                x[j] = (float)(g[j] * x[j]);
        }
    } else {
        const double *g0 = sy, *g1 = sy + (P->same ? 0 : CHUNK);
        float *l = ch[0] + i0, *r = ch[1] + i0;
        if (mu == 1.0) {
            for (int j = 0; j < n; j++) {
                const double lv = l[j], rv = r[j];
                const double m = g0[j] * 0.5 * (lv + rv), s = g1[j] * 0.5 * (lv - rv);
                l[j] = (float)(m + s);
                r[j] = (float)(m - s);
            }
        } else {  /* (1-mu) diag(g0, g1) + mu * (M/S decode . diag . encode) */
            for (int j = 0; j < n; j++) {
                const double lv = l[j], rv = r[j];
                const double gs = 0.5 * (g0[j] + g1[j]), gd = 0.5 * (g0[j] - g1[j]);
                const double a = g0[j] + mu * (gs - g0[j]), dd = g1[j] + mu * (gs - g1[j]);
                const double b = mu * gd;
                l[j] = (float)(a * lv + b * rv);
                r[j] = (float)(b * lv + dd * rv);
            }
        }
    }
}

/* At a grid line: flush the recursive state (see CHUNK); S1's and
 * attack/release's separately, for the pipelined order. */
static void flush_s1(ob_compressor *st)
{
    for (int c = 0; c < st->nch; c++) {
        st->h1[c] = ob_flush(st->h1[c]);
        st->h2[c] = ob_flush(st->h2[c]);
        st->msq_raw[c] = ob_flush(st->msq_raw[c]);
        st->msq_hp[c] = ob_flush(st->msq_hp[c]);
    }
}

static void flush_s3(ob_compressor *st)
{
    for (int c = 0; c < st->nch; c++)
        st->yl[c] = ob_flush(st->yl[c]);
}

/* Frames in a pass starting at grid phase `phase`: to the grid line, at
 * most the `left` frames of the block. */
static int pass_len(int phase, int left)
{
    return CHUNK - phase < left ? CHUNK - phase : left;
}

/* Advances the grid by n frames; flushes at a grid line. */
static void advance(ob_compressor *st, int n)
{
    st->phase += n;
    if (st->phase == CHUNK) {
        st->phase = 0;
        flush_s1(st);
        flush_s3(st);
    }
}

/* One pass, stage after stage. */
static double run_pass(ob_compressor *st, float **ch, int i0, int n)
{
    pass_t P;
    front(st, ch, i0, n, &P);
    s1_all(st, &P);
    targets_all(st, &P);
    plan3(st, &P);
    const double peak = s3_all(st, &P);
    back(st, ch, &P);
    advance(st, n);
    return peak;
}

/* The attack/release of pass A with the S1 recursion of pass B in one loop
 * (1 or 2 channels, one S1 kind; attack the faster, the common case). */
CLONES static double fused(ob_compressor *st, const pass_t *A, const pass_t *B)
{
    int c = 0, G3;
    const int c3 = next_group(A, &c, &G3);
    const int k = B->s1, G1 = st->nch, slow = A->slow;
    double pk;
#define FUSED_CASE(kk, g1, g3, sl) \
    if (k == kk && G1 == g1 && G3 == g3 && slow == sl) \
        pk = chains(kk, g1, g3, sl, st, 0, B->n, c3, A->n); \
    else
#define FUSED_KIND(kk) FUSED_CASE(kk, 2, 2, 0) FUSED_CASE(kk, 2, 1, 0) FUSED_CASE(kk, 1, 1, 0)
    FUSED_KIND(S1_MSQ) FUSED_KIND(S1_HP) FUSED_KIND(S1_HPM) {
        /* the other cases (slow attack, no attack/release to run): one
         * after the other (they are independent) */
        pk = s3_all(st, A);
        s1_all(st, B);
        return pk;
    }
#undef FUSED_KIND
#undef FUSED_CASE
    if (A->same)
        for (int k2 = 1; k2 < st->nch; k2++)
            st->yl[k2] = st->yl[0];
    return pk;
}

/* Frames i0..frames-1 outside a ramp, pass after pass; with 1 or 2 channels
 * and an S1 recursion, each pass's S1 runs with the previous pass's
 * attack/release (see fused).  Returns the largest y. */
static double run_steady(ob_compressor *st, float **ch, int i0, int frames)
{
    double peak = 0.0, pk;
    int i = i0;
    /* the first pass alone: it may start or stop recursions */
    int n = pass_len(st->phase, frames - i);
    peak = run_pass(st, ch, i, n);
    i += n;
    if (i >= frames)
        return peak;

    pass_t P[2];
    int a = 0;
    front(st, ch, i, pass_len(st->phase, frames - i), &P[a]);
    s1_all(st, &P[a]);
    targets_all(st, &P[a]);
    const int pipe = st->nch <= 2 && P[a].s1 != S1_NONE;
    for (;;) {
        pass_t *A = &P[a], *B = &P[a ^ 1];
        const int next = A->i0 + A->n;
        const int grid = st->phase + A->n == CHUNK;
        if (pipe && next < frames) {
            front(st, ch, next, pass_len((st->phase + A->n) % CHUNK, frames - next), B);
            if (grid)
                flush_s1(st);
            plan3(st, A);
            pk = fused(st, A, B);
        } else {
            plan3(st, A);
            pk = s3_all(st, A);
            if (grid)
                flush_s1(st);
        }
        peak = pk > peak ? pk : peak;
        if (grid)
            flush_s3(st);
        back(st, ch, A);
        st->phase = (st->phase + A->n) % CHUNK;
        if (next >= frames)
            break;
        if (!(pipe && next < frames)) {
            front(st, ch, next, pass_len(st->phase, frames - next), B);
            s1_all(st, B);
        }
        targets_all(st, B);
        a ^= 1;
    }
    return peak;
}

int ob_compressor_process(ob_compressor *st, float **ch, int nch, int frames)
{
    if (nch != st->nch || frames < 0)
        return OB_ERR_ARG;
    if (frames == 0)
        return OB_OK;
    st->fresh = 0;
    double peak = 0.0, pk;
    int i = 0;
    while (i < frames && st->ramping) {  /* a ramp: one frame per pass */
        ramp_step(st);
        pk = run_pass(st, ch, i, 1);
        peak = pk > peak ? pk : peak;
        i++;
    }
    if (i < frames) {
        pk = run_steady(st, ch, i, frames);
        peak = pk > peak ? pk : peak;
    }

    double now = 0.0;
    for (int c = 0; c < nch; c++)
        if (st->yl[c] > now)
            now = st->yl[c];
    atomic_store_explicit(&st->gr_now, now, memory_order_relaxed);
    double old = atomic_load_explicit(&st->gr_max, memory_order_relaxed);
    while (peak > old && !atomic_compare_exchange_weak_explicit(
               &st->gr_max, &old, peak, memory_order_relaxed, memory_order_relaxed)) {
    }
    return OB_OK;
}
