/*
 * compressor.h -- feed-forward compressor: log-domain gain computer with a
 * quadratic soft knee, smooth branching attack/release, peak or RMS detector,
 * stereo link, mid-side mode, sidechain high pass, makeup gain.
 *
 * Usage:
 *   ob_compressor *c = ob_compressor_new(48000.0, 2);
 *   ob_compressor_set_threshold_db(c, -20.0);
 *   ob_compressor_set_ratio(c, 4.0);
 *   ...
 *   ob_compressor_process(c, ch, 2, frames);          (in place, any block size)
 *   double gr  = ob_compressor_gain_reduction_db(c);             (now, dB >= 0)
 *   double pk  = ob_compressor_take_max_gain_reduction_db(c);    (max since last take)
 *   ob_compressor_free(c);
 *
 * Parameters (setters return OB_OK, or OB_ERR_ARG and keep the old value):
 *   threshold_db      dBFS, -60..0                       (default -18)
 *   ratio             1..100; 1 = no compression, 100 = limiting (slope 0)
 *                                                        (default 2)
 *   knee_db           dB, 0..24; 0 = hard knee            (default 6)
 *   attack_ms         ms, 0.01..500                       (default 10)
 *   release_ms        ms, 1..5000                         (default 100)
 *   makeup_db         dB, -24..+24                        (default 0)
 *   detector          OB_COMP_DETECT_PEAK or OB_COMP_DETECT_RMS (default peak)
 *   rms_window_ms     ms, 1..300: time constant of the RMS averager (default 10)
 *   stereo_link       0..1; 0 = each channel its own gain, 1 = one gain from
 *                     the loudest channel's level; between, the gain
 *                     reduction (dB) is interpolated               (default 1)
 *   mode              OB_COMP_MODE_STEREO, or OB_COMP_MODE_MID_SIDE (2 channels
 *                     only: M = (L+R)/2, S = (L-R)/2 are compressed, then
 *                     L = M+S, R = M-S)                            (default stereo)
 *   sidechain_hpf_hz  Hz, 0 (off) or 20..500: 2nd-order RBJ high pass,
 *                     Q = 1/sqrt(2), on the detector path only     (default 0)
 *
 * Signal flow, per sample n and channel c (Giannoulis, Massberg & Reiss,
 * "Digital Dynamic Range Compressor Design -- A Tutorial and Analysis",
 * JAES 60(6), 2012; the log-domain design of their Fig. 7):
 *   d_c    detector signal: the input (or M, S), high-passed if enabled
 *   p_c    power: d_c^2 (peak), or the RMS averager
 *          m[n] = a_W m[n-1] + (1 - a_W) d^2 (rms), a_W = exp(-1/(T_W fs))
 *   x_G    level, dB = 10 log10(p)  (computed as a polynomial log2, error
 *          < 1e-10 dB; gains as a polynomial exp2, relative error < 2e-12)
 *   y_G    static curve (their eq. 4), T threshold, R ratio, W knee width:
 *            x_G                                   2(x_G - T) < -W
 *            x_G + (1/R - 1)(x_G - T + W/2)^2/(2W)  2|x_G - T| <= W
 *            T + (x_G - T)/R                       2(x_G - T) > W
 *          (1/R is taken as 0 for ratio >= 100)
 *   x_L    gain reduction target = x_G - y_G >= 0, linked across channels
 *   y_L    smoothed gain reduction, smooth branching peak detector (eq. 17):
 *            y_L[n] = a_A y_L[n-1] + (1 - a_A) x_L[n]   if x_L[n] > y_L[n-1]
 *            y_L[n] = a_R y_L[n-1] + (1 - a_R) x_L[n]   otherwise
 *   gain   10^((makeup_db - y_L) / 20)
 * Time constants: a = exp(-1 / (tau_ms * 1e-3 * fs)): after a step, y_L covers
 * 1 - 1/e (63.2 %) of the way in tau_ms (attack rising, release falling).
 * With the peak detector the smoothing runs on the instantaneous level, so a
 * steady sine reaches the static curve only when release >> its period and
 * attack is short; the RMS detector reaches it with any ballistics, up to the
 * ripple its averaging leaves (about 0.02 dB for 1 kHz and a 10 ms window).
 *
 * Parameter changes ramp: threshold, ratio (as the slope 1 - 1/R), knee,
 * makeup, link, the sidechain filter's log frequency, and the mode (a
 * crossfade of the L/R and M/S matrices) follow a one-pole of time constant
 * OB_COMP_RAMP_MS.  Only the detector in use runs.  Switching detector or
 * filter on/off crossfades the gain-reduction targets x_L of the old and the
 * new detector (linear in dB) with the same ramp; both run while it lasts.
 * No cold state is heard: a high pass switched on first runs for 8 of its
 * time constants with no weight (90 ms at 20 Hz, 9 ms at 200 Hz), then
 * crossfades in; a starting RMS averager begins at the other path's mean
 * square (filter switched) or at the power whose static-curve reduction is
 * the current y_L (detector switched).  Attack, release and the RMS window
 * change at once (the envelopes stay continuous).
 * Between new/reset and the next process call, setters take effect at once
 * (nothing is playing to click).  Setters and process must not run at the
 * same time (call setters between blocks, from the processing thread or under
 * the caller's own ordering); the two meter getters may run anywhere.
 *
 * Latency: 0 samples (no lookahead).  Output does not depend on block size.
 * Sample rate: 8000..768000 Hz.  State is double; recursive state is flushed
 * (every 128 samples, counted from new/reset, below 1e-30).
 */
