/*
 * engine.h -- the real-time engine: the whole mastering chain in C, driven
 * by a PortAudio stream callback (no Python, no GIL in the audio thread) or
 * offline, with lock-free rings to and from the control thread.
 *
 * Usage
 *   ob_engine *e = ob_engine_new(48000.0, 2, 8192);       stereo program
 *   ob_engine_add_eq(e, eq);           inserts in signal order; the engine
 *   ob_engine_add_compressor(e, comp); does not own the kernels: the caller
 *   ob_engine_add_limiter(e, lim);     keeps them alive and never touches them
 *   ob_engine_add_gain(e, -3.0);       again while the engine runs
 *   ob_engine_add_kernel(e, OB_INSERT_MULTIBAND, mb, ob_multiband_ops());
 *   int send[2] = {2, 3}, ret[2] = {2, 3};   hardware insert on outputs and
 *   ob_engine_add_hardware(e, send, ret, 48000);   inputs 3-4 (0-based 2, 3)
 *   int in_map[2] = {0, 1}, out_map[2] = {0, 1}, mon[2] = {6, 7};
 *   ob_engine_set_io(e, 8, 8, in_map, out_map, 2, mon);
 *   ob_engine_set_source(e, OB_SOURCE_INPUT);
 *   open a duplex float32 interleaved PortAudio stream with
 *   ob_engine_pa_callback and userdata = e (8 in, 8 out); start it.
 *   control thread, while streaming:
 *     ob_engine_param_push(e, &msg);     parameter changes (ramped)
 *     ob_engine_read_meters(e, &m);      levels, loudness, gain reduction, load
 *     while (ob_engine_event_pop(e, &ev) == 1) ...   xruns, NaN, clips, ...
 *     ob_engine_playback_write / _finish, ob_engine_record_read
 *   offline (never while a stream runs):
 *     ob_engine_process(e, in, out, frames);   the same path as the callback
 *   ob_engine_free(e) after the stream is closed.
 *
 * Parameters
 *   fs           sample rate, Hz, 8000..768000 (the kernels' rate)
 *   nch          program channels, 1..OB_ENGINE_MAX_CHANNELS (8)
 *   max_block    largest block the chain runs at once, frames, 1..65536;
 *                longer calls and callbacks are cut into max_block pieces
 *   gain_db      gain insert, dB, -48..+48
 *   hardware     send/return trims dB -24..24, polarity +1/-1, mix 0..1,
 *                measured round trip R_c per return channel, samples,
 *                0..max_latency (see OB_PARAM_HW_*)
 *   ring sizes   playback and record rings, frames, 1..2^26 (default 2 s)
 *   device map   dev_in / dev_out channels 0..OB_ENGINE_MAX_DEVICE_CHANNELS;
 *                in_map[c]: device input of program channel c, or -1 (silence);
 *                out_map[c]: device output of program channel c, or -1;
 *                monitor_map[k]: device output carrying program channel
 *                k % nch (a copy, e.g. stereo monitors).  Device outputs
 *                named by no map are zero.  No output may be named twice:
 *                hardware sends, out_map and monitor_map are disjoint, and
 *                set_io refuses a send or return beyond the device channels.
 *
 * Kernel inserts (the generic mechanism)
 *   A kernel joins the engine with no engine code of its own beyond its kind
 *   id: it exports a table of its verbs, ob_kernel_ops (below), usually
 *   through `const ob_kernel_ops *ob_<name>_ops(void)` in its own header, and
 *   the caller adds it with ob_engine_add_kernel(e, OB_INSERT_<NAME>, state,
 *   ops).  The engine copies the table and then
 *     - calls ops.latency(state) once, when the insert is added: the dry path
 *       of the bypass crossfade is delayed by it and ob_engine_latency sums
 *       it (a kernel's latency is fixed from new on);
 *     - calls ops.process(state, ch, nch, frames) in place, in chain order;
 *     - hands parameter messages to ops.set: a message with param
 *       OB_PARAM_KERNEL + p (p = the kernel's own parameter id, 0..999)
 *       calls ops.set(state, p, msg.section, msg.value) in the processing
 *       thread at the start of the next block.  section is the kernel's
 *       index (a band; -1 where none).  set must be real-time safe and only
 *       set a target (process ramps to it); a negative return posts
 *       OB_EVENT_PARAM_REJECTED;
 *     - calls ops.reset(state) on ob_engine_reset and from the NaN guard;
 *     - if ops.gr_meters is given, reads ops.gr_meters(state) gain-reduction
 *       meters (0..OB_ENGINE_MAX_INSERT_METERS, e.g. one per band) once when
 *       added, and after every block calls ops.take_gr(state, k) for each:
 *       the largest gain reduction since the previous take, dB >= 0.  They
 *       show per meter in ob_meters.gr_meter_db / gr_meter_max_db, and their
 *       maximum as the insert's gr_db / gr_max_db.
 *   Bypass, the dry-path delay, the NaN guard and the meters work for kernel
 *   inserts as for the built-in ones.
 *
 * Hardware inserts
 *   At the insert's place in the chain, per return channel c:
 *     send   device output send_map[c] = x_c * send_trim_c
 *     return r_c = device input return_map[c] * return_trim_c * polarity_c,
 *            then delayed by d_c = L - R_c (ob_delay: integer taps exact,
 *            fractions by a windowed sinc, see delay.h)
 *     out_c = (1 - mix) * x_c delayed by L + mix * r_c
 *   with L = max over c of ceil(R_c), plus OB_DELAY_FIR_CENTER (23) when
 *   some R_c is fractional (the sinc's causal half: a fractional delay is
 *   at least that long), so every channel lines up at L with sub-sample
 *   precision.  The insert's latency is L.  A latency change is applied at
 *   once (no crossfade): set the round trips before the program starts.
 *   Trims, polarity and mix ramp linearly over OB_ENGINE_RAMP_MS.
 *   Offline (ob_engine_process) the gear is a wire with no round trip:
 *   return = send of the same sample.
 *   Return watch (live only, per sample, so the gear's faults cost neither
 *   the speakers nor the take): a lost return (unit unplugged or its
 *   process gone), DC or full-scale oscillation on a return posts
 *   OB_EVENT_RETURN_LOST / _DC / _OSCILLATION naming the insert, mutes its
 *   returns from that sample and crossfades the insert to its dry path
 *   (delayed by L: alignment kept).  A NaN/Inf return mutes the block (the
 *   guard, step 4) and bypasses the insert at once.  The insert stays
 *   bypassed until OB_PARAM_BYPASS 0 switches it in and re-arms the watch.
 *
 * Threads
 *   One "processing" thread (the PortAudio callback, or the caller of
 *   ob_engine_process) and one control thread.  Building the graph, set_io,
 *   the ring sizes, reset and free are for the control thread while nothing
 *   processes.  While processing runs, the control thread talks to it only
 *   through single-producer single-consumer rings (params in; events, record
 *   out; playback in) and the meters (seqlock + atomics); none of these calls
 *   blocks either side.  Each ring has one reader and one writer: two control
 *   threads must serialise their calls themselves.
 *
 * Per block (real time: no allocation, lock, logging or system call; the
 * one exception is clock_gettime(CLOCK_MONOTONIC) for the DSP load, served
 * by the vDSO without entering the kernel):
 *   1. drain the parameter ring and call the kernels' setters (they ramp;
 *      kernel inserts: ops.set);
 *   2. program input: device input through in_map, or the playback ring;
 *   3. each insert in order (kernel inserts: ops.process); a bypass (or return) crossfades linearly over
 *      OB_ENGINE_RAMP_MS between the insert's output and its input delayed
 *      by the insert's latency, so bypassing keeps the latency.  Bypassed
 *      kernels keep running, so they come back in without a jump;
 *   4. NaN guard: a NaN or Inf in the program input or after any insert
 *      mutes the block (zeros), resets every kernel, posts OB_EVENT_NONFINITE;
 *   5. meters (peaks, loudness, true peak, gain reduction), clip check,
 *      record ring;
 *   6. device outputs through out_map and monitor_map.
 *
 * Guarantees
 *   The program path is the same code for the callback and ob_engine_process,
 *   so a software-only chain gives bit-identical output live and offline.
 *   Output does not depend on the block size (every ramp runs per sample)
 *   except where a parameter message lands: at the start of the first block
 *   that begins after it was pushed.  In steady state a gain insert is
 *   x * (float)10^(gain_db/20), exactly as numpy's float32 product.
 *   Latency = the sum of the inserts' latencies, bypassed ones included.
 */
