/*
 * delay.h -- integer + fractional delay line, per channel (latency
 * compensation of hardware inserts, alignment of return channels).
 *
 * Usage
 *   ob_delay *d = ob_delay_new(48000.0, 2, 65536);   max delay, samples
 *   ob_delay_set_delay(d, 0, 100.0);                  channel 0: 100 samples
 *   ob_delay_set_delay(d, 1, 37.25);                  channel 1: 37.25 samples
 *   ob_delay_process(d, ch, 2, frames);               in place
 *   ob_delay_free(d);
 *
 * Parameters
 *   fs          sample rate, Hz, 8000..768000 (kept for the convention; the
 *               delay is in samples)
 *   nch         channels, 1..OB_MAX_CHANNELS
 *   max_delay   largest delay, samples, 1..2^24 (the only allocation)
 *   delay       per channel, samples, 0..max_delay, fractional allowed.
 *               An integer delay is a plain tap: y[n] = x[n - D], bit-exact.
 *               A fractional delay D is an integer line of floor(D) -
 *               OB_DELAY_FIR_CENTER samples followed by an OB_DELAY_FIR_TAPS
 *               tap Kaiser-windowed sinc (beta OB_DELAY_FIR_BETA_X10 / 10)
 *               centred on OB_DELAY_FIR_CENTER + frac(D): the FIR's centre
 *               is part of the delay, so the output is x[n - D] for
 *               band-limited x.  Hence a fractional delay must be at least
 *               OB_DELAY_FIR_CENTER (23) samples: smaller ones are refused.
 *               Accuracy (float64 design, worst over frac): |H - e^-jwD| <=
 *               -130 dB over 0..0.4 fs; the 0.45..0.5 fs band is not usable.
 *
 * A delay change takes effect at once (no crossfade; the history is kept, so
 * the output continues from the new tap).  ob_delay_set_delay designs the
 * FIR into preallocated memory: bounded work, no allocation (real-time safe).
 * Output does not depend on the block size.  Latency = ceil of the largest
 * channel delay.
 */
#ifndef OB_DELAY_H
#define OB_DELAY_H

typedef struct ob_delay ob_delay;

enum {
    OB_DELAY_FIR_TAPS = 48,
    OB_DELAY_FIR_CENTER = 23,       /* OB_DELAY_FIR_TAPS / 2 - 1 */
    OB_DELAY_FIR_BETA_X10 = 140,    /* Kaiser beta, times 10 */
    OB_DELAY_MAX = 16777216         /* 2^24 samples */
};

ob_delay *ob_delay_new(double fs, int nch, int max_delay);
void ob_delay_free(ob_delay *d);
void ob_delay_reset(ob_delay *d);
/* Delay of channel ch (0..nch-1), samples; OB_ERR_ARG if out of range or a
 * fractional delay below OB_DELAY_FIR_CENTER. */
int ob_delay_set_delay(ob_delay *d, int ch, double samples);
double ob_delay_get_delay(const ob_delay *d, int ch);
int ob_delay_max_delay(const ob_delay *d);
void ob_delay_process(ob_delay *d, float **ch, int nch, int frames);
int ob_delay_latency(const ob_delay *d);

#endif
