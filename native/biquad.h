/*
 * biquad.h -- cascade of second-order filter sections (RBJ cookbook EQ,
 * Butterworth and Linkwitz-Riley high/low pass).
 *
 * Usage
 *   ob_biquad *f = ob_biquad_new(48000.0, 2, 8);      up to 8 sections, stereo
 *   ob_biquad_set_butterworth(f, 0, OB_BIQUAD_HIGHPASS, 4, 25.0);  sections 0, 1
 *   ob_biquad_set_rbj(f, 2, OB_BIQUAD_PEAK, 3000.0, 0.8, 1.5, 0.0);
 *   ob_biquad_set_rbj(f, 3, OB_BIQUAD_HIGHSHELF, 11000.0, 0.0, 1.5, 0.7);  slope S
 *   each block:  ob_biquad_process(f, ch, 2, frames);
 *   ob_biquad_free(f);
 *
 * Sections run in series, section 0 first.  A section is a biquad
 *   H(z) = (b0 + b1 z^-1 + b2 z^-2) / (1 + a1 z^-1 + a2 z^-2)
 * or a first-order section (b2 = a2 = 0).  Sections never set, or set to
 * identity (b0 = 1, the rest 0), pass the signal through and cost nothing.
 *
 * Parameters
 *   fs         sample rate, Hz, 1000..1536000
 *   nch        channels, 1..OB_MAX_CHANNELS
 *   sections   capacity of the cascade, 1..OB_BIQUAD_MAX_SECTIONS
 *   section    index of a section, 0..sections-1
 *   type       OB_BIQUAD_PEAK .. OB_BIQUAD_ALLPASS (RBJ Audio EQ Cookbook)
 *   freq_hz    centre / corner / shelf midpoint frequency, Hz, 0 < f < fs/2
 *   q          quality factor, > 0 (0.7071 = Butterworth for low/high pass);
 *              ignored by the shelves when slope > 0
 *   gain_db    peak and shelf gain, dB, -48..+48 (other types ignore it)
 *   slope      shelf slope S, > 0, with S = 1 the steepest monotonic shelf;
 *              <= 0 means "use q".  S must keep the cookbook's square root
 *              real: (A + 1/A)(1/S - 1) + 2 > 0, A = 10^(gain_db/40)
 *   order      Butterworth 2..8 (odd orders use one first-order section);
 *              Linkwitz-Riley 2, 4, 6, 8 (the square of Butterworth order/2;
 *              LR2 is two first-order sections)
 *
 * Parameter changes
 *   Setters set a target.  The first set of a section after new/reset takes
 *   effect at once; later ones are reached by a per-sample linear ramp of the
 *   five coefficients over OB_BIQUAD_RAMP_MS (ob_biquad_ramp_samples()), so a
 *   gain or frequency change does not click.  A set during a ramp starts a new
 *   ramp from where the coefficients are.  Bypass (identity) and return from
 *   it ramp the numerator only, which is an exact wet/dry crossfade on the
 *   section's own poles; a bypassed section keeps running until its ringing
 *   has fallen 140 dB, then stops.  Setters are real-time safe (no
 *   allocation) but not thread-safe against process: call them from the
 *   thread that calls process, between blocks.
 *
 * Guarantees
 *   Output does not depend on how the signal is cut into blocks: ramps and
 *   denormal flushing happen at absolute sample positions.  State is double.
 *   Latency is 0 samples.  LR2 and LR6 crossovers sum flat with the high pass
 *   inverted (LP - HP); LR4 and LR8 sum flat as LP + HP.
 *
 * Status: setters return OB_OK, or OB_ERR_ARG for an argument out of range
 * (the section is then left unchanged).  The Butterworth and Linkwitz-Riley
 * setters return the number of sections they wrote (> 0) instead of OB_OK.
 */
#ifndef OB_BIQUAD_H
#define OB_BIQUAD_H

typedef struct ob_biquad ob_biquad;

enum {
    OB_BIQUAD_PEAK = 0,       /* peaking EQ, gain_db at freq_hz, bandwidth by q */
    OB_BIQUAD_LOWSHELF = 1,   /* low shelf, gain_db below freq_hz */
    OB_BIQUAD_HIGHSHELF = 2,  /* high shelf, gain_db above freq_hz */
    OB_BIQUAD_LOWPASS = 3,    /* 12 dB/oct low pass */
    OB_BIQUAD_HIGHPASS = 4,   /* 12 dB/oct high pass */
    OB_BIQUAD_BANDPASS = 5,   /* band pass, constant 0 dB peak gain */
    OB_BIQUAD_NOTCH = 6,      /* notch at freq_hz */
    OB_BIQUAD_ALLPASS = 7     /* all pass, 180 degrees at freq_hz */
};

enum {
    OB_BIQUAD_MAX_SECTIONS = 64,  /* capacity limit of one cascade */
    OB_BIQUAD_RAMP_MS = 20        /* coefficient ramp time, ms */
};

/* Allocate a cascade of `sections` identity sections for `nch` channels at
 * sample rate fs (Hz).  NULL on a bad argument or out of memory. */
ob_biquad *ob_biquad_new(double fs, int nch, int sections);
void ob_biquad_free(ob_biquad *st);

/* Zero the signal history; ramps in progress jump to their targets and the
 * next set of each section takes effect at once.  Targets are kept. */
void ob_biquad_reset(ob_biquad *st);

/* One RBJ cookbook section. */
int ob_biquad_set_rbj(ob_biquad *st, int section, int type, double freq_hz, double q,
                      double gain_db, double slope);

/* Butterworth low/high pass (type OB_BIQUAD_LOWPASS or OB_BIQUAD_HIGHPASS)
 * of order 2..8 in sections first.. first+(order+1)/2-1; returns that count. */
int ob_biquad_set_butterworth(ob_biquad *st, int first, int type, int order, double freq_hz);

/* Linkwitz-Riley low/high pass of order 2, 4, 6 or 8 (-6.02 dB at freq_hz)
 * in sections first..; returns the count (2 for LR2, LR4; 4 for LR6, LR8). */
int ob_biquad_set_linkwitz_riley(ob_biquad *st, int first, int type, int order,
                                 double freq_hz);

/* Raw normalized coefficients c = {b0, b1, b2, a1, a2} (a0 = 1).  Refused
 * unless finite and stable: |a2| < 1 and |a1| < 1 + a2. */
int ob_biquad_set_coeffs(ob_biquad *st, int section, const double *c);

/* Set a section to identity (bypass): a wet/dry crossfade over the ramp, then
 * the section runs until its ringing has died away and stops costing time. */
int ob_biquad_set_identity(ob_biquad *st, int section);

/* Target coefficients of a section into c[5] = {b0, b1, b2, a1, a2}. */
int ob_biquad_get_coeffs(const ob_biquad *st, int section, double *c);

/* Sections in use: 1 + the highest index whose target is not identity
 * (0 when all are identity). */
int ob_biquad_sections_used(const ob_biquad *st);

/* Capacity given at new. */
int ob_biquad_max_sections(const ob_biquad *st);

/* Length of a coefficient ramp, samples (OB_BIQUAD_RAMP_MS at fs). */
int ob_biquad_ramp_samples(const ob_biquad *st);

/* Filter ch[0..nch-1][0..frames-1] in place.  Real-time safe.  Pass the
 * channel count given at new (a larger nch is clamped to it).  A NaN or Inf
 * in the input is cleared from the state within 256 samples. */
void ob_biquad_process(ob_biquad *st, float **ch, int nch, int frames);

/* Latency added, samples: always 0. */
int ob_biquad_latency(const ob_biquad *st);

#endif
