/*
 * loudness.h -- ITU-R BS.1770-4 / EBU R 128 loudness meter: momentary,
 * short-term, integrated, loudness range (EBU Tech 3342) and sample peak.
 * True peak is a separate kernel (truepeak.h).
 *
 * Usage:
 *   ob_loudness *m = ob_loudness_new(48000.0, 2);
 *   ob_loudness_process(m, ch, 2, frames);     any block size; audio is only read
 *   ob_loudness_reading r;
 *   ob_loudness_read(m, &r);                   live meter: poll after each block
 *   double i_lufs = ob_loudness_integrated(m); programme figures, at any time
 *   double lra_lu = ob_loudness_range(m);
 *   ob_loudness_free(m);
 *
 * Parameters:
 *   fs       sample rate, Hz, 8000..768000.  The meter works in 10 ms ticks of
 *            round(fs / 100) samples, so its windows are exact when fs is a
 *            multiple of 100 Hz (22050 Hz: 10.02 ms ticks).
 *   nch      channels, 1..OB_MAX_CHANNELS.  Default weights (BS.1770 Table 3):
 *            1.0 everywhere, except nch == 5 (L R C Ls Rs): Ls, Rs = 1.41;
 *            nch == 6 (L R C LFE Ls Rs): LFE = 0.0, Ls, Rs = 1.41;
 *            nch == 8 (L R C LFE Ls Rs Lrs Rrs): LFE = 0.0, the four
 *            surrounds 1.41.  Other layouts: ob_loudness_set_channel_weight.
 *   weight   channel weight G_i, linear power factor, 0.0..16.0.  A new weight
 *            applies from the 10 ms tick in progress on (it weights whole
 *            ticks, never part of one).
 *
 * Measurement (BS.1770-4, EBU Tech 3341 / 3342):
 *   K-weighting per channel: stage 1 high shelf, stage 2 high pass (RLB),
 *   both bilinear transforms of the analogue prototypes behind the BS.1770
 *   48 kHz table (shelf f0 = 1681.974450955533 Hz, G = 3.999843853973347 dB,
 *   Q = 0.7071752369554196; high pass f0 = 38.13547087602444 Hz,
 *   Q = 0.5003270373238773), pre-warped at f0.  At 48 kHz they are the
 *   published coefficients.  At other rates the high pass is scaled so that
 *   its pass-band gain equals the 48 kHz filter's (1.00499, +0.043 dB): the
 *   table's b = [1, -2, 1] is not normalised, so libebur128's formula (which
 *   keeps b = [1, -2, 1] at every rate) reads 1 kHz 0.022 dB lower at 96 kHz
 *   and 0.21 dB higher at 8 kHz than at 48 kHz; ours does not drift.
 *   Every 10 ms tick the K-weighted sums of squares of the tick are weighted
 *   and summed over the channels (sum_i G_i z_i).  Momentary M = 400 ms
 *   window, short-term S = 3 s window, both rectangular, L = -0.691 +
 *   10 log10(mean square).  M, S and their maxima are updated every tick
 *   (100 Hz), so a max under-reads a burst that falls between two ticks by
 *   at most 10 log10(395/400) = 0.055 LU (M) or 0.007 LU (S); a 100 ms update
 *   would lose up to 0.58 LU on M (EBU Tech 3341 case 13 offsets its bursts
 *   in 20 ms steps).  M and S read -inf until their window has filled once.
 *   The 100 ms hop (every 10th tick, counted from the first sample) sets the
 *   gating blocks and the short-term values that LRA uses.
 *   Integrated I: 400 ms gating blocks (75 % overlap: M at each 100 ms hop),
 *   absolute gate -70 LUFS, relative gate -10 LU below the loudness of the
 *   blocks above the absolute gate (blocks strictly above it are kept).
 *   Loudness range LRA: S at each 100 ms hop (3 s blocks), absolute gate
 *   -70 LUFS, relative gate -20 LU (blocks at or above it kept), LRA = the
 *   95th minus the 10th percentile (nearest rank, as libebur128) in LU.
 *
 * Bounded memory for unbounded programmes (histogram mode): every gating
 * block and every S value above -70 LUFS goes into a histogram of 0.01 dB
 * bins from -70 to +30 LUFS (blocks above +30 go into the top bin), each bin
 * holding its block count and the sum of its blocks' energies.  So the gated
 * means are sums of the true energies; the only approximation is that a bin
 * is kept or gated as a whole (by the loudness of its mean energy), and that a
 * percentile reads the mean loudness of its bin.  Error: 0 when no block lies
 * within 0.01 dB of a gate; a percentile is within 0.01 dB of the exact
 * value, so LRA within 0.02 LU; integrated within 0.05 LU unless a large share
 * of the blocks sits within 0.01 dB of the relative gate (where the exact
 * method itself jumps with the last bit of the input).  Memory: 320 KB,
 * allocated in new; process never allocates.
 *
 * Sample peak: max |x| per channel and overall since reset, dBFS.
 * Non-finite input samples (NaN, Inf) are measured as 0 and counted.
 *
 * Getters return LUFS, LU or dBFS as double, and -inf (-HUGE_VAL) when nothing
 * has been measured yet or every block is gated.  They are real-time safe
 * (no allocation); integrated and range scan the 10000-bin histograms.
 * Latency: 0 (the audio is only read).  Figures do not depend on block size:
 * blocks of 1, 64, 65, 8193 samples or the whole signal give identical bits.
 */
