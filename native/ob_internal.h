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

#endif
