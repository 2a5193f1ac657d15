/* limiter.c -- lookahead brick-wall true-peak limiter (see limiter.h). */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "outboard.h"
#include "ob_internal.h"

#define LIM_HOLD (OB_TRUEPEAK_TAPS / 4) /* H = D / 2 */
#define LIM_MARGIN_DB (OB_LIMITER_MARGIN_MDB * 0.001)
#define LIM_CEILING_MS 5.0 /* time constant of the detector's ceiling */
/* largest relative error allowed in the running sum of the attack ramp before
 * it is taken again exactly (1e-9: 1e-8 dB, far inside the ceiling's margin) */
#define LIM_SUM_REL_ERR 1e-9

/*
 * State glossary (times in samples; n counts input samples):
 *   N, D, H, W      latency; detector delay; hold either side of a peak;
 *                   attack ramp, W = N - D - H
 *   tp              true-peak detector (truepeak.c), one history per channel
 *   ceil_target     linear ceiling incl. the margin, set by set_ceiling
 *   ceil            detector's ceiling, one-pole towards ceil_target
 *                   (coefficient ceil_coef)
 *   rel             release step, 1 - exp(-1 / (release_ms fs / 1000))
 *   dq_val, dq_idx  monotonic deque (ring of dq_cap = W + 2H + 1 entries,
 *                   head dq_head, dq_len used): increasing values of the
 *                   required gain r over the last dq_cap samples, front =
 *                   minimum; dq_idx the sample index n of each entry
 *   avg[W + 1]      the last W + 1 sliding minima; avg_sum their sum
 *                   (re-summed exactly each time avg_pos wraps, and whenever
 *                   avg_err, a bound on its rounding error, passes
 *                   LIM_SUM_REL_ERR of it)
 *   gain            gain applied to the output sample (after release)
 *   gain_min        smallest gain since the last take
 *   delay[c][N]     input delay line per channel, dpos the oldest sample
 *   side[D]         the caller's true peaks (process_sidechain) of the last
 *                   D input intervals, a ring; spos the oldest (interval
 *                   n - D, the one the detector completes at n); 0 where
 *                   plain process ran
 */
struct ob_limiter {
    double fs;
    int nch, factor, N, D, H, W;
    double ceiling_dbtp, release_ms;
    ob_truepeak *tp;
    double ceil_target, ceil, ceil_coef, rel;
    double *dq_val;
    int64_t *dq_idx;
    int dq_cap, dq_head, dq_len;
    int64_t n;
    double *avg;
    double avg_sum, avg_err;
    int avg_len, avg_pos;
    double gain, gain_min;
    float *delay;
    int dpos;
    double *side;
    int spos;
};

static int valid_ceiling(double db) { return db >= -20.0 && db <= 0.0; }
static int valid_release(double ms) { return ms >= 1.0 && ms <= 1000.0; }

ob_limiter *ob_limiter_new(double fs, int nch, double ceiling_dbtp, double release_ms,
                           double lookahead_ms, int factor)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS ||
        !valid_ceiling(ceiling_dbtp) || !valid_release(release_ms) ||
        !(lookahead_ms >= 0.5 && lookahead_ms <= 10.0))
        return NULL;
    if (factor != 4 && factor != 8 && factor != 16)
        return NULL;
    ob_limiter *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->fs = fs;
    st->nch = nch;
    st->factor = factor;
    st->tp = ob_truepeak_new_detector(fs, nch, factor, 1);
    if (!st->tp) {
        free(st);
        return NULL;
    }
    st->D = ob_truepeak_latency(st->tp);
    st->H = LIM_HOLD;
    int N = (int)lround(lookahead_ms * 0.001 * fs);
    if (N < st->D + st->H + 2)
        N = st->D + st->H + 2;
    st->N = N;
    st->W = N - st->D - st->H;
    st->dq_cap = st->W + 2 * st->H + 1;
    st->avg_len = st->W + 1;
    st->dq_val = malloc(sizeof(double) * (size_t)st->dq_cap);
    st->dq_idx = malloc(sizeof(int64_t) * (size_t)st->dq_cap);
    st->avg = malloc(sizeof(double) * (size_t)st->avg_len);
    st->delay = malloc(sizeof(float) * (size_t)nch * (size_t)N);
    st->side = malloc(sizeof(double) * (size_t)st->D);
    if (!st->dq_val || !st->dq_idx || !st->avg || !st->delay || !st->side) {
        ob_limiter_free(st);
        return NULL;
    }
    st->ceil_coef = ob_tau_coeff(LIM_CEILING_MS, fs);
    ob_limiter_set_ceiling(st, ceiling_dbtp);
    ob_limiter_set_release(st, release_ms);
    st->ceil = st->ceil_target;
    ob_limiter_reset(st);
    return st;
}