#ifndef OB_LOUDNESS_H
#define OB_LOUDNESS_H

typedef struct ob_loudness ob_loudness;

/* A snapshot for a live meter (ob_loudness_read). */
typedef struct {
    double momentary_lufs;       /* last 400 ms, LUFS (-inf before 400 ms) */
    double short_term_lufs;      /* last 3 s, LUFS (-inf before 3 s) */
    double momentary_max_lufs;   /* max of M since reset, LUFS */
    double short_term_max_lufs;  /* max of S since reset, LUFS */
    double sample_peak_dbfs;     /* max |x| over all channels since reset, dBFS */
    int64_t blocks;              /* 100 ms hops completed since reset */
    int64_t ticks;               /* 10 ms ticks completed (M, S updates) */
    int64_t nonfinite;           /* NaN/Inf input samples, measured as 0 */
} ob_loudness_reading;

/* fs in Hz 8000..768000, nch 1..OB_MAX_CHANNELS; NULL on bad args or oom.
 * Not real-time safe (allocates about 320 KB). */
ob_loudness *ob_loudness_new(double fs, int nch);
void ob_loudness_free(ob_loudness *st);

/* Clears every measurement and the filter history; keeps the weights. */
void ob_loudness_reset(ob_loudness *st);

/* ch 0..nch-1, weight 0.0..16.0 (linear power factor).  OB_ERR_ARG if out
 * of range. */
int ob_loudness_set_channel_weight(ob_loudness *st, int ch, double weight);
/* The weight of channel ch, or NaN for a channel out of range. */
double ob_loudness_channel_weight(const ob_loudness *st, int ch);

/* Measures nch (== the nch given at new) channels of frames (>= 0) samples;
 * reads ch, never writes it.  OB_ERR_ARG (nothing measured) on a mismatch. */
int ob_loudness_process(ob_loudness *st, float **ch, int nch, int frames);

/* Always 0: the meter does not delay audio. */
int ob_loudness_latency(const ob_loudness *st);

/* Live values in one call (see ob_loudness_reading). */
void ob_loudness_read(const ob_loudness *st, ob_loudness_reading *out);

double ob_loudness_momentary(const ob_loudness *st);       /* LUFS */
double ob_loudness_short_term(const ob_loudness *st);      /* LUFS */
double ob_loudness_momentary_max(const ob_loudness *st);   /* LUFS */
double ob_loudness_short_term_max(const ob_loudness *st);  /* LUFS */
double ob_loudness_integrated(const ob_loudness *st);      /* LUFS */
double ob_loudness_range(const ob_loudness *st);           /* LU */
/* Sample peak of channel ch (0..nch-1), or of all channels for ch == -1,
 * dBFS; NaN for ch out of range. */
double ob_loudness_sample_peak(const ob_loudness *st, int ch);
/* 100 ms hops completed since reset. */
int64_t ob_loudness_blocks(const ob_loudness *st);

/* The K-weighting biquad of stage 1 (shelf) or 2 (high pass) at this rate:
 * b[3], a[3] with a[0] = 1.  OB_ERR_ARG for another stage. */
int ob_loudness_kweighting(const ob_loudness *st, int stage, double *b, double *a);

#endif
