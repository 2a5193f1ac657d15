/*
 * truepeak.h -- true-peak meter, ITU-R BS.1770-4 Annex 2.
 *
 * Usage:
 *   ob_truepeak *tp = ob_truepeak_new(48000.0, 2, 0);   (0: BS.1770 factor)
 *   ob_truepeak_process(tp, ch, 2, frames);   audio is read, never modified
 *   double dbtp = ob_truepeak_max_dbtp(tp);   largest true peak so far, dBTP
 *   ob_truepeak_free(tp);
 *
 * Method: each channel is upsampled by `factor` with a polyphase FIR
 * interpolator (one FIR per phase), the absolute values of the interpolated
 * samples are taken and their maximum is kept.  The interpolation low-pass is
 * designed at new time: a sinc cut off at the input Nyquist frequency,
 * Kaiser-windowed (beta 7), OB_TRUEPEAK_TAPS = 24 taps per phase, each phase
 * normalised to unit gain at DC.  Phase 0 is an exact delay of the input, so
 * the meter never reads below the sample peak.  Every phase is within 0.006
 * dB of an ideal fractional delay up to 0.40 fs (0.09 dB up to 0.42 fs).
 * What remains is the sampling of the oversampled grid, which can under-read
 * a sine near Nyquist by up to 0.69 dB at 4x, 0.17 dB at 8x
 * (1 - cos(pi f / (factor fs))).  The same filter serves the limiter's
 * detector, so this meter and the limiter agree on what a true peak is.
 *
 * Parameters:
 *   fs       sample rate, Hz, 8000..768000
 *   nch      channels, 1..OB_MAX_CHANNELS
 *   factor   oversampling factor, one of 1, 2, 4, 8, 16; 0 picks the
 *            BS.1770 default for the rate: 4 below 96 kHz, 2 from 96 kHz,
 *            1 from 192 kHz
 *
 * Latency: the interpolator's group delay, OB_TRUEPEAK_TAPS / 2 = 12 input
 * samples (ob_truepeak_latency): the values interpolated when input sample n
 * arrives lie between input times n - 12 and n - 11, so a peak is read once
 * the 12 samples after it have been processed.
 *
 * Output does not depend on how the signal is cut into blocks.  process
 * allocates nothing and takes no locks (real-time safe).  A non-finite
 * sample spoils the readings of the 24 samples around it.
 */
#ifndef OB_TRUEPEAK_H
#define OB_TRUEPEAK_H

typedef struct ob_truepeak ob_truepeak;

enum {
    OB_TRUEPEAK_TAPS = 24,      /* taps per phase of the interpolator */
    OB_TRUEPEAK_MAX_FACTOR = 16
};

/* Allocate and initialise a meter (not real-time safe).  NULL on bad
 * arguments (see ranges above) or out of memory. */
ob_truepeak *ob_truepeak_new(double fs, int nch, int factor);

/* Detector variant, for kernels that need the per-sample true peak (the
 * limiter): the same interpolator; refine 0 gives the plain BS.1770 reading
 * (max over the phases, as ob_truepeak_new), refine 1 also fits a parabola
 * through the largest interpolated value and its two neighbours and takes
 * its vertex when larger, which cuts the grid's under-read of a sine at 8x
 * from 0.17 dB to about 0.01 dB. */
ob_truepeak *ob_truepeak_new_detector(double fs, int nch, int factor, int refine);

void ob_truepeak_free(ob_truepeak *st);

/* Clear the interpolator history and the running maxima (real-time safe). */
void ob_truepeak_reset(ob_truepeak *st);

/* Meter nch (<= the nch given at new) channels of frames samples; updates
 * the running maxima.  Does not modify the audio. */
void ob_truepeak_process(ob_truepeak *st, float **ch, int nch, int frames);

/* Largest true peak since new/reset, over all channels / of channel c, in
 * dBTP (dB relative to full scale 1.0).  -HUGE_VAL (-inf) while nothing but
 * digital silence has been read; -HUGE_VAL for c out of range. */
double ob_truepeak_max_dbtp(const ob_truepeak *st);
double ob_truepeak_channel_dbtp(const ob_truepeak *st, int c);

/* The oversampling factor in use (after resolving factor 0). */
int ob_truepeak_factor(const ob_truepeak *st);

/* Group delay of the interpolator, input samples (12). */
int ob_truepeak_latency(const ob_truepeak *st);

/* Shared with other kernels (real-time safe): push one input sample x of
 * channel c (0 <= c < nch, not checked) into the interpolator and return
 * the true peak (linear, >= 0) of the interval of input time that sample
 * completes, [n - latency, n - latency + 1): the largest absolute value of
 * its `factor` interpolated values (refined by the parabola for a detector
 * made with refine = 1).  Does not update the running maxima. */
double ob_truepeak_push(ob_truepeak *st, int c, float x);

#endif
