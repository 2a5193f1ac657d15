/*
 * crossover.h -- Linkwitz-Riley band splitter shared by the multiband and
 * imager kernels (internal: not part of the API in outboard.h, which cffi
 * sees; the kernels that use it include it).
 *
 * Usage (inside a kernel)
 *   ob_xover *x = ob_xover_new(48000.0, 2, 4, 3, (double[]){120.0, 2000.0});
 *   the kernel cuts its blocks on a grid of OB_XOVER_CHUNK absolute frames:
 *   per piece of n frames that does not cross a grid point, `at` frames
 *   after the last one,
 *     ob_xover_split(x, in, at, n, band);   in[c], band[b][c]: n doubles
 *   and at each grid point ob_xover_grid(x) (glides, denormal flush);
 *   ob_xover_free(x);
 *
 * Parameters
 *   order     Linkwitz-Riley order 2, 4 or 8 (12, 24, 48 dB/octave): the
 *             square of a Butterworth of order 1, 2, 4
 *   bands     1..OB_XOVER_MAX_BANDS; bands - 1 crossovers
 *   freqs_hz  crossover frequencies, strictly increasing, 10 Hz .. 0.45 fs
 *
 * Method
 *   A tree: r_0 = x; at crossover k, band_k = LP_k(r_k) and
 *   r_(k+1) = AP_k(r_k) - LP_k(r_k), where AP_k = D(-s)/D(s) is the allpass
 *   whose poles are those of LP_k (D the Butterworth denominator of half the
 *   order).  Since LP_k + HP_k = AP_k for LR4 and LR8 (and LP_k - HP_k = AP_k
 *   for LR2), r_(k+1) is HP_k (LR2: -HP_k) by construction, and
 *   band_k + r_(k+1) = AP_k(r_k) exactly, whatever the rounding of LP_k.
 *   The last band is r_(bands-1).  Band k < bands - 2 then passes the
 *   allpasses AP_(k+1) .. AP_(bands-2) of the crossovers it did not meet, so
 *   the bands sum to AP_0 AP_1 ... AP_(bands-2) x: flat magnitude, the phase
 *   of the crossovers' allpass.  All sections are direct form I in double,
 *   bilinear transforms with the corner prewarped (as scipy.signal.butter).
 *
 * Crossover changes (ob_xover_set_freq): the frequency glides to the target
 * along a raised cosine in log frequency over OB_XOVER_GLIDE_MS (from the
 * next grid point); the coefficients are designed at each grid point and
 * interpolated linearly between grid points, per sample, so neither their
 * steps nor the block size show in the output.  A crossover still moves the
 * phase of everything near it: a 1 kHz sine while a crossover moves from
 * 2 to 1.5 kHz spreads about -80 dB beyond +-50 Hz.  band[b] is laid out
 * band[b * nch + c].  Denormals: the state is flushed at the same
 * grid points.
 */
#ifndef OB_CROSSOVER_H
#define OB_CROSSOVER_H

enum {
    OB_XOVER_MAX_BANDS = 5,
    OB_XOVER_CHUNK = 64,       /* frames of the absolute processing grid */
    OB_XOVER_GLIDE_MS = 100    /* crossover frequency glide, ms (raised cosine) */
};

typedef struct ob_xover ob_xover;

/* NULL on a bad argument or out of memory. */
ob_xover *ob_xover_new(double fs, int nch, int order, int bands, const double *freqs_hz);
void ob_xover_free(ob_xover *x);
/* Clear the history; glides jump to their targets. */
void ob_xover_reset(ob_xover *x);
int ob_xover_bands(const ob_xover *x);
/* Crossover k's target, Hz; OB_ERR_ARG unless it stays strictly between its
 * neighbours' targets and in 10 Hz .. 0.45 fs.  Real-time safe. */
int ob_xover_set_freq(ob_xover *x, int k, double hz);
double ob_xover_freq(const ob_xover *x, int k);   /* target, Hz */
/* n frames of in[c] into band[b][c] (b < bands, c < nch, n doubles each; in
 * may alias no band); at + n <= OB_XOVER_CHUNK, at = frames since the last
 * grid point. */
void ob_xover_split(ob_xover *x, const double *const *in, int at, int n,
                    double *const *band);
/* At each multiple of OB_XOVER_CHUNK absolute frames: one glide step
 * (coefficients recomputed while a crossover moves), and the state flushed
 * (below OB_DENORMAL_LIMIT, or not finite: 0). */
void ob_xover_grid(ob_xover *x);

#endif