#ifndef OB_ENGINE_H
#define OB_ENGINE_H

typedef struct ob_engine ob_engine;

enum {
    OB_ENGINE_MAX_CHANNELS = 8,          /* program channels */
    OB_ENGINE_MAX_INSERTS = 32,
    OB_ENGINE_MAX_DEVICE_CHANNELS = 64,  /* device channels of a stream */
    OB_ENGINE_MAX_BLOCK = 65536,
    OB_ENGINE_PARAM_SLOTS = 256,         /* parameter ring, messages */
    OB_ENGINE_EVENT_SLOTS = 1024,        /* event ring, events */
    OB_ENGINE_RAMP_MS = 20,              /* gain and bypass ramps, ms (linear) */
    OB_ENGINE_MAX_INSERT_METERS = 8      /* gain-reduction meters of one kernel insert */
};

/* Status codes besides OB_OK, OB_ERR_ARG and OB_ERR_NOMEM. */
enum {
    OB_ENGINE_ERR_FULL = -10,   /* ring full or insert table full */
    OB_ENGINE_ERR_STATE = -11   /* not possible in the current state */
};

enum {
    OB_SOURCE_INPUT = 0,      /* program from the device inputs (in_map) */
    OB_SOURCE_PLAYBACK = 1    /* program from the playback ring */
};

