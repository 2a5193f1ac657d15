/*
 * saturation.h -- oversampled soft saturation and clipping: tape (tanh), tube
 * (biased tanh, asymmetric), cubic soft clip, hard clip; drive, dry/wet mix,
 * output trim.
 *
 * Usage:
 *   ob_saturation *s = ob_saturation_new(48000.0, 2, 8);     8x oversampling
 *   ob_saturation_set_drive_db(s, 6.0);
 *   ob_saturation_set_curve(s, OB_SAT_TUBE);
 *   ob_saturation_process(s, ch, 2, frames);     in place, delayed by latency
 *   int lat = ob_saturation_latency(s);           OB_SAT_TAPS samples
 *   ob_saturation_free(s);
 *   In the engine: ob_engine_add_kernel(e, OB_INSERT_SATURATION, s,
 *   ob_saturation_ops()) (parameters: OB_PARAM_KERNEL + OB_SAT_PARAM_*).
 *
 * Parameters (setters return OB_OK, or OB_ERR_ARG and keep the old value):
 *   fs         sample rate, Hz, 8000..768000 (fixed at new)
 *   nch        channels, 1..OB_MAX_CHANNELS (fixed at new)
 *   factor     oversampling, 2, 4 or 8 (fixed at new: it sizes the buffers)
 *   drive_db   gain into the curve, dB, -12..+36               (default 0)
 *   curve      OB_SAT_TAPE .. OB_SAT_HARD_CLIP                 (default tape)
 *   mix_pct    wet share, %, 0..100; the dry path is the input delayed by
 *              the latency, so both line up                    (default 100)
 *   output_db  output trim, dB, -24..+24                       (default 0)
 * ob_saturation_set(s, OB_SAT_PARAM_*, index, value) sets any of the four by
 * id (the curve as its OB_SAT_* number; index ignored), for a host that
 * routes messages (the engine's ob_kernel_ops.set).
 *
 * Curves, f(u) of the driven input u = g x, g = 10^(drive_db/20); each has
 * unit slope at 0, so a quiet signal passes at unity gain:
 *   tape       tanh(u)                                      (|f| < 1)
 *   tube       (tanh(u + B) - tanh B) / sech^2 B, B = OB_SAT_TUBE_BIAS / 1000:
 *              asymmetric (even harmonics): it flattens at +0.80 and at -1.32,
 *              so negative peaks may pass full scale; its DC goes out with the
 *              DC blocker below
 *   soft_clip  u - 4 u^3 / 27 for |u| <= 3/2, else sign(u)    (|f| <= 1)
 *   hard_clip  min(1, max(-1, u))
 *
 * Method, per channel:
 *   1. u = g x at fs (g ramped), into a polyphase interpolator by `factor`
 *      (L): a Kaiser-windowed sinc (beta OB_SAT_BETA_X10 / 10) of L * T taps,
 *      T = OB_SAT_TAPS per phase, cut off at 0.475 fs, each phase scaled to
 *      unit gain at DC.  Flat within 0.01 dB to 0.417 fs (20 kHz at 48 kHz),
 *      below -85 dB from 0.55 fs on.
 *   2. at L fs, the curve by first-order antiderivative anti-aliasing (ADAA,
 *      Parker, Zavalishin & Le Bivic, DAFx 2016):
 *          w[m] = (F(v[m]) - F(v[m-1])) / (v[m] - v[m-1]),  F' = f,
 *      or f((v[m] + v[m-1]) / 2) when |v[m] - v[m-1]| < 1e-6.  This averages
 *      f over each interval of the band-limited input, which attenuates the
 *      harmonics that fold at L fs by a further ~20-30 dB; it adds half a
 *      sample at L fs and, in the linear region, the response cos(pi f / (L fs))
 *      (-2 dB at 20 kHz at 2x), which step 3 undoes.
 *   3. decimation by L: a Kaiser-windowed FIR of L * T + 1 taps, the same cut
 *      off, whose passband is 1 / cos(pi f / (L fs)) (the ADAA droop undone);
 *      gain 1 at DC.  Up, ADAA and down delay T * L samples at L fs in all:
 *      the latency is T samples at fs, an integer, for every factor.
 *   4. DC blocker on the wet signal: first-order high pass at OB_SAT_DC_HZ,
 *      bilinear (scipy.signal.butter(1, OB_SAT_DC_HZ, "highpass", fs=fs)):
 *          y[n] = b0 (z[n] - z[n-1]) - a1 y[n-1],  K = tan(pi fc / fs),
 *          b0 = 1 / (1 + K),  a1 = (K - 1) / (K + 1).
 *   5. out = trim * (mix * wet + (1 - mix) * x[n - T]).
 * Aliasing, measured (tests/dsp/test_saturation.py): a full-scale 15 kHz sine
 * at 48 kHz through tape at +12 dB drive leaves its largest alias at -30 dBFS
 * at 2x, -70 dBFS at 4x and -114 dBFS at 8x (computed with ideal filters
 * and without step 2's ADAA: -17, -44, -84).  Hard clip at +6 dB: -55, -73, -75 dBFS (its
 * corners are not band-limited at any factor).  Aliases that fold to between
 * 0.417 fs and fs/2 (20..24 kHz at 48 kHz) are attenuated less: the filters'
 * transition band lies there.
 *
 * Parameter changes ramp along a raised cosine (ob_sramp: its slope is a
 * Hann pulse, so a change beside a tone spreads little) over OB_SAT_RAMP_MS:
 * drive, mix and trim on their linear values; a new curve crossfades from the
 * old one (at L fs, both curves running); a curve set during a crossfade
 * starts when that one ends.  Between new/reset
 * and the first process call, setters take effect at once.  Setters and
 * process must not run at the same time (call setters between blocks).
 *
 * Latency: OB_SAT_TAPS samples, whatever the factor.  Output does not depend
 * on how the signal is cut into blocks.  State is double; the DC blocker's
 * state is flushed below 1e-30 and cleared of NaN/Inf every 128 samples
 * (counted from new/reset); output below 1e-30 leaves as 0.  process
 * allocates nothing and takes no locks (real-time safe).
 */
