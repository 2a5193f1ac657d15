/*
 * dither.h -- TPDF dither with optional noise shaping, for 16- and 24-bit output.
 *
 * Usage:
 *   ob_dither *d = ob_dither_new(2, 16, OB_DITHER_SHAPE_NONE, 1234u);
 *   ob_dither_process(d, ch, 2, frames);   // ch now holds k / 2^(bits-1), k integer
 *   ob_dither_free(d);
 *
 * process replaces each sample x by a value on the grid of the target word
 * length: q = k / 2^(bits-1), k in [-2^(bits-1), 2^(bits-1) - 1] (clipped), so
 * the caller converts to integers exactly with k = q * 2^(bits-1).  Both 16-
 * and 24-bit grids are exact in float32.
 *
 * Dither is triangular (TPDF), +-1 LSB peak, from two independent uniform
 * variates per sample (xorshift128+ generator, per channel, seeded).  With it,
 * the first and second moments of the total error are independent of the
 * signal: mean 0, variance LSB^2/4 (Lipshitz, Wannamaker & Vanderkooy 1992).
 *
 * Noise shaping (error feedback, the quantiser's total error filtered and
 * subtracted from the next input):
 *   OB_DITHER_SHAPE_NONE    flat error spectrum
 *   OB_DITHER_SHAPE_FIRST   error shaped by (1 - z^-1): -6 dB/oct towards DC
 *   OB_DITHER_SHAPE_WANNAMAKER9  9-tap psychoacoustic filter (Wannamaker,
 *                           "Psychoacoustically optimal noise shaping",
 *                           JAES 1992), designed for 44.1 kHz; usable at 48 kHz
 * Latency: 0.  Output does not depend on block size.
 */
#ifndef OB_DITHER_H
#define OB_DITHER_H

typedef struct ob_dither ob_dither;

enum {
    OB_DITHER_SHAPE_NONE = 0,
    OB_DITHER_SHAPE_FIRST = 1,
    OB_DITHER_SHAPE_WANNAMAKER9 = 2
};

/* nch 1..OB_MAX_CHANNELS; bits 8..24; shaping one of OB_DITHER_SHAPE_*;
 * seed: any value (0 is replaced by a fixed non-zero seed). NULL on bad args. */
ob_dither *ob_dither_new(int nch, int bits, int shaping, uint32_t seed);
void ob_dither_free(ob_dither *d);
/* Clears the error-feedback history and re-seeds the generators. */
void ob_dither_reset(ob_dither *d);
int ob_dither_set(ob_dither *d, int bits, int shaping);
/* In place: quantise nch (<= the nch given at new) channels of frames samples. */
void ob_dither_process(ob_dither *d, float **ch, int nch, int frames);
int ob_dither_latency(const ob_dither *d);

#endif