enum {
    OB_INSERT_EQ = 0,
    OB_INSERT_COMPRESSOR = 1,
    OB_INSERT_LIMITER = 2,
    OB_INSERT_GAIN = 3,
    OB_INSERT_HARDWARE = 4,
    /* kernel inserts (ob_engine_add_kernel): any id from OB_INSERT_KERNEL on;
       the engine only stores it (ob_engine_insert_kind) */
    OB_INSERT_KERNEL = 5,
    OB_INSERT_MULTIBAND = 5,
    OB_INSERT_IMAGER = 6,
    OB_INSERT_SATURATION = 7,
    OB_INSERT_DYNAMIC_EQ = 8
};

/* The verbs of a kernel insert (see "Kernel inserts" above).  Every function
 * takes the kernel's state as given to ob_engine_add_kernel. */
typedef void (*ob_kernel_process_fn)(void *state, float **ch, int nch, int frames);
typedef int (*ob_kernel_latency_fn)(const void *state);            /* samples */
/* Real-time safe, sets a target; OB_OK or OB_ERR_ARG (value kept). */
typedef int (*ob_kernel_set_fn)(void *state, int param, int index, double value);
typedef void (*ob_kernel_reset_fn)(void *state);                   /* history only */
typedef int (*ob_kernel_meters_fn)(const void *state);             /* meter count */
/* Largest gain reduction of meter k since the previous take, dB >= 0. */
typedef double (*ob_kernel_take_gr_fn)(void *state, int meter);

typedef struct {
    ob_kernel_process_fn process;    /* required */
    ob_kernel_latency_fn latency;    /* required */
    ob_kernel_set_fn set;            /* required */
    ob_kernel_reset_fn reset;        /* required */
    ob_kernel_meters_fn gr_meters;   /* NULL: no gain-reduction meters */
    ob_kernel_take_gr_fn take_gr;    /* required with gr_meters */
} ob_kernel_ops;

/* Event types (ob_event.type).  frame: the engine frame (program samples
 * processed since new) at the start of the block concerned. */