#ifndef OB_SATURATION_H
#define OB_SATURATION_H

typedef struct ob_saturation ob_saturation;

enum {
    OB_SAT_TAPE = 0,
    OB_SAT_TUBE = 1,
    OB_SAT_SOFT_CLIP = 2,
    OB_SAT_HARD_CLIP = 3
};

/* Parameter ids of ob_saturation_set (and of the engine's OB_PARAM_KERNEL + id). */
enum {
    OB_SAT_PARAM_DRIVE_DB = 0,
    OB_SAT_PARAM_CURVE = 1,
    OB_SAT_PARAM_MIX_PCT = 2,
    OB_SAT_PARAM_OUTPUT_DB = 3
};

enum {
    OB_SAT_TAPS = 48,         /* interpolator taps per phase = latency, samples */
    OB_SAT_BETA_X10 = 100,    /* Kaiser beta of both filters, times 10 */
    OB_SAT_RAMP_MS = 50,      /* parameter ramps and curve crossfade, ms (raised cosine) */
    OB_SAT_DC_HZ = 3,         /* DC blocker corner, Hz */
    OB_SAT_TUBE_BIAS = 250    /* tube curve's bias B, 1/1000 */
};

/* fs in Hz, 8000..768000; nch 1..OB_MAX_CHANNELS; factor 2, 4 or 8.
 * Parameters start at the defaults above.  NULL on bad arguments or out of
 * memory.  Not real-time safe (designs the filters). */
ob_saturation *ob_saturation_new(double fs, int nch, int factor);
void ob_saturation_free(ob_saturation *st);
/* Clears the signal history and completes any ramp or crossfade.
 * Real-time safe. */
void ob_saturation_reset(ob_saturation *st);

int ob_saturation_set_drive_db(ob_saturation *st, double drive_db);
int ob_saturation_set_curve(ob_saturation *st, int curve);
int ob_saturation_set_mix_pct(ob_saturation *st, double mix_pct);
int ob_saturation_set_output_db(ob_saturation *st, double output_db);
/* Any of the above by id (OB_SAT_PARAM_*); the curve's value is its OB_SAT_*
 * number; index is ignored (the kernel has no bands).  Real-time safe. */
int ob_saturation_set(ob_saturation *st, int param, int index, double value);

/* In place: nch (<= the nch given at new) channels of frames samples. */
void ob_saturation_process(ob_saturation *st, float **ch, int nch, int frames);
/* Latency, samples: OB_SAT_TAPS. */
int ob_saturation_latency(const ob_saturation *st);
/* The oversampling factor given at new. */
int ob_saturation_factor(const ob_saturation *st);
/* The verbs for ob_engine_add_kernel (no gain-reduction meters). */
const ob_kernel_ops *ob_saturation_ops(void);

#endif
