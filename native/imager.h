/*
 * imager.h -- stereo imager: mid/side width per band (1..4 bands split by
 * Linkwitz-Riley crossovers) and bass mono below a frequency.
 *
 * Usage
 *   double xo[2] = {250.0, 4000.0};
 *   ob_imager *im = ob_imager_new(48000.0, 4, 3, xo);       3 bands, LR4
 *   ob_imager_set(im, OB_IMAGER_WIDTH, 2, 1.3);              top band wider
 *   ob_imager_set(im, OB_IMAGER_MONO_BELOW_HZ, -1, 120.0);   bass mono
 *   ob_imager_process(im, ch, 2, frames);                    in place, L and R
 *   ob_imager_free(im);
 *   In the engine: ob_engine_add_kernel(e, OB_INSERT_IMAGER, im,
 *   ob_imager_ops()) (parameters: OB_PARAM_KERNEL + OB_IMAGER_*).
 *
 * Parameters
 *   fs              sample rate, Hz, 8000..768000; stereo only (nch 2)
 *   order           band crossovers: Linkwitz-Riley 2, 4 or 8, fixed at new
 *   bands           1..OB_IMAGER_MAX_BANDS, fixed at new
 *   crossovers_hz   bands - 1 frequencies, strictly increasing, 10 Hz ..
 *                   0.45 fs (OB_IMAGER_CROSSOVER_HZ, index = crossover;
 *                   glides in log frequency over 10 ms)
 *   width           per band (index = band, -1 for every band), 0..2:
 *                   0 = mono, 1 = unchanged, 2 = side doubled (default 1)
 *   mono_below_hz   Hz, 0 (off) or 20..1000 (index ignored; default off)
 *   Width and bass mono on/off ramp per sample along a raised cosine over
 *   OB_IMAGER_RAMP_MS (a width change 1 -> 1.5 on a 1 kHz sine spreads
 *   < -85 dB outside +-50 Hz).  Bass mono on/off crossfades the plain M, S
 *   with the split ones, whose phase differs: a short comb while it runs.
 *
 * Method, per sample, in double:
 *   M = (L + R) / 2,  S = (L - R) / 2
 *   bass mono (when on): an LR4 crossover at mono_below_hz splits M and S;
 *     M <- M_low + M_high (its allpass),  S <- S_high: the side is removed
 *     below the frequency (-24 dB an octave below, -80 dB a decade below)
 *     and kept above it, the mid keeps its magnitude.  Switching it on or
 *     off crossfades between this and the plain M, S.
 *   bands > 1: the band crossover splits M and S; M <- the sum of its
 *     bands (the crossovers' allpass), S <- sum over b of width_b S_b;
 *   bands = 1: S <- width S
 *   L = M + S,  R = M - S.
 * With one band, bass mono off and width 1 the kernel does nothing: output
 * is the input, bit for bit.  With more bands at width 1, L and R both pass
 * the crossovers' allpass (the image is unchanged, magnitude flat).
 *
 * Latency: 0 samples.  Output does not depend on block size (a grid of
 * OB_XOVER_CHUNK absolute samples, ramps per sample).  State is double;
 * denormals are flushed on the grid.  process allocates nothing; setters
 * only set targets (real-time safe).
 */
#ifndef OB_IMAGER_H
#define OB_IMAGER_H

typedef struct ob_imager ob_imager;

enum {
    OB_IMAGER_MAX_BANDS = 4,
    OB_IMAGER_RAMP_MS = 50        /* width and bass-mono ramps, ms (raised cosine) */
};

/* Parameter ids of ob_imager_set (and of the engine's OB_PARAM_KERNEL + id). */
enum {
    OB_IMAGER_WIDTH = 0,          /* index: band, or -1 for every band */
    OB_IMAGER_MONO_BELOW_HZ = 1,  /* index ignored */
    OB_IMAGER_CROSSOVER_HZ = 2    /* index: crossover 0..bands-2 */
};

/* NULL on a bad argument or out of memory. */
ob_imager *ob_imager_new(double fs, int order, int bands, const double *crossovers_hz);
void ob_imager_free(ob_imager *st);
/* Clear the history; ramps jump to their targets.  Parameters are kept. */
void ob_imager_reset(ob_imager *st);
/* Set a target: OB_OK, or OB_ERR_ARG (nothing changed). */
int ob_imager_set(ob_imager *st, int param, int index, double value);
/* In place on ch[0] (left) and ch[1] (right); nch must be 2 (else
 * OB_ERR_ARG). */
int ob_imager_process(ob_imager *st, float **ch, int nch, int frames);
int ob_imager_latency(const ob_imager *st);
/* The verbs for ob_engine_add_kernel (no gain-reduction meters). */
const ob_kernel_ops *ob_imager_ops(void);

#endif
