/* ob_internal.h -- helpers shared by the kernel sources (not part of the API). */
#ifndef OB_INTERNAL_H
#define OB_INTERNAL_H

#include <math.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* Values below this magnitude in recursive state are flushed to zero, so a
 * decaying filter or envelope never runs on denormals (1e-30 is ~ -600 dB). */
#define OB_DENORMAL_LIMIT 1e-30

static inline double ob_flush(double x) { return fabs(x) < OB_DENORMAL_LIMIT ? 0.0 : x; }
static inline double ob_db_to_lin(double db) { return pow(10.0, db / 20.0); }
static inline double ob_lin_to_db(double lin) { return lin > 0.0 ? 20.0 * log10(lin) : -HUGE_VAL; }
/* One-pole smoothing coefficient for a time constant in ms at rate fs. */
static inline double ob_tau_coeff(double ms, double fs)
{
    return ms <= 0.0 ? 0.0 : exp(-1.0 / (ms * 0.001 * fs));
}

/* A raised-cosine ramp toward a target, advanced per sample: from `from`
 * to `to` over len samples along from + (to - from)(1 - cos(pi k / len))/2,
 * k = 1..len (the last sample lands on the target exactly).  Its derivative
 * is a Hann pulse, so a parameter moved this way spreads far less energy
 * beside a tone than a linear or one-pole ramp.  cos(pi k / len) is kept by
 * a rotation (c, s), exact enough over any ramp (error ~1e-13). */
typedef struct {
    double cur, from, to;
    double c, s, cd, sd;   /* cos, sin of pi k / len; of the step pi / len */
    int left;              /* samples until cur == to */
} ob_sramp;

static inline void ob_sramp_init(ob_sramp *r, double v)
{
    r->cur = r->from = r->to = v;
    r->left = 0;
}

static inline void ob_sramp_set(ob_sramp *r, double target, int len)
{
    r->from = r->cur;
    r->to = target;
    r->left = target == r->cur || len < 1 ? 0 : len;
    if (r->left == 0) {
        r->cur = target;
        return;
    }
    r->c = 1.0;
    r->s = 0.0;
    r->cd = cos(M_PI / len);
    r->sd = sin(M_PI / len);
}

static inline void ob_sramp_snap(ob_sramp *r)
{
    r->cur = r->to;
    r->left = 0;
}

static inline double ob_sramp_next(ob_sramp *r)
{
    if (r->left > 0) {
        const double c = r->c * r->cd - r->s * r->sd;
        r->s = r->s * r->cd + r->c * r->sd;
        r->c = c;
        r->cur = --r->left ? r->from + (r->to - r->from) * 0.5 * (1.0 - c) : r->to;
    }
    return r->cur;
}

/* Modified Bessel function of the first kind, order 0 (power series), for
 * Kaiser windows. */
static inline double ob_bessel_i0(double x)
{
    double sum = 1.0, term = 1.0, q = 0.25 * x * x;
    for (int k = 1; k < 200; k++) {
        term *= q / ((double)k * (double)k);
        sum += term;
        if (term < sum * 1e-17)
            break;
    }
    return sum;
}

#endif