enum {
    OB_EVENT_XRUN = 1,              /* value: PortAudio status flags (bits 0..3) */
    OB_EVENT_NONFINITE = 2,         /* insert: -1 = program input, else the insert
                                       whose output held it; value: count of
                                       non-finite samples found there */
    OB_EVENT_CLIP = 3,              /* value: peak |x| of the block (> 1.0); at
                                       most one per 100 ms of audio */
    OB_EVENT_PLAYBACK_END = 4,      /* the finished playback ring has drained;
                                       frame: the first frame of silence */
    OB_EVENT_PLAYBACK_UNDERRUN = 5, /* start of an underrun; value: frames missing
                                       in that block (replaced by silence) */
    OB_EVENT_RECORD_OVERRUN = 6,    /* start of an overrun; value: frames dropped
                                       in that block (whole blocks are dropped) */
    OB_EVENT_PARAM_REJECTED = 7,    /* a kernel setter refused a message; insert:
                                       its insert, value: its param id */
    /* hardware insert faults, live only (the callback); insert: the hardware
       insert, now bypassed and its returns muted until it is switched in
       again (OB_PARAM_BYPASS 0 re-arms the watch); frame: the sample found */
    OB_EVENT_RETURN_LOST = 8,       /* every return sample below -100 dBFS for
                                       0.5 s + the insert's latency while the send
                                       stays above -60 dBFS; value: seconds silent */
    OB_EVENT_RETURN_DC = 9,         /* a return's 100 ms mean (one-pole) beyond
                                       +-0.1 full scale; value: that mean */
    OB_EVENT_RETURN_OSCILLATION = 10  /* return envelope (250 ms release) above 0.9
                                       full scale and its level 12 dB over the send
                                       for 50 ms; value: the envelope */
};

/* PortAudio's callback flags and return value (portaudio.h is not needed). */
enum {
    OB_PA_CONTINUE = 0,
    OB_PA_INPUT_UNDERFLOW = 1,
    OB_PA_INPUT_OVERFLOW = 2,
    OB_PA_OUTPUT_UNDERFLOW = 4,
    OB_PA_OUTPUT_OVERFLOW = 8,
    OB_PA_PRIMING_OUTPUT = 16
};

/* Layout-compatible with PaStreamCallbackTimeInfo (seconds). */
typedef struct {
    double input_adc_time, current_time, output_dac_time;
} ob_pa_time_info;

typedef struct {
    int type;        /* OB_EVENT_* */
    int insert;      /* insert index, or -1 */
    int64_t frame;   /* engine frame */
    double value;    /* see the event types */
} ob_event;

/* Parameter ids (ob_param_msg.param), with the message fields they read. */
enum {
    OB_PARAM_BYPASS = 0,              /* any insert: value 1 bypass, 0 active */
    OB_PARAM_GAIN_DB = 1,             /* gain: value, dB, -48..48 */
    OB_PARAM_COMP_THRESHOLD_DB = 10,  /* compressor: value, see compressor.h */
    OB_PARAM_COMP_RATIO = 11,
    OB_PARAM_COMP_KNEE_DB = 12,
    OB_PARAM_COMP_ATTACK_MS = 13,
    OB_PARAM_COMP_RELEASE_MS = 14,
    OB_PARAM_COMP_MAKEUP_DB = 15,
    OB_PARAM_COMP_DETECTOR = 16,      /* value: OB_COMP_DETECT_* */
    OB_PARAM_COMP_RMS_WINDOW_MS = 17,
    OB_PARAM_COMP_STEREO_LINK = 18,
    OB_PARAM_COMP_MODE = 19,          /* value: OB_COMP_MODE_* */
    OB_PARAM_COMP_SIDECHAIN_HPF_HZ = 20,
    OB_PARAM_LIM_CEILING_DBTP = 30,   /* limiter: value, dBTP, -20..0 */
    OB_PARAM_LIM_RELEASE_MS = 31,     /* limiter: value, ms, 1..1000 */
    OB_PARAM_EQ_RBJ = 40,             /* eq: section, type (OB_BIQUAD_*), freq_hz,
                                         q, gain_db, slope (ob_biquad_set_rbj) */
    OB_PARAM_EQ_BUTTERWORTH = 41,     /* eq: section (first), type, order, freq_hz */
    OB_PARAM_EQ_LINKWITZ_RILEY = 42,  /* eq: section (first), type, order, freq_hz */
    OB_PARAM_EQ_IDENTITY = 43,        /* eq: section */
    OB_PARAM_RESET_METERS = 50,       /* insert ignored: restart loudness, true
                                         peak and the clip count */
    /* hardware inserts; section: channel 0..nch-1, or -1 for every channel */
    OB_PARAM_HW_SEND_TRIM_DB = 60,    /* value, dB, -24..24 (ramped) */
    OB_PARAM_HW_RETURN_TRIM_DB = 61,  /* value, dB, -24..24 (ramped) */
    OB_PARAM_HW_POLARITY = 62,        /* value, +1 or -1 (ramped like a gain) */
    OB_PARAM_HW_MIX = 63,             /* value, 0 (dry) .. 1 (wet), ramped; section
                                         ignored */
    OB_PARAM_HW_LATENCY_SAMPLES = 64, /* section: return channel 0..nch-1 (not -1);
                                         value: measured round trip, samples,
                                         0 <= value < max_latency; applied at once */
    /* kernel inserts: OB_PARAM_KERNEL + the kernel's own id p (0..999);
       section: the kernel's index (band, or -1); value.  Calls
       ops.set(state, p, section, value). */
    OB_PARAM_KERNEL = 1000,
    OB_PARAM_KERNEL_END = 2000
};

