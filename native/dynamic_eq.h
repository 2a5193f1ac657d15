/*
 * dynamic_eq.h -- dynamic equalizer: 1..4 bands in series, each an RBJ peak,
 * low shelf or high shelf whose gain follows a detector on its own band.
 *
 * Usage
 *   ob_dynamic_eq *d = ob_dynamic_eq_new(48000.0, 2, 1);        one band
 *   ob_dynamic_eq_set(d, OB_DEQ_TYPE, 0, OB_DEQ_PEAK);
 *   ob_dynamic_eq_set(d, OB_DEQ_FREQ_HZ, 0, 7000.0);
 *   ob_dynamic_eq_set(d, OB_DEQ_THRESHOLD_DB, 0, -30.0);        de-esser
 *   ob_dynamic_eq_process(d, ch, 2, frames);                    in place
 *   double gr = ob_dynamic_eq_take_gain_reduction_db(d, 0);     band 0, dB
 *   ob_dynamic_eq_free(d);
 *   In the engine: ob_engine_add_kernel(e, OB_INSERT_DYNAMIC_EQ, d,
 *   ob_dynamic_eq_ops()) (parameters: OB_PARAM_KERNEL + OB_DEQ_*, section =
 *   band; one gain-reduction meter per band).
 *
 * Parameters (ob_dynamic_eq_set(st, id, band, value); band 0..bands-1, or
 * -1 for every band; OB_OK, or OB_ERR_ARG and nothing changed)
 *   fs            sample rate, Hz, 8000..768000 (fixed at new)
 *   nch           channels, 1..OB_MAX_CHANNELS (fixed at new); one gain per
 *                 band for all channels (linked: the image does not move)
 *   bands         1..OB_DEQ_MAX_BANDS (fixed at new)
 *   OB_DEQ_TYPE          OB_DEQ_PEAK, _LOWSHELF, _HIGHSHELF  (default peak)
 *   OB_DEQ_FREQ_HZ       centre / shelf midpoint, Hz, 10..0.45 fs (default 1000)
 *   OB_DEQ_Q             quality factor, 0.1..10 (shelves: the cookbook's Q
 *                        form, 0.7071 = slope S 1)         (default 0.7071)
 *   OB_DEQ_GAIN_DB       static gain, dB, -24..24                (default 0)
 *   OB_DEQ_THRESHOLD_DB  detector threshold, dB, -80..0        (default -20)
 *   OB_DEQ_RATIO         1..100 (1: no dynamic change)           (default 2)
 *   OB_DEQ_ATTACK_MS     ms, 0.1..500                            (default 5)
 *   OB_DEQ_RELEASE_MS    ms, 1..5000                           (default 100)
 *   OB_DEQ_RANGE_DB      most gain change, dB, 0..24 (0: static EQ)
 *                                                                (default 12)
 *   OB_DEQ_MODE          OB_DEQ_ABOVE: compress above the threshold;
 *                        OB_DEQ_BELOW: expand below it     (default above)
 *
 * Method, per sample n, band b in order (the detectors all read the
 * kernel's input; the filters run in series):
 *   d_c    the input of channel c through the cookbook band pass (constant
 *          0 dB peak gain) at the band's frequency and Q
 *   p      max over c of the one-pole mean square of d_c, time constant
 *          max(OB_DEQ_RMS_MS, 2 periods of the band frequency)
 *   L      10 log10(p), dB (a sine in the band at full scale reads -3.01)
 *   r_t    above: max(0, L - T) (1 - 1/R);  below: max(0, T - L) (R - 1);
 *          then min(r_t, range)                               (dB >= 0)
 *   r      r[n] = a r[n-1] + (1 - a) r_t, a = exp(-1/(tau fs)) with tau the
 *          attack when r_t > r[n-1] (the cut deepens), else the release
 *   G      gain_db - r: the band's filter is the cookbook peak / shelf of
 *          gain G (recomputed only when G or the frequency moves), direct
 *          form I in double.
 * So when the detector is idle (far below the threshold in mode above) a
 * band is exactly its static cookbook filter; on a steady sine in the band,
 * G settles at gain_db - (L - T)(1 - 1/R) (above), within the ripple of the
 * mean square.
 *
 * Parameter changes ramp along a raised cosine (ob_sramp: its slope is a
 * Hann pulse, so a change beside a tone spreads little) over OB_DEQ_RAMP_MS:
 * frequency (log), Q (log), static gain, threshold, ratio and range; a new
 * mode crossfades the two targets r_t; a new type fades the band to 0 dB (an
 * identity filter for every type), switches, and fades back (twice the
 * ramp).  Attack and release change at
 * once.  Between new/reset and the first process call, setters take effect
 * at once.  Setters and process must not run at the same time.
 *
 * Latency: 0 samples.  Output does not depend on block size (ramps per
 * sample; state flushed below 1e-30 and cleared of NaN/Inf on a grid of 128
 * samples counted from new/reset).  State is double.  process allocates
 * nothing (real-time safe).
 */
