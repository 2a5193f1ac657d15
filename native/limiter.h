/*
 * limiter.h -- lookahead brick-wall true-peak limiter, channels linked.
 *
 * Usage:
 *   ob_limiter *lim = ob_limiter_new(48000.0, 2, -1.0, 50.0, 1.5, 8);
 *   ob_limiter_process(lim, ch, 2, frames);  in place, delayed by latency
 *   int lat = ob_limiter_latency(lim);        samples
 *   double gr = ob_limiter_take_max_gain_reduction_db(lim);
 *   ob_limiter_free(lim);
 *
 * Parameters:
 *   fs            sample rate, Hz, 8000..768000
 *   nch           channels, 1..OB_MAX_CHANNELS; one gain for all channels
 *                 (linked, the stereo image does not move)
 *   ceiling_dbtp  output ceiling, dBTP, -20..0 (settable)
 *   release_ms    release time constant, ms, 1..1000 (settable): after a
 *                 peak has passed, the linear gain g rises as
 *                 1 - (1 - g0) exp(-t / release_ms)
 *   lookahead_ms  lookahead, ms, 0.5..10 (fixed at new: sizes the buffers)
 *   factor        oversampling of the peak detector, 4, 8 or 16 (8 is the
 *                 default of the Python wrapper; with the parabola, 4 holds
 *                 the ceiling within ~0.03 dB, 8 and 16 within ~0.01 dB)
 *
 * Latency (ob_limiter_latency), an exact integer number of samples:
 *   N = max(round(lookahead_ms * fs / 1000), D + H + 2) with D = 12, H = 6
 * (see below).  The floor of 20 samples binds only below 40 kHz at the
 * shortest lookahead.  Output sample n is input sample n - N times the gain.
 *
 * Method (x42 dpl / "lookahead limiter" style, per sample):
 *   1. detect: the true peak p of the input in each sample interval, linked
 *      over the channels (max), from a `factor`-times oversampling
 *      polyphase interpolator (truepeak.c: the meter's filter, 24 taps per
 *      phase, group delay D = 12) refined by a parabola through the largest
 *      interpolated value and its neighbours;
 *   2. required gain r = min(1, c / p), c = the ceiling less a margin of
 *      OB_LIMITER_MARGIN_MDB / 1000 dB;
 *   3. m = sliding minimum of r over W + 2H + 1 samples (monotonic deque,
 *      O(1) amortised), H = D / 2, W = N - D - H: the gain is held at its
 *      minimum for H samples either side of a peak, a window (2H + 1 = 13
 *      samples) longer than the interpolation filter's half length;
 *   4. a = moving average of m over the last W + 1 samples: a linear attack
 *      ramp over the lookahead that is never above r at the peak;
 *   5. release: g = a when a <= g, else g += (a - g) (1 - exp(-1000 / (release_ms fs)));
 *   6. out = g * (input delayed by N).
 *   Hence g <= r within H samples of every peak: the output stays under the
 *   ceiling as the detector measures it, without clipping.  Non-finite input
 *   samples are replaced by 0.
 *
 * The true peak of wide-band content close to fs/2 (clipped or limited
 * material, noise-like drums) depends on the reconstruction filter.  The
 * detector's filter has a transition band around fs/2 a little wider than
 * scipy's resample_poly (16x) and measured outputs stay within 0.01 dB of
 * the ceiling by such a meter; an ideal (band-limited, periodic sinc)
 * reconstruction, which a good DAC approaches, reads higher: +0.7 dB on a
 * limited master with a white-noise snare, +0.4 dB on limited white noise,
 * +0.9 dB on clipped drums, +4 dB on a square wave at 0.49 fs.  No FIR that
 * fits the lookahead can close that gap: the missing part is the sinc's
 * slowly decaying tails, carried by content within a few percent of fs/2,
 * and they reach further into the future than any lookahead.  Offline, give
 * the limiter that reading as a sidechain (ob_limiter_process_sidechain;
 * host.dsp.ceiling computes it) and it holds the ceiling by the ideal
 * reconstruction too: within 0.03 dB on music and clipped drums, 0.15 dB
 * on brick-walled noise (the gain's own modulation; host.render checks the
 * file written and settles the rest).
 *
 * Parameter changes: a new ceiling applies to the audio entering after the
 * call (the detector's ceiling moves with a 5 ms one-pole); the gain follows
 * it through the attack ramp and the release, so nothing clicks.  A new
 * release time applies at once (it is a rate, not a level).
 *
 * Output does not depend on how the signal is cut into blocks.  process
 * allocates nothing and takes no locks (real-time safe).
 */
#ifndef OB_LIMITER_H
#define OB_LIMITER_H

typedef struct ob_limiter ob_limiter;

enum {
    OB_LIMITER_MARGIN_MDB = 20   /* internal safety margin, 1/1000 dB */
};

/* Allocate and initialise (not real-time safe).  NULL on bad arguments
 * (see ranges above) or out of memory. */
ob_limiter *ob_limiter_new(double fs, int nch, double ceiling_dbtp, double release_ms,
                           double lookahead_ms, int factor);
void ob_limiter_free(ob_limiter *st);

/* Clear the signal history (delay line, detector, gain back to 1) and the
 * gain-reduction readings; parameters are kept.  Real-time safe. */
void ob_limiter_reset(ob_limiter *st);

/* Targets.  OB_OK, or OB_ERR_ARG (and no change) outside the range. */
int ob_limiter_set_ceiling(ob_limiter *st, double ceiling_dbtp);
int ob_limiter_set_release(ob_limiter *st, double release_ms);

/* In place: nch (<= the nch given at new) channels of frames samples. */
void ob_limiter_process(ob_limiter *st, float **ch, int nch, int frames);

/* As ob_limiter_process, with the caller's own true-peak reading of the
 * input as a sidechain: peak[i] (linear, >= 0, linked over the channels) is
 * the largest absolute value of the input's reconstruction over the
 * interval [i, i + 1) samples of this block (time of ch[c][i] to the next).
 * The gain then keeps max(the detector's reading, peak) under the ceiling,
 * with the same hold, attack ramp, release and latency.  For offline
 * rendering, where the whole signal's band-limited (ideal) reconstruction
 * can be computed: the detector's 24-tap filter cannot see wide-band content
 * near fs/2 the way an ideal reconstruction (a good DAC) does, see above.
 * NULL peak is plain process; negative or NaN peaks count as 0.  Real-time
 * safe; output does not depend on block size (peaks carry across calls). */
void ob_limiter_process_sidechain(ob_limiter *st, float **ch, const double *peak, int nch,
                                  int frames);

/* Latency, samples (see above). */
int ob_limiter_latency(const ob_limiter *st);

/* Gain reduction, dB >= 0: applied to the last output sample / the largest
 * since new, reset or the previous take (which then restarts it). */
double ob_limiter_gain_reduction_db(const ob_limiter *st);
double ob_limiter_take_max_gain_reduction_db(ob_limiter *st);

#endif