typedef struct {
    int insert;      /* index returned by ob_engine_add_* */
    int param;       /* OB_PARAM_* */
    int section;     /* eq: section index (first section of a high/low pass);
                        kernel inserts: the kernel's index (band) */
    int type;        /* eq: OB_BIQUAD_* */
    int order;       /* eq: Butterworth / Linkwitz-Riley order */
    double value;    /* scalar parameters */
    double freq_hz;  /* eq */
    double q;        /* eq */
    double gain_db;  /* eq */
    double slope;    /* eq: shelf slope S, <= 0 for "use q" */
} ob_param_msg;

/* A consistent snapshot (seqlock: never torn), plus the "since the previous
 * read" maxima, which ob_engine_read_meters takes and restarts. */
typedef struct {
    int64_t frames;               /* program frames processed since new */
    int64_t callbacks;            /* stream callbacks run */
    int nch, n_inserts;
    double input_peak_dbfs[OB_ENGINE_MAX_CHANNELS];   /* max |x| since previous
                                                         read, dBFS (-inf: none) */
    double output_peak_dbfs[OB_ENGINE_MAX_CHANNELS];
    double momentary_lufs;        /* output, 400 ms, LUFS (-inf before 400 ms) */
    double short_term_lufs;       /* output, 3 s, LUFS */
    double integrated_lufs;       /* output, gated, LUFS, updated every 100 ms */
    double true_peak_dbtp;        /* output, max since new / meter reset, dBTP */
    double gr_db[OB_ENGINE_MAX_INSERTS];      /* dynamics: max gain reduction of
                                                 the last block, dB >= 0 */
    double gr_max_db[OB_ENGINE_MAX_INSERTS];  /* max since previous read, dB */
    int gr_meters[OB_ENGINE_MAX_INSERTS];     /* kernel inserts: gain-reduction
                                                 meters (e.g. bands), 0 for none */
    double gr_meter_db[OB_ENGINE_MAX_INSERTS][OB_ENGINE_MAX_INSERT_METERS];  /* per
        meter (band) of a kernel insert: max of the last block, dB >= 0 */
    double gr_meter_max_db[OB_ENGINE_MAX_INSERTS][OB_ENGINE_MAX_INSERT_METERS];  /* max
        since the previous read, dB */
    double hw_energy_dry[OB_ENGINE_MAX_INSERTS];  /* hardware: running sums since new
        (or reset) of the insert's input delayed by its latency L (the dry path),
        squared, over channels and samples, full scale^2 ... */
    double hw_energy_return[OB_ENGINE_MAX_INSERTS];  /* ... and of its returns after
        return trim, polarity and alignment (aligned with the dry path); the
        ratio of two differences between reads is the unit's level change over
        that time (its gain reduction for a compressor trimmed to unity); a
        faulted (bypassed) insert adds nothing */
    double dsp_load;              /* last callback: time in it / block duration */
    double dsp_load_max;          /* max since previous read */
    int64_t xruns;                /* callbacks with PortAudio xrun flags */
    int64_t nonfinite;            /* blocks muted by the NaN guard */
    int64_t clipped_samples;      /* output samples with |x| > 1, since meter reset */
    int64_t playback_frames;      /* frames taken from the playback ring */
    int64_t playback_first_frame; /* engine frame of the first frame taken from the
                                     playback ring since new / playback reset, -1 */
    int64_t playback_underruns;   /* blocks short of playback data */
    int64_t record_frames;        /* frames pushed to the record ring */
    int64_t record_first_frame;   /* engine frame of the first recorded frame, -1 */
    int64_t record_dropped;       /* frames dropped: record ring full */
    int64_t params_applied, params_rejected;
    int64_t param_frame;          /* engine frame at which the last message was
                                     applied (-1: none yet) */
    int64_t events_dropped;       /* events lost: event ring full */
    int source;                   /* OB_SOURCE_* in use */
    int playback_ended;           /* 1 once PLAYBACK_END was posted */
} ob_meters;