#ifndef OB_DYNAMIC_EQ_H
#define OB_DYNAMIC_EQ_H

typedef struct ob_dynamic_eq ob_dynamic_eq;

enum {
    OB_DEQ_PEAK = 0,
    OB_DEQ_LOWSHELF = 1,
    OB_DEQ_HIGHSHELF = 2
};

enum {
    OB_DEQ_ABOVE = 0,
    OB_DEQ_BELOW = 1
};

/* Parameter ids of ob_dynamic_eq_set (and of the engine's OB_PARAM_KERNEL + id). */
enum {
    OB_DEQ_TYPE = 0,
    OB_DEQ_FREQ_HZ = 1,
    OB_DEQ_Q = 2,
    OB_DEQ_GAIN_DB = 3,
    OB_DEQ_THRESHOLD_DB = 4,
    OB_DEQ_RATIO = 5,
    OB_DEQ_ATTACK_MS = 6,
    OB_DEQ_RELEASE_MS = 7,
    OB_DEQ_RANGE_DB = 8,
    OB_DEQ_MODE = 9
};

enum {
    OB_DEQ_MAX_BANDS = 4,
    OB_DEQ_RMS_MS = 5,     /* shortest time constant of the detectors' mean square, ms */
    OB_DEQ_RAMP_MS = 50    /* parameter ramps, mode crossfade, type fade (each way), ms */
};

/* NULL on a bad argument or out of memory.  Bands start at the defaults. */
ob_dynamic_eq *ob_dynamic_eq_new(double fs, int nch, int bands);
void ob_dynamic_eq_free(ob_dynamic_eq *st);
/* Clear the history (filters, detectors, gain changes, meters); ramps jump to
 * their targets.  Parameters are kept.  Real-time safe. */
void ob_dynamic_eq_reset(ob_dynamic_eq *st);
/* Set a target (see Parameters).  Real-time safe. */
int ob_dynamic_eq_set(ob_dynamic_eq *st, int param, int band, double value);
/* In place; nch <= the nch given at new. */
void ob_dynamic_eq_process(ob_dynamic_eq *st, float **ch, int nch, int frames);
int ob_dynamic_eq_latency(const ob_dynamic_eq *st);
int ob_dynamic_eq_bands(const ob_dynamic_eq *st);
/* Gain change r of band b after the last sample, dB >= 0 (-1: bad band). */
double ob_dynamic_eq_gain_reduction_db(const ob_dynamic_eq *st, int band);
/* Largest r of band b since the previous take (or new/reset), dB >= 0, and
 * restarts it (-1: bad band).  Call it from the processing thread or
 * between blocks. */
double ob_dynamic_eq_take_gain_reduction_db(ob_dynamic_eq *st, int band);
/* The verbs for ob_engine_add_kernel (one gain-reduction meter per band). */
const ob_kernel_ops *ob_dynamic_eq_ops(void);

#endif