#ifndef OB_COMPRESSOR_H
#define OB_COMPRESSOR_H

typedef struct ob_compressor ob_compressor;

enum {
    OB_COMP_DETECT_PEAK = 0,
    OB_COMP_DETECT_RMS = 1
};

enum {
    OB_COMP_MODE_STEREO = 0,
    OB_COMP_MODE_MID_SIDE = 1
};

/* Time constant of the parameter ramps, ms (one-pole, 63.2 % in this time). */
enum { OB_COMP_RAMP_MS = 10 };

/* fs in Hz, 8000..768000; nch 1..OB_MAX_CHANNELS.  Parameters start at the
 * defaults listed above.  NULL on bad arguments or out of memory. */
ob_compressor *ob_compressor_new(double fs, int nch);
void ob_compressor_free(ob_compressor *st);
/* Clears the signal history (filters, envelopes, meters) and completes any
 * parameter ramp. */
void ob_compressor_reset(ob_compressor *st);

int ob_compressor_set_threshold_db(ob_compressor *st, double threshold_db);
int ob_compressor_set_ratio(ob_compressor *st, double ratio);
int ob_compressor_set_knee_db(ob_compressor *st, double knee_db);
int ob_compressor_set_attack_ms(ob_compressor *st, double attack_ms);
int ob_compressor_set_release_ms(ob_compressor *st, double release_ms);
int ob_compressor_set_makeup_db(ob_compressor *st, double makeup_db);
int ob_compressor_set_detector(ob_compressor *st, int detector);
int ob_compressor_set_rms_window_ms(ob_compressor *st, double rms_window_ms);
int ob_compressor_set_stereo_link(ob_compressor *st, double link);
/* OB_COMP_MODE_MID_SIDE needs nch == 2. */
int ob_compressor_set_mode(ob_compressor *st, int mode);
int ob_compressor_set_sidechain_hpf_hz(ob_compressor *st, double hz);

/* In place.  nch must equal the nch given at new (else OB_ERR_ARG, nothing
 * processed); frames >= 0.  Real-time safe: no allocation, locks or calls
 * into the system. */
int ob_compressor_process(ob_compressor *st, float **ch, int nch, int frames);
int ob_compressor_latency(const ob_compressor *st);

/* Gain reduction after the last processed sample, dB >= 0 (max over the
 * channels, or over M and S).  Safe to call from another thread. */
double ob_compressor_gain_reduction_db(const ob_compressor *st);
/* Largest gain reduction since the previous call (or new/reset), dB >= 0,
 * and clears it: a meter polling once per block still sees every peak.
 * Safe to call from another thread (atomic read-and-clear). */
double ob_compressor_take_max_gain_reduction_db(ob_compressor *st);

#endif