/* Allocate (not real-time safe).  NULL on a bad argument or out of memory. */
ob_engine *ob_engine_new(double fs, int nch, int max_block);
void ob_engine_free(ob_engine *e);

/* Clear the history: every kernel reset, delay lines zeroed, ramps at their
 * targets, output meters restarted.  Not while processing runs. */
void ob_engine_reset(ob_engine *e);

/* Graph (not while processing runs).  The kernel must have been made with
 * the engine's fs and nch.  Returns the insert index (>= 0), or
 * OB_ERR_ARG / OB_ENGINE_ERR_FULL / OB_ERR_NOMEM (limiter's dry delay). */
int ob_engine_add_eq(ob_engine *e, ob_biquad *k);
int ob_engine_add_compressor(ob_engine *e, ob_compressor *k);
int ob_engine_add_limiter(ob_engine *e, ob_limiter *k);
int ob_engine_add_gain(ob_engine *e, double gain_db);
/* Kernel insert: kind >= OB_INSERT_KERNEL, the kernel's state and its verbs
 * (copied; process, latency, set and reset required; take_gr with
 * gr_meters, which must give 0..OB_ENGINE_MAX_INSERT_METERS).  The kernel
 * must have been made with the engine's fs and nch. */
int ob_engine_add_kernel(ob_engine *e, int kind, void *state, const ob_kernel_ops *ops);
/* Hardware insert: nch sends (send_map[c]: device output 0..63 carrying
 * program channel c to the gear) and nch returns (return_map[c]: device
 * input 0..63 carrying what the gear sent back for channel c).  max_latency:
 * largest measured round trip, samples, 1..2^24 (sizes the delay lines: e.g.
 * 1 s worth).  No send may be another hardware insert's send.  Starts with
 * trims 0 dB, polarity +1, mix 1, round trips 0 (latency 0). */
int ob_engine_add_hardware(ob_engine *e, const int *send_map, const int *return_map,
                           int max_latency);
/* Set a hardware parameter (OB_PARAM_HW_*, channel as the message's section)
 * at once, without a ramp: for building, not while processing runs. */
int ob_engine_set_hardware_now(ob_engine *e, int insert, int param, int channel,
                               double value);
/* Measured round trip of one return channel as last applied, samples
 * (-1: not a hardware insert or channel).  Control thread; a value pushed
 * through the ring shows once the processing thread applied it. */
double ob_engine_hardware_round_trip(const ob_engine *e, int insert, int channel);
/* Start an insert bypassed (at once, no ramp).  Not while processing runs;
 * live changes go through OB_PARAM_BYPASS. */
int ob_engine_set_bypass_now(ob_engine *e, int insert, int bypass);
int ob_engine_insert_count(const ob_engine *e);
int ob_engine_insert_kind(const ob_engine *e, int insert);        /* OB_INSERT_*, or -1 */
int ob_engine_insert_latency(const ob_engine *e, int insert);     /* samples, or -1 */
/* Sum of the inserts' latencies, samples. */
int ob_engine_latency(const ob_engine *e);

/* Device channel map (not while processing runs); see Parameters. */
int ob_engine_set_io(ob_engine *e, int dev_in_channels, int dev_out_channels,
                     const int *in_map, const int *out_map, int n_monitor,
                     const int *monitor_map);
/* Ring capacities, frames (reallocates and empties them; not while
 * processing runs). */
int ob_engine_set_ring_frames(ob_engine *e, int playback_frames, int record_frames);

