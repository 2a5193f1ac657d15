/*
 * multiband.h -- multiband compressor: 2..5 bands split by Linkwitz-Riley
 * crossovers, a compressor (compressor.h) on each band, bands summed.
 *
 * Usage
 *   double xo[3] = {120.0, 1000.0, 6000.0};
 *   ob_multiband *mb = ob_multiband_new(48000.0, 2, 4, 4, xo);   4 bands, LR4
 *   ob_multiband_set(mb, OB_MULTIBAND_THRESHOLD_DB, 0, -24.0);    band 0
 *   ob_multiband_set(mb, OB_MULTIBAND_RATIO, -1, 2.0);            every band
 *   ob_multiband_process(mb, ch, 2, frames);                      in place
 *   double gr = ob_multiband_take_gain_reduction_db(mb, 1);       band 1, dB
 *   ob_multiband_free(mb);
 *   In the engine: ob_engine_add_kernel(e, OB_INSERT_MULTIBAND, mb,
 *   ob_multiband_ops()) (parameters: OB_PARAM_KERNEL + OB_MULTIBAND_*,
 *   section = band; one gain-reduction meter per band).
 *
 * Parameters
 *   fs             sample rate, Hz, 8000..768000
 *   nch            channels, 1..OB_MAX_CHANNELS (mid-side mode: 2)
 *   order          crossover slope: Linkwitz-Riley 2, 4 or 8 (12, 24,
 *                  48 dB/octave), fixed at new
 *   bands          2..OB_MULTIBAND_MAX_BANDS, fixed at new
 *   crossovers_hz  bands - 1 frequencies, strictly increasing, 10 Hz ..
 *                  0.45 fs (settable: OB_MULTIBAND_CROSSOVER_HZ, index = the
 *                  crossover, glides in log frequency over 10 ms)
 *   per band (index = band 0..bands-1 from the lowest, or -1 for every band):
 *     OB_MULTIBAND_THRESHOLD_DB .. OB_MULTIBAND_SIDECHAIN_HPF_HZ: the band's
 *     compressor, values and ranges as its setters in compressor.h
 *     (threshold dBFS -60..0, ratio 1..100, knee dB 0..24, attack ms
 *     0.01..500, release ms 1..5000, makeup dB -24..24, detector
 *     OB_COMP_DETECT_*, RMS window ms 1..300, stereo link 0..1, mode
 *     OB_COMP_MODE_*, sidechain high pass Hz 0 or 20..500);
 *     OB_MULTIBAND_SOLO, _BYPASS, _MUTE: 0 or 1.  Bypass passes the band
 *     uncompressed (its compressor keeps running, so it comes back without a
 *     jump); mute silences it; while any band is soloed, only soloed bands
 *     sound (a muted soloed band stays muted).
 *
 * Parameter changes
 *   Threshold, ratio (as the slope 1 - 1/R), knee, makeup and stereo link
 *   glide to a new value along a raised cosine over OB_MULTIBAND_RAMP_MS:
 *   at every 16th absolute sample the band's compressor is handed the next
 *   value, and its own one-pole ramp (OB_COMP_RAMP_MS) smooths between
 *   them, so a change spreads little energy beside the programme (a 3 dB
 *   makeup change on a 1 kHz sine: < -85 dB outside +-50 Hz).  The other
 *   compressor parameters go to the compressor at once (it crossfades or
 *   applies them, see compressor.h).  Solo, bypass and mute crossfade along
 *   a raised cosine over OB_MULTIBAND_RAMP_MS, per sample.  Between
 *   new/reset and the first process every setter applies at once.
 *
 * Method
 *   The crossover (crossover.h) splits each channel into bands whose sum is
 *   the crossovers' allpass AP_0 ... AP_(bands-2) of the input: with every
 *   band at ratio 1 and makeup 0 the output is the input through that
 *   allpass, magnitude flat.  Each band, rounded to float, goes through its
 *   compressor (the compressor kernel itself, per band, with its ramps,
 *   ballistics, link, mid-side and sidechain filter), then
 *     out = sum over bands of  level_b (wet_b * compressed_b + (1 - wet_b) * band_b)
 *   in double, with level (solo/mute) and wet (bypass) ramped per sample.
 *   Crossover moves glide (crossover.h: 100 ms raised cosine in log
 *   frequency, coefficients interpolated per sample); they shift the phase
 *   of what lies near the crossover while they move.
 *   Linear-phase crossovers are not offered.
 *
 * Latency: 0 samples.  Output does not depend on block size (the crossover
 * and compressors run on grids of absolute sample positions, ramps per
 * sample).  State is double; denormals are flushed on those grids.  process
 * allocates nothing; setters only set targets (real-time safe).
 */
#ifndef OB_MULTIBAND_H
#define OB_MULTIBAND_H

typedef struct ob_multiband ob_multiband;

enum {
    OB_MULTIBAND_MAX_BANDS = 5,
    OB_MULTIBAND_RAMP_MS = 50        /* parameter glides and solo / bypass / mute
                                        ramps, ms (raised cosine) */
};

/* Parameter ids of ob_multiband_set (and of the engine's OB_PARAM_KERNEL + id). */
enum {
    OB_MULTIBAND_THRESHOLD_DB = 0,
    OB_MULTIBAND_RATIO = 1,
    OB_MULTIBAND_KNEE_DB = 2,
    OB_MULTIBAND_ATTACK_MS = 3,
    OB_MULTIBAND_RELEASE_MS = 4,
    OB_MULTIBAND_MAKEUP_DB = 5,
    OB_MULTIBAND_DETECTOR = 6,        /* OB_COMP_DETECT_* */
    OB_MULTIBAND_RMS_WINDOW_MS = 7,
    OB_MULTIBAND_STEREO_LINK = 8,
    OB_MULTIBAND_MODE = 9,            /* OB_COMP_MODE_* */
    OB_MULTIBAND_SIDECHAIN_HPF_HZ = 10,
    OB_MULTIBAND_SOLO = 20,
    OB_MULTIBAND_BYPASS = 21,
    OB_MULTIBAND_MUTE = 22,
    OB_MULTIBAND_CROSSOVER_HZ = 30    /* index: crossover 0..bands-2 */
};

/* NULL on a bad argument (see Parameters) or out of memory.  Every band's
 * compressor starts at the compressor's defaults. */
ob_multiband *ob_multiband_new(double fs, int nch, int order, int bands,
                               const double *crossovers_hz);
void ob_multiband_free(ob_multiband *st);
/* Clear the history (filters, compressors, meters); ramps jump to their
 * targets.  Parameters are kept. */
void ob_multiband_reset(ob_multiband *st);
/* Set a target: OB_OK, or OB_ERR_ARG (nothing changed) for an unknown id,
 * band or a value out of range.  band -1: every band (crossover: not -1). */
int ob_multiband_set(ob_multiband *st, int param, int band, double value);
/* In place; nch must be the nch given at new (else OB_ERR_ARG). */
int ob_multiband_process(ob_multiband *st, float **ch, int nch, int frames);
int ob_multiband_latency(const ob_multiband *st);
int ob_multiband_bands(const ob_multiband *st);
/* Largest gain reduction of band b's compressor since the previous take (or
 * new/reset), dB >= 0; restarts it.  -1 for a bad band. */
double ob_multiband_take_gain_reduction_db(ob_multiband *st, int band);
/* The verbs for ob_engine_add_kernel. */
const ob_kernel_ops *ob_multiband_ops(void);

#endif