void ob_limiter_free(ob_limiter *st)
{
    if (!st)
        return;
    ob_truepeak_free(st->tp);
    free(st->dq_val);
    free(st->dq_idx);
    free(st->avg);
    free(st->delay);
    free(st->side);
    free(st);
}

void ob_limiter_reset(ob_limiter *st)
{
    ob_truepeak_reset(st->tp);
    st->dq_head = 0;
    st->dq_len = 0;
    st->n = 0;
    for (int i = 0; i < st->avg_len; i++)
        st->avg[i] = 1.0;
    st->avg_sum = (double)st->avg_len;
    st->avg_err = 0.0;
    st->avg_pos = 0;
    st->gain = 1.0;
    st->gain_min = 1.0;
    memset(st->delay, 0, sizeof(float) * (size_t)st->nch * (size_t)st->N);
    st->dpos = 0;
    memset(st->side, 0, sizeof(double) * (size_t)st->D);
    st->spos = 0;
}

int ob_limiter_set_ceiling(ob_limiter *st, double ceiling_dbtp)
{
    if (!valid_ceiling(ceiling_dbtp))
        return OB_ERR_ARG;
    st->ceiling_dbtp = ceiling_dbtp;
    st->ceil_target = ob_db_to_lin(ceiling_dbtp - LIM_MARGIN_DB);
    return OB_OK;
}

int ob_limiter_set_release(ob_limiter *st, double release_ms)
{
    if (!valid_release(release_ms))
        return OB_ERR_ARG;
    st->release_ms = release_ms;
    st->rel = 1.0 - ob_tau_coeff(release_ms, st->fs);
    return OB_OK;
}

int ob_limiter_latency(const ob_limiter *st) { return st->N; }

double ob_limiter_gain_reduction_db(const ob_limiter *st)
{
    return st->gain < 1.0 ? -ob_lin_to_db(st->gain) : 0.0;
}

double ob_limiter_take_max_gain_reduction_db(ob_limiter *st)
{
    const double g = st->gain_min;
    st->gain_min = st->gain;
    return g < 1.0 ? -ob_lin_to_db(g) : 0.0;
}

/* One sample of the gain computer: peak p (linear, linked) of the interval
 * at detector time n - D in, gain for output time n - N out. */