/* Any time (atomic; takes effect at the next block, without a crossfade). */
int ob_engine_set_source(ob_engine *e, int source);
/* Ping mode (any time, atomic; the callback applies it at its next call).
 * insert: a hardware insert, or -1 for off.  While on, the stream callback
 * does not run the program: the playback ring (nch channels, the test
 * signal) goes straight to that insert's send outputs (no trim, no chain),
 * every other device output is zero (program outputs and monitors too), and
 * the record ring receives that insert's raw return inputs (before trim,
 * polarity and delay) for exactly the frames that came from the playback
 * ring, sample-aligned with them: record frame i was read in the same
 * callback, at the same position, as playback frame i was sent.  On entering
 * and on leaving ping mode the callback discards what the playback ring
 * holds; on leaving, every insert's history is cleared.  A gap in the
 * playback data once the ping started (the ring ran dry, then had data
 * again) breaks the alignment: it counts as a playback underrun (meters,
 * OB_EVENT_PLAYBACK_UNDERRUN).  OB_ERR_ARG if insert is not a hardware
 * insert.  ob_engine_process ignores ping mode. */
int ob_engine_set_ping(ob_engine *e, int insert);
/* The ping mode the callback is in (the insert, or -1): poll it after
 * ob_engine_set_ping before writing the ping to the playback ring. */
int ob_engine_ping_active(const ob_engine *e);
/* Any time: 1 starts pushing the program output to the record ring at the
 * next block, 0 stops. */
void ob_engine_set_record(ob_engine *e, int on);

/* Playback ring, control-thread side (never blocks).  interleaved: frames x
 * nch float32.  Returns the frames accepted (0..frames). */
int ob_engine_playback_write(ob_engine *e, const float *interleaved, int frames);
/* Free space, frames. */
int ob_engine_playback_space(const ob_engine *e);
/* Frames written and not yet played. */
int ob_engine_playback_queued(const ob_engine *e);
/* End of the programme: once the ring drains the engine plays silence and
 * posts OB_EVENT_PLAYBACK_END once. */
void ob_engine_playback_finish(ob_engine *e);
/* Empty the ring and clear the finished/ended state (not while processing
 * runs). */
void ob_engine_playback_reset(ob_engine *e);

/* Record ring, control-thread side: up to max_frames frames (interleaved,
 * nch per frame) into interleaved; returns the count.  Never blocks. */
int ob_engine_record_read(ob_engine *e, float *interleaved, int max_frames);
/* Frames waiting in the record ring. */
int ob_engine_record_available(const ob_engine *e);

/* Queue a parameter message (never blocks): OB_OK, OB_ERR_ARG (insert index
 * or id unknown, or the id does not fit the insert's kind), or
 * OB_ENGINE_ERR_FULL.  Values are checked by the kernel's setter when the
 * message is applied; a refusal posts OB_EVENT_PARAM_REJECTED. */
int ob_engine_param_push(ob_engine *e, const ob_param_msg *m);

/* Pop one event into e: 1, or 0 when none is waiting.  Never blocks. */
int ob_engine_event_pop(ob_engine *e, ob_event *ev);

/* Snapshot of the meters (never blocks the processing thread; retries on a
 * concurrent update).  Takes the "since previous read" maxima. */
void ob_engine_read_meters(ob_engine *e, ob_meters *out);

/* The program path on planar buffers: in[c], out[c] (c < nch) of frames
 * samples; in and out may be the same buffers.  Runs the chain, NaN guard,
 * meters and record ring exactly as the callback does (the program input is
 * `in`, whatever the source), with flush-to-zero / denormals-are-zero set
 * for the call as in the callback (the caller's mode is restored after).
 * Real-time safe.  OB_OK, or OB_ERR_ARG. */
int ob_engine_process(ob_engine *e, float **in, float **out, int frames);

/* PortAudio stream callback (PaStreamCallback): duplex, float32 interleaved,
 * opened with exactly the device channel counts given to ob_engine_set_io
 * (the callback trusts them); userdata is the engine.  Sets flush-to-zero
 * for its thread, runs the program path in max_block pieces, measures its
 * DSP load, publishes the meters.  Always returns OB_PA_CONTINUE and always
 * fills the whole output. */
int ob_engine_pa_callback(const void *input, void *output, unsigned long frames,
                          const ob_pa_time_info *time_info, unsigned long status_flags,
                          void *userdata);

#endif