static inline double gain_step(ob_limiter *restrict st, double p)
{
    /* detector ceiling: one-pole towards the target, snapped when close */
    double c = st->ceil_target + (st->ceil - st->ceil_target) * st->ceil_coef;
    if (fabs(c - st->ceil_target) < 1e-12)
        c = st->ceil_target;
    st->ceil = c;
    const double r = p > c ? c / p : 1.0;

    /* sliding minimum over the last dq_cap values of r (indices n - cap + 1
     * .. n): the front leaves the window before the push, so the deque never
     * holds more than cap entries (a slowly falling peak over the ceiling
     * pushes an increasing r every sample) */
    const int cap = st->dq_cap;
    if (st->dq_len > 0 && st->dq_idx[st->dq_head] <= st->n - cap) {
        st->dq_head = st->dq_head + 1 == cap ? 0 : st->dq_head + 1;
        st->dq_len--;
    }
    while (st->dq_len > 0) {
        int back = st->dq_head + st->dq_len - 1;
        if (back >= cap)
            back -= cap;
        if (st->dq_val[back] < r)
            break;
        st->dq_len--;
    }
    int slot = st->dq_head + st->dq_len;
    if (slot >= cap)
        slot -= cap;
    st->dq_val[slot] = r;
    st->dq_idx[slot] = st->n;
    st->dq_len++;
    st->n++;
    const double m = st->dq_val[st->dq_head];

    /* attack ramp: moving average of the minima.  The running sum adds the new
     * minimum and drops the oldest; each step's rounding adds at most
     * eps (|m - old| + |sum|) to its error.  When the minima fall by many
     * orders of magnitude (a sample of 1e24 asks for r ~ 1e-24 while the 1.0s
     * leave the window), that error would be larger than the sum itself and
     * the gain far above what the peak needs: the sum is then taken again
     * exactly.  Below ~90 dB of gain reduction this never happens between
     * the regular re-sums, so ordinary output is unchanged by it. */
    const double old = st->avg[st->avg_pos];
    st->avg_sum += m - old;
    st->avg_err += DBL_EPSILON * (fabs(m - old) + fabs(st->avg_sum));
    st->avg[st->avg_pos] = m;
    if (++st->avg_pos == st->avg_len)
        st->avg_pos = 0;
    if (st->avg_pos == 0 || st->avg_err > LIM_SUM_REL_ERR * st->avg_sum) {
        double s = 0.0;
        for (int i = 0; i < st->avg_len; i++)
            s += st->avg[i];
        st->avg_sum = s;
        st->avg_err = DBL_EPSILON * st->avg_len * s;
    }
    const double a = st->avg_sum / st->avg_len;

    /* release */
    double g = st->gain;
    if (a <= g) {
        g = a;
    } else {
        g += (a - g) * st->rel;
        if (a - g < 1e-12)
            g = a;
    }
    st->gain = g;
    if (g < st->gain_min)
        st->gain_min = g;
    return g;
}

/*
 * Per sample: push every channel into the detector (linked peak = max over
 * channels; with a sidechain, also the caller's peak of the same interval,
 * D samples back), run the gain computer, then swap the sample through the
 * delay line and scale the delayed one.
 */
static inline void process_impl(ob_limiter *restrict st, float **ch, const double *peak,
                                int nch, int frames)
{
    if (nch > st->nch)
        nch = st->nch;
    const int N = st->N, D = st->D;
    for (int i = 0; i < frames; i++) {
        double pk = 0.0;
        for (int c = 0; c < nch; c++) {
            float x = ch[c][i];
            if (!isfinite(x)) {
                x = 0.0f;
                ch[c][i] = x;
            }
            const double p = ob_truepeak_push(st->tp, c, x);
            if (p > pk)
                pk = p;
        }
        const double ps = st->side[st->spos]; /* the caller's peak of interval n - D */
        const double pn = peak ? peak[i] : 0.0;
        st->side[st->spos] = pn >= 0.0 ? pn : 0.0; /* also drops NaN */
        st->spos = st->spos + 1 == D ? 0 : st->spos + 1;
        if (ps > pk)
            pk = ps;
        const double g = gain_step(st, pk);
        const int dpos = st->dpos;
        for (int c = 0; c < nch; c++) {
            float *dl = st->delay + (size_t)c * N;
            const float y = dl[dpos];
            dl[dpos] = ch[c][i];
            ch[c][i] = (float)(g * (double)y);
        }
        st->dpos = dpos + 1 == N ? 0 : dpos + 1;
    }
}

void ob_limiter_process(ob_limiter *st, float **ch, int nch, int frames)
{
    process_impl(st, ch, NULL, nch, frames);
}

void ob_limiter_process_sidechain(ob_limiter *st, float **ch, const double *peak, int nch,
                                  int frames)
{
    process_impl(st, ch, peak, nch, frames);
}
