/* engine.c -- the real-time engine (see engine.h for the design). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "outboard.h"
#include "ob_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#define RING_MAX_FRAMES (1 << 26)

/* ---- lock-free single-producer single-consumer ring of frames ----------- */

/* Indices count frames since the ring was (re)made and only grow; the slot
 * of frame i is i % cap.  The writer owns w, the reader owns r; each
 * publishes with a release store and reads the other's with an acquire
 * load, so the data written before a store is visible after the load. */
typedef struct {
    float *buf;         /* cap * nch floats, interleaved */
    int64_t cap;        /* capacity, frames */
    _Atomic int64_t w;  /* frames written */
    _Atomic int64_t r;  /* frames read */
} fring;

static int fring_alloc(fring *q, int64_t cap, int nch)
{
    float *b = calloc((size_t)cap * (size_t)nch, sizeof(float));
    if (!b)
        return OB_ERR_NOMEM;
    free(q->buf);
    q->buf = b;
    q->cap = cap;
    atomic_store(&q->w, 0);
    atomic_store(&q->r, 0);
    return OB_OK;
}

/* ---- inserts -------------------------------------------------------------- */

/* A linear ramp of a double toward a target, advanced per sample. */
typedef struct {
    double cur, target, step;
    int left;           /* samples until cur == target */
} ramp;

static void ramp_set(ramp *p, double target, int len)
{
    p->target = target;
    if (target == p->cur) {
        p->left = 0;
        return;
    }
    p->left = len;
    p->step = (target - p->cur) / (double)len;
}

static void ramp_snap(ramp *p)
{
    p->cur = p->target;
    p->left = 0;
}

/* Fill v[0..n-1] with the ramp's value at each sample and advance it;
 * returns how many of the n samples were still ramping (the last of them
 * has the target value). */
static int ramp_run(ramp *p, double *v, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (p->left > 0) {
            p->cur = --p->left ? p->cur + p->step : p->target;
            k = i + 1;
        }
        v[i] = p->cur;
    }
    return k;
}

typedef struct {
    int kind;           /* OB_INSERT_* */
    void *k;            /* the kernel (not owned); NULL for gain */
    ob_kernel_ops ops;  /* kernel inserts: the kernel's verbs (process != NULL) */
    int n_gr;           /* kernel inserts: gain-reduction meters */
    _Atomic int latency;  /* samples (a hardware insert's changes while running) */
    int cap;            /* dry ring length per channel: latency + 1, or the largest
                           latency + 1 (hardware); 0: no dry ring */
    float *delay;       /* cap > 0: dry delay line, nch rings of cap samples */
    int dpos;           /* write position in each delay ring */
    ramp wet;           /* 1 = insert in, 0 = bypassed */
    ramp gain;          /* gain insert: linear gain */
    float gain_f;       /* (float) gain.target: the steady-state multiplier */
    /* hardware insert */
    int send[OB_ENGINE_MAX_CHANNELS], ret[OB_ENGINE_MAX_CHANNELS];  /* device channels */
    ramp sg[OB_ENGINE_MAX_CHANNELS];   /* send trim, linear */
    ramp rg[OB_ENGINE_MAX_CHANNELS];   /* return trim * polarity, linear */
    double ret_lin[OB_ENGINE_MAX_CHANNELS];  /* return trim, linear */
    double pol[OB_ENGINE_MAX_CHANNELS];      /* +1 / -1 */
    double rt[OB_ENGINE_MAX_CHANNELS];       /* measured round trip R_c, samples */
    ramp mix;           /* 0 dry .. 1 wet */
    int max_latency;    /* R_c < max_latency */
    ob_delay *wd;       /* return alignment delays d_c = L - R_c */
    /* hardware insert: return watch (see watch_returns) */
    int fault;          /* 0, or the OB_EVENT_RETURN_* / NONFINITE that bypassed it */
    double w_send;      /* send mean square, one-pole 5 ms, full scale^2 */
    double w_env;       /* return peak envelope, instant attack, 250 ms release */
    double w_dc[OB_ENGINE_MAX_CHANNELS];  /* return mean, one-pole 100 ms */
    int64_t w_quiet;    /* consecutive samples: return below -100 dBFS, send above
                           -60 dBFS (a send pause restarts it) */
    int64_t w_hot;      /* consecutive samples: return envelope > 0.9 and 12 dB above
                           the send */
    double a_send, a_dc, env_rel;  /* one-pole coefficients from fs */
    int64_t quiet_len, hot_len;    /* 0.5 s (+ the latency L), 50 ms, samples */
} insert;

/* ---- the engine -------------------------------------------------------------- */

struct ob_engine {
    double fs;
    int nch, max_block, ramp_len;

    insert ins[OB_ENGINE_MAX_INSERTS];
    int n_ins;

    /* device map */
    int dev_in, dev_out, n_mon;
    int in_map[OB_ENGINE_MAX_CHANNELS], out_map[OB_ENGINE_MAX_CHANNELS];
    int mon_map[OB_ENGINE_MAX_DEVICE_CHANNELS];

    /* work buffers (processing thread) */
    float *work;        /* nch * max_block: the program, planar */
    float *dry;         /* nch * max_block: an insert's input, for the crossfade */
    double *rampv;      /* max_block: per-sample ramp values */
    float *wp[OB_ENGINE_MAX_CHANNELS], *dp[OB_ENGINE_MAX_CHANNELS];
    float *ret;         /* nch * max_block: a hardware insert's returns, planar */
    float *rp[OB_ENGINE_MAX_CHANNELS];
    const float *blk_in;  /* callback: device input of the current piece (NULL offline) */
    float *blk_out;       /* callback: device output of the current piece */

    /* owned meters */
    ob_loudness *loud;
    ob_truepeak *tp;

    /* control -> processing */
    _Atomic int source, record_on;
    _Atomic int ping_req, ping_ack;   /* ping mode asked for / in force (-1 off) */
    ob_param_msg pq[OB_ENGINE_PARAM_SLOTS];
    _Atomic int64_t pq_w, pq_r;
    fring play;
    _Atomic int play_finished;

    /* processing -> control */
    ob_event evq[OB_ENGINE_EVENT_SLOTS];
    _Atomic int64_t ev_w, ev_r;
    fring rec;

    /* processing-thread state */
    int64_t frame;          /* program frames processed */
    int play_started, play_ended, in_underrun, in_overrun, record_was_on;
    int64_t last_clip_event;  /* frame of the last CLIP event, or < 0 */
    int64_t since_integrated; /* frames since the integrated loudness update */
    int clip_holdoff, integrated_every;  /* frames */
    int ping_cur, ping_started, ping_dry; /* ping mode, processing thread */
    ob_meters snap;         /* written by the processing thread only */

    /* published meters: seqlock (odd seq: update in progress) */
    _Atomic unsigned seq;
    ob_meters pub;
    _Atomic double in_pk[OB_ENGINE_MAX_CHANNELS], out_pk[OB_ENGINE_MAX_CHANNELS];
    _Atomic double gr_max[OB_ENGINE_MAX_INSERTS], load_max;
    _Atomic double gr_meter_max[OB_ENGINE_MAX_INSERTS][OB_ENGINE_MAX_INSERT_METERS];
};

/* ---- small helpers ------------------------------------------------------------- */

static void atomic_max_d(_Atomic double *a, double v)
{
    double old = atomic_load_explicit(a, memory_order_relaxed);
    while (v > old && !atomic_compare_exchange_weak_explicit(a, &old, v, memory_order_relaxed,
                                                             memory_order_relaxed)) {
    }
}

static double lin_to_db(double x) { return x > 0.0 ? 20.0 * log10(x) : -HUGE_VAL; }

/* Number of NaN/Inf samples in nch channels of n samples.  The all-finite
 * test is an integer OR over the exponent bits, which vectorizes. */
static int count_nonfinite(float *const *ch, int nch, int n)
{
    uint32_t any = 0;
    for (int c = 0; c < nch; c++) {
        const float *x = ch[c];
        for (int i = 0; i < n; i++) {
            uint32_t b;
            memcpy(&b, &x[i], 4);
            any |= (b & 0x7f800000u) + 0x00800000u;
        }
    }
    if (!(any & 0x80000000u))
        return 0;
    int count = 0;
    for (int c = 0; c < nch; c++)
        for (int i = 0; i < n; i++)
            count += !isfinite(ch[c][i]);
    return count;
}

static void post(ob_engine *e, int type, int insert_idx, int64_t frame, double value)
{
    int64_t w = atomic_load_explicit(&e->ev_w, memory_order_relaxed);
    int64_t r = atomic_load_explicit(&e->ev_r, memory_order_acquire);
    if (w - r >= OB_ENGINE_EVENT_SLOTS) {
        e->snap.events_dropped++;
        return;
    }
    ob_event *ev = &e->evq[w % OB_ENGINE_EVENT_SLOTS];
    ev->type = type;
    ev->insert = insert_idx;
    ev->frame = frame;
    ev->value = value;
    atomic_store_explicit(&e->ev_w, w + 1, memory_order_release);
}

/* Floating-point mode of the calling thread, saved around an offline call so
 * that it runs with flush-to-zero like the callback and leaves the caller's
 * mode as it was. */
typedef struct { unsigned long v; } fpmode;

static fpmode fpmode_save(void)
{
    fpmode m = {0};
#if defined(__x86_64__) || defined(__i386__)
    m.v = _mm_getcsr();
#elif defined(__aarch64__)
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    m.v = (unsigned long)fpcr;
#endif
    return m;
}

static void fpmode_restore(fpmode m)
{
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr((unsigned int)m.v);
#elif defined(__aarch64__)
    uint64_t fpcr = m.v;
    __asm__ volatile("msr fpcr, %0" : : "r"(fpcr));
#else
    (void)m;
#endif
}

/* ---- new / free / reset ------------------------------------------------------- */

ob_engine *ob_engine_new(double fs, int nch, int max_block)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_ENGINE_MAX_CHANNELS ||
        max_block < 1 || max_block > OB_ENGINE_MAX_BLOCK)
        return NULL;
    ob_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->fs = fs;
    e->nch = nch;
    e->max_block = max_block;
    e->ramp_len = (int)lround(OB_ENGINE_RAMP_MS * 1e-3 * fs);
    e->clip_holdoff = (int)lround(0.1 * fs);
    e->integrated_every = (int)lround(0.1 * fs);
    size_t nb = (size_t)nch * (size_t)max_block;
    e->work = calloc(nb, sizeof(float));
    e->dry = calloc(nb, sizeof(float));
    e->rampv = calloc((size_t)max_block, sizeof(double));
    e->ret = calloc(nb, sizeof(float));
    e->loud = ob_loudness_new(fs, nch);
    e->tp = ob_truepeak_new(fs, nch, 0);
    int64_t ring = (int64_t)llround(2.0 * fs);
    if (!e->work || !e->dry || !e->rampv || !e->ret || !e->loud || !e->tp ||
        fring_alloc(&e->play, ring, nch) != OB_OK || fring_alloc(&e->rec, ring, nch) != OB_OK) {
        ob_engine_free(e);
        return NULL;
    }
    for (int c = 0; c < nch; c++) {
        e->wp[c] = e->work + (size_t)c * (size_t)max_block;
        e->dp[c] = e->dry + (size_t)c * (size_t)max_block;
        e->rp[c] = e->ret + (size_t)c * (size_t)max_block;
        e->in_map[c] = -1;
        e->out_map[c] = -1;
    }
    atomic_init(&e->source, OB_SOURCE_INPUT);
    atomic_init(&e->record_on, 0);
    atomic_init(&e->ping_req, -1);
    atomic_init(&e->ping_ack, -1);
    e->ping_cur = -1;
    atomic_init(&e->play_finished, 0);
    atomic_init(&e->pq_w, 0);
    atomic_init(&e->pq_r, 0);
    atomic_init(&e->ev_w, 0);
    atomic_init(&e->ev_r, 0);
    atomic_init(&e->seq, 0);
    for (int c = 0; c < OB_ENGINE_MAX_CHANNELS; c++) {
        atomic_init(&e->in_pk[c], 0.0);
        atomic_init(&e->out_pk[c], 0.0);
    }
    for (int i = 0; i < OB_ENGINE_MAX_INSERTS; i++) {
        atomic_init(&e->gr_max[i], 0.0);
        for (int k = 0; k < OB_ENGINE_MAX_INSERT_METERS; k++)
            atomic_init(&e->gr_meter_max[i][k], 0.0);
    }
    atomic_init(&e->load_max, 0.0);
    e->last_clip_event = -(int64_t)e->clip_holdoff;
    ob_meters *s = &e->snap;
    s->nch = nch;
    s->momentary_lufs = s->short_term_lufs = s->integrated_lufs = -HUGE_VAL;
    s->true_peak_dbtp = -HUGE_VAL;
    s->record_first_frame = -1;
    s->playback_first_frame = -1;
    s->param_frame = -1;
    s->source = OB_SOURCE_INPUT;
    e->pub = *s;
    return e;
}

void ob_engine_free(ob_engine *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->n_ins; i++) {
        free(e->ins[i].delay);
        ob_delay_free(e->ins[i].wd);
    }
    free(e->work);
    free(e->ret);
    free(e->dry);
    free(e->rampv);
    free(e->play.buf);
    free(e->rec.buf);
    ob_loudness_free(e->loud);
    ob_truepeak_free(e->tp);
    free(e);
}

static void reset_meters(ob_engine *e)
{
    ob_loudness_reset(e->loud);
    ob_truepeak_reset(e->tp);
    e->snap.momentary_lufs = e->snap.short_term_lufs = -HUGE_VAL;
    e->snap.integrated_lufs = e->snap.true_peak_dbtp = -HUGE_VAL;
    e->snap.clipped_samples = 0;
    e->since_integrated = 0;
}

/* The return watch starts over (the fault latch stays). */
static void watch_clear(insert *s)
{
    s->w_send = s->w_env = 0.0;
    for (int c = 0; c < OB_ENGINE_MAX_CHANNELS; c++)
        s->w_dc[c] = 0.0;
    s->w_quiet = s->w_hot = 0;
}

/* Clear every insert's history (the NaN guard and ob_engine_reset). */
static void reset_inserts(ob_engine *e)
{
    for (int i = 0; i < e->n_ins; i++) {
        insert *s = &e->ins[i];
        switch (s->kind) {
        case OB_INSERT_EQ: ob_biquad_reset(s->k); break;
        case OB_INSERT_COMPRESSOR: ob_compressor_reset(s->k); break;
        case OB_INSERT_LIMITER: ob_limiter_reset(s->k); break;
        default:
            if (s->ops.reset)
                s->ops.reset(s->k);
            break;
        }
        if (s->cap > 0)
            memset(s->delay, 0, sizeof(float) * (size_t)s->cap * (size_t)e->nch);
        s->dpos = 0;
        ramp_snap(&s->wet);
        ramp_snap(&s->gain);
        if (s->kind == OB_INSERT_HARDWARE) {
            ob_delay_reset(s->wd);
            for (int c = 0; c < e->nch; c++) {
                ramp_snap(&s->sg[c]);
                ramp_snap(&s->rg[c]);
            }
            ramp_snap(&s->mix);
            watch_clear(s);
        }
    }
}

void ob_engine_reset(ob_engine *e)
{
    if (!e)
        return;
    reset_inserts(e);
    reset_meters(e);
}

/* ---- graph ------------------------------------------------------------------- */

static int add_insert(ob_engine *e, int kind, void *k, int latency)
{
    if (!e || (kind != OB_INSERT_GAIN && !k))
        return OB_ERR_ARG;
    if (e->n_ins >= OB_ENGINE_MAX_INSERTS)
        return OB_ENGINE_ERR_FULL;
    insert *s = &e->ins[e->n_ins];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->k = k;
    s->latency = latency > 0 ? latency : 0;
    s->cap = latency > 0 ? latency + 1 : 0;
    if (s->cap > 0) {
        s->delay = calloc((size_t)s->cap * (size_t)e->nch, sizeof(float));
        if (!s->delay)
            return OB_ERR_NOMEM;
    }
    s->wet.cur = s->wet.target = 1.0;
    s->gain.cur = s->gain.target = 1.0;
    s->gain_f = 1.0f;
    return e->n_ins++;
}

int ob_engine_add_eq(ob_engine *e, ob_biquad *k)
{
    return add_insert(e, OB_INSERT_EQ, k, k ? ob_biquad_latency(k) : 0);
}

int ob_engine_add_compressor(ob_engine *e, ob_compressor *k)
{
    return add_insert(e, OB_INSERT_COMPRESSOR, k, k ? ob_compressor_latency(k) : 0);
}

int ob_engine_add_limiter(ob_engine *e, ob_limiter *k)
{
    return add_insert(e, OB_INSERT_LIMITER, k, k ? ob_limiter_latency(k) : 0);
}

int ob_engine_add_gain(ob_engine *e, double gain_db)
{
    if (!(gain_db >= -48.0 && gain_db <= 48.0))
        return OB_ERR_ARG;
    int i = add_insert(e, OB_INSERT_GAIN, NULL, 0);
    if (i >= 0) {
        insert *s = &e->ins[i];
        s->gain.cur = s->gain.target = ob_db_to_lin(gain_db);
        s->gain_f = (float)s->gain.target;
    }
    return i;
}

int ob_engine_add_kernel(ob_engine *e, int kind, void *state, const ob_kernel_ops *ops)
{
    if (!e || kind < OB_INSERT_KERNEL || !state || !ops || !ops->process || !ops->latency ||
        !ops->set || !ops->reset || (ops->gr_meters && !ops->take_gr))
        return OB_ERR_ARG;
    const int n_gr = ops->gr_meters ? ops->gr_meters(state) : 0;
    const int latency = ops->latency(state);
    if (n_gr < 0 || n_gr > OB_ENGINE_MAX_INSERT_METERS || latency < 0)
        return OB_ERR_ARG;
    int i = add_insert(e, kind, state, latency);
    if (i >= 0) {
        e->ins[i].ops = *ops;
        e->ins[i].n_gr = n_gr;
        e->snap.gr_meters[i] = n_gr;
        e->pub.gr_meters[i] = n_gr;
    }
    return i;
}

int ob_engine_set_bypass_now(ob_engine *e, int insert_idx, int bypass)
{
    if (!e || insert_idx < 0 || insert_idx >= e->n_ins)
        return OB_ERR_ARG;
    ramp *w = &e->ins[insert_idx].wet;
    if (!bypass) {
        e->ins[insert_idx].fault = 0;
        watch_clear(&e->ins[insert_idx]);
    }
    w->target = bypass ? 0.0 : 1.0;
    ramp_snap(w);
    return OB_OK;
}

/* L = max over c of ceil(R_c) (+ the sinc's centre when R_c is fractional);
 * d_c = L - R_c.  Returns OB_ERR_ARG (nothing changed) if a delay does not fit. */
static int hw_update_latency(ob_engine *e, insert *s)
{
    int L = 0;
    for (int c = 0; c < e->nch; c++) {
        const double r = s->rt[c], up = ceil(r);
        const int need = (int)up + (up != r ? OB_DELAY_FIR_CENTER : 0);
        L = need > L ? need : L;
    }
    if (L >= s->cap)
        return OB_ERR_ARG;
    for (int c = 0; c < e->nch; c++)
        if (ob_delay_set_delay(s->wd, c, (double)L - s->rt[c]) != OB_OK)
            return OB_ERR_ARG;
    s->latency = L;
    return OB_OK;
}

/* A hardware parameter, ramped from where it is (apply_param and _now). */
static int hw_param(ob_engine *e, insert *s, int param, int ch, double v)
{
    const int all = ch == -1, lo = all ? 0 : ch, hi = all ? e->nch : ch + 1;
    if (s->kind != OB_INSERT_HARDWARE || ch < -1 || ch >= e->nch)
        return OB_ERR_ARG;
    switch (param) {
    case OB_PARAM_HW_SEND_TRIM_DB:
        if (!(v >= -24.0 && v <= 24.0))
            return OB_ERR_ARG;
        for (int c = lo; c < hi; c++)
            ramp_set(&s->sg[c], ob_db_to_lin(v), e->ramp_len);
        return OB_OK;
    case OB_PARAM_HW_RETURN_TRIM_DB:
    case OB_PARAM_HW_POLARITY:
        if (param == OB_PARAM_HW_RETURN_TRIM_DB ? !(v >= -24.0 && v <= 24.0)
                                                : !(v == 1.0 || v == -1.0))
            return OB_ERR_ARG;
        for (int c = lo; c < hi; c++) {
            if (param == OB_PARAM_HW_POLARITY)
                s->pol[c] = v;
            else
                s->ret_lin[c] = ob_db_to_lin(v);
            ramp_set(&s->rg[c], s->ret_lin[c] * s->pol[c], e->ramp_len);
        }
        return OB_OK;
    case OB_PARAM_HW_MIX:
        if (!(v >= 0.0 && v <= 1.0))
            return OB_ERR_ARG;
        ramp_set(&s->mix, v, e->ramp_len);
        return OB_OK;
    case OB_PARAM_HW_LATENCY_SAMPLES: {
        if (all || !(v >= 0.0 && v < (double)s->max_latency))
            return OB_ERR_ARG;
        const double old = s->rt[ch];
        s->rt[ch] = v;
        if (hw_update_latency(e, s) != OB_OK) {
            s->rt[ch] = old;
            hw_update_latency(e, s);
            return OB_ERR_ARG;
        }
        return OB_OK;
    }
    default: return OB_ERR_ARG;
    }
}

int ob_engine_add_hardware(ob_engine *e, const int *send_map, const int *return_map,
                           int max_latency)
{
    if (!e || !send_map || !return_map || max_latency < 1 || max_latency > OB_DELAY_MAX)
        return OB_ERR_ARG;
    for (int c = 0; c < e->nch; c++) {
        if (send_map[c] < 0 || send_map[c] >= OB_ENGINE_MAX_DEVICE_CHANNELS ||
            return_map[c] < 0 || return_map[c] >= OB_ENGINE_MAX_DEVICE_CHANNELS)
            return OB_ERR_ARG;
        for (int k = 0; k < c; k++)
            if (send_map[k] == send_map[c])
                return OB_ERR_ARG;
        for (int i = 0; i < e->n_ins; i++)
            if (e->ins[i].kind == OB_INSERT_HARDWARE)
                for (int k = 0; k < e->nch; k++)
                    if (e->ins[i].send[k] == send_map[c])
                        return OB_ERR_ARG;
    }
    if (e->n_ins >= OB_ENGINE_MAX_INSERTS)
        return OB_ENGINE_ERR_FULL;
    const int cap = max_latency + OB_DELAY_FIR_CENTER + 1;
    ob_delay *wd = ob_delay_new(e->fs, e->nch, cap);
    float *dl = calloc((size_t)cap * (size_t)e->nch, sizeof(float));
    if (!wd || !dl) {
        ob_delay_free(wd);
        free(dl);
        return OB_ERR_NOMEM;
    }
    int i = add_insert(e, OB_INSERT_HARDWARE, wd, 0);
    if (i < 0) {
        ob_delay_free(wd);
        free(dl);
        return i;
    }
    insert *s = &e->ins[i];
    s->wd = wd;
    s->delay = dl;
    s->cap = cap;
    s->max_latency = max_latency;
    for (int c = 0; c < e->nch; c++) {
        s->send[c] = send_map[c];
        s->ret[c] = return_map[c];
        s->sg[c].cur = s->sg[c].target = 1.0;
        s->rg[c].cur = s->rg[c].target = 1.0;
        s->ret_lin[c] = 1.0;
        s->pol[c] = 1.0;
        s->rt[c] = 0.0;
    }
    s->mix.cur = s->mix.target = 1.0;
    s->a_send = 1.0 - exp(-1.0 / (0.005 * e->fs));
    s->a_dc = 1.0 - exp(-1.0 / (0.100 * e->fs));
    s->env_rel = exp(-1.0 / (0.250 * e->fs));
    s->quiet_len = (int64_t)(0.5 * e->fs + 0.5);
    s->hot_len = (int64_t)(0.05 * e->fs + 0.5);
    hw_update_latency(e, s);
    return i;
}

int ob_engine_set_hardware_now(ob_engine *e, int insert_idx, int param, int channel,
                               double value)
{
    if (!e || insert_idx < 0 || insert_idx >= e->n_ins)
        return OB_ERR_ARG;
    insert *s = &e->ins[insert_idx];
    int st = hw_param(e, s, param, channel, value);
    if (st == OB_OK && s->kind == OB_INSERT_HARDWARE) {
        for (int c = 0; c < e->nch; c++) {
            ramp_snap(&s->sg[c]);
            ramp_snap(&s->rg[c]);
        }
        ramp_snap(&s->mix);
    }
    return st;
}

double ob_engine_hardware_round_trip(const ob_engine *e, int insert_idx, int channel)
{
    if (!e || insert_idx < 0 || insert_idx >= e->n_ins ||
        e->ins[insert_idx].kind != OB_INSERT_HARDWARE || channel < 0 || channel >= e->nch)
        return -1.0;
    return e->ins[insert_idx].rt[channel];
}

int ob_engine_insert_count(const ob_engine *e) { return e ? e->n_ins : 0; }

int ob_engine_insert_kind(const ob_engine *e, int i)
{
    return e && i >= 0 && i < e->n_ins ? e->ins[i].kind : -1;
}

int ob_engine_insert_latency(const ob_engine *e, int i)
{
    return e && i >= 0 && i < e->n_ins ? e->ins[i].latency : -1;
}

int ob_engine_latency(const ob_engine *e)
{
    int sum = 0;
    for (int i = 0; e && i < e->n_ins; i++)
        sum += e->ins[i].latency;
    return sum;
}

int ob_engine_set_io(ob_engine *e, int dev_in_channels, int dev_out_channels, const int *in_map,
                     const int *out_map, int n_monitor, const int *monitor_map)
{
    if (!e || dev_in_channels < 0 || dev_in_channels > OB_ENGINE_MAX_DEVICE_CHANNELS ||
        dev_out_channels < 0 || dev_out_channels > OB_ENGINE_MAX_DEVICE_CHANNELS ||
        n_monitor < 0 || n_monitor > dev_out_channels || (n_monitor > 0 && !monitor_map))
        return OB_ERR_ARG;
    unsigned char used[OB_ENGINE_MAX_DEVICE_CHANNELS] = {0};
    for (int c = 0; c < e->nch; c++) {
        int mi = in_map ? in_map[c] : -1, mo = out_map ? out_map[c] : -1;
        if (mi < -1 || mi >= dev_in_channels || mo < -1 || mo >= dev_out_channels)
            return OB_ERR_ARG;
        if (mo >= 0 && used[mo]++)
            return OB_ERR_ARG;
    }
    for (int k = 0; k < n_monitor; k++) {
        int mo = monitor_map[k];
        if (mo < 0 || mo >= dev_out_channels || used[mo]++)
            return OB_ERR_ARG;
    }
    for (int i = 0; i < e->n_ins; i++) {
        const insert *s = &e->ins[i];
        if (s->kind != OB_INSERT_HARDWARE)
            continue;
        for (int c = 0; c < e->nch; c++)
            if (s->send[c] >= dev_out_channels || used[s->send[c]]++ ||
                s->ret[c] >= dev_in_channels)
                return OB_ERR_ARG;
    }
    e->dev_in = dev_in_channels;
    e->dev_out = dev_out_channels;
    for (int c = 0; c < e->nch; c++) {
        e->in_map[c] = in_map ? in_map[c] : -1;
        e->out_map[c] = out_map ? out_map[c] : -1;
    }
    e->n_mon = n_monitor;
    for (int k = 0; k < n_monitor; k++)
        e->mon_map[k] = monitor_map[k];
    return OB_OK;
}

int ob_engine_set_ring_frames(ob_engine *e, int playback_frames, int record_frames)
{
    if (!e || playback_frames < 1 || playback_frames > RING_MAX_FRAMES || record_frames < 1 ||
        record_frames > RING_MAX_FRAMES)
        return OB_ERR_ARG;
    int st = fring_alloc(&e->play, playback_frames, e->nch);
    if (st == OB_OK)
        st = fring_alloc(&e->rec, record_frames, e->nch);
    ob_engine_playback_reset(e);
    return st;
}

int ob_engine_set_ping(ob_engine *e, int insert_idx)
{
    if (!e || insert_idx < -1 || insert_idx >= e->n_ins ||
        (insert_idx >= 0 && e->ins[insert_idx].kind != OB_INSERT_HARDWARE))
        return OB_ERR_ARG;
    atomic_store_explicit(&e->ping_req, insert_idx, memory_order_release);
    return OB_OK;
}

int ob_engine_ping_active(const ob_engine *e)
{
    return e ? atomic_load_explicit(&e->ping_ack, memory_order_acquire) : -1;
}

int ob_engine_set_source(ob_engine *e, int source)
{
    if (!e || (source != OB_SOURCE_INPUT && source != OB_SOURCE_PLAYBACK))
        return OB_ERR_ARG;
    atomic_store_explicit(&e->source, source, memory_order_relaxed);
    return OB_OK;
}

void ob_engine_set_record(ob_engine *e, int on)
{
    if (e)
        atomic_store_explicit(&e->record_on, on ? 1 : 0, memory_order_relaxed);
}

/* ---- rings, control-thread side ------------------------------------------------ */

/* Copy n interleaved frames between the ring, from absolute position pos
 * (wrapping at its end), and the linear buffer x: into the ring when to_ring,
 * out of it otherwise.  Called from Python's side of the rings only. */
/* Frames queued in a ring (either side may call it). */
static int64_t fring_fill(const fring *q)
{
    return atomic_load_explicit(&q->w, memory_order_acquire) -
           atomic_load_explicit(&q->r, memory_order_acquire);
}

static void fring_copy(fring *q, int64_t pos, float *x, int64_t n, int nch, int to_ring)
{
    for (int64_t done = 0; done < n;) {
        int64_t at = (pos + done) % q->cap, run = q->cap - at;
        if (run > n - done)
            run = n - done;
        float *ring = q->buf + at * nch, *lin = x + done * nch;
        size_t bytes = sizeof(float) * (size_t)(run * nch);
        if (to_ring)
            memcpy(ring, lin, bytes);
        else
            memcpy(lin, ring, bytes);
        done += run;
    }
}

int ob_engine_playback_write(ob_engine *e, const float *x, int frames)
{
    if (!e || !x || frames <= 0)
        return 0;
    fring *q = &e->play;
    int64_t w = atomic_load_explicit(&q->w, memory_order_relaxed);
    int64_t r = atomic_load_explicit(&q->r, memory_order_acquire);
    int64_t n = q->cap - (w - r);
    if (n > frames)
        n = frames;
    fring_copy(q, w, (float *)x, n, e->nch, 1);
    atomic_store_explicit(&q->w, w + n, memory_order_release);
    return (int)n;
}

int ob_engine_playback_space(const ob_engine *e)
{
    return e ? (int)(e->play.cap - fring_fill(&e->play)) : 0;
}

int ob_engine_playback_queued(const ob_engine *e)
{
    return e ? (int)fring_fill(&e->play) : 0;
}

void ob_engine_playback_finish(ob_engine *e)
{
    if (e)
        atomic_store_explicit(&e->play_finished, 1, memory_order_release);
}

void ob_engine_playback_reset(ob_engine *e)
{
    if (!e)
        return;
    atomic_store(&e->play.w, 0);
    atomic_store(&e->play.r, 0);
    atomic_store(&e->play_finished, 0);
    e->play_started = e->play_ended = e->in_underrun = 0;
    e->snap.playback_ended = 0;
    e->snap.playback_first_frame = -1;
}

int ob_engine_record_read(ob_engine *e, float *x, int max_frames)
{
    if (!e || !x || max_frames <= 0)
        return 0;
    fring *q = &e->rec;
    int64_t r = atomic_load_explicit(&q->r, memory_order_relaxed);
    int64_t w = atomic_load_explicit(&q->w, memory_order_acquire);
    int64_t n = w - r;
    if (n > max_frames)
        n = max_frames;
    fring_copy(q, r, x, n, e->nch, 0);
    atomic_store_explicit(&q->r, r + n, memory_order_release);
    return (int)n;
}

int ob_engine_record_available(const ob_engine *e)
{
    return e ? (int)fring_fill(&e->rec) : 0;
}

/* The kind of insert a parameter id applies to (-1: any, -2: none, -4: a
 * kernel insert, -3: unknown id). */
static int param_kind(int param)
{
    if (param >= OB_PARAM_KERNEL && param < OB_PARAM_KERNEL_END)
        return -4;
    if (param == OB_PARAM_BYPASS)
        return -1;
    if (param == OB_PARAM_GAIN_DB)
        return OB_INSERT_GAIN;
    if (param >= OB_PARAM_COMP_THRESHOLD_DB && param <= OB_PARAM_COMP_SIDECHAIN_HPF_HZ)
        return OB_INSERT_COMPRESSOR;
    if (param == OB_PARAM_LIM_CEILING_DBTP || param == OB_PARAM_LIM_RELEASE_MS)
        return OB_INSERT_LIMITER;
    if (param >= OB_PARAM_EQ_RBJ && param <= OB_PARAM_EQ_IDENTITY)
        return OB_INSERT_EQ;
    if (param == OB_PARAM_RESET_METERS)
        return -2;
    if (param >= OB_PARAM_HW_SEND_TRIM_DB && param <= OB_PARAM_HW_LATENCY_SAMPLES)
        return OB_INSERT_HARDWARE;
    return -3;
}

int ob_engine_param_push(ob_engine *e, const ob_param_msg *m)
{
    if (!e || !m)
        return OB_ERR_ARG;
    int kind = param_kind(m->param);
    if (kind == -3)
        return OB_ERR_ARG;
    if (kind != -2) {
        if (m->insert < 0 || m->insert >= e->n_ins)
            return OB_ERR_ARG;
        if (kind >= 0 && e->ins[m->insert].kind != kind)
            return OB_ERR_ARG;
        if (kind == -4 && !e->ins[m->insert].ops.set)
            return OB_ERR_ARG;
    }
    int64_t w = atomic_load_explicit(&e->pq_w, memory_order_relaxed);
    int64_t r = atomic_load_explicit(&e->pq_r, memory_order_acquire);
    if (w - r >= OB_ENGINE_PARAM_SLOTS)
        return OB_ENGINE_ERR_FULL;
    e->pq[w % OB_ENGINE_PARAM_SLOTS] = *m;
    atomic_store_explicit(&e->pq_w, w + 1, memory_order_release);
    return OB_OK;
}

int ob_engine_event_pop(ob_engine *e, ob_event *ev)
{
    if (!e || !ev)
        return 0;
    int64_t r = atomic_load_explicit(&e->ev_r, memory_order_relaxed);
    int64_t w = atomic_load_explicit(&e->ev_w, memory_order_acquire);
    if (w == r)
        return 0;
    *ev = e->evq[r % OB_ENGINE_EVENT_SLOTS];
    atomic_store_explicit(&e->ev_r, r + 1, memory_order_release);
    return 1;
}

void ob_engine_read_meters(ob_engine *e, ob_meters *out)
{
    if (!e || !out)
        return;
    for (;;) {
        unsigned s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
        if (s1 & 1u)
            continue;
        memcpy(out, &e->pub, sizeof *out);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) == s1)
            break;
    }
    for (int c = 0; c < OB_ENGINE_MAX_CHANNELS; c++) {
        out->input_peak_dbfs[c] = c < e->nch ? lin_to_db(atomic_exchange(&e->in_pk[c], 0.0))
                                             : -HUGE_VAL;
        out->output_peak_dbfs[c] = c < e->nch ? lin_to_db(atomic_exchange(&e->out_pk[c], 0.0))
                                              : -HUGE_VAL;
    }
    for (int i = 0; i < OB_ENGINE_MAX_INSERTS; i++) {
        out->gr_max_db[i] = atomic_exchange(&e->gr_max[i], 0.0);
        for (int k = 0; k < OB_ENGINE_MAX_INSERT_METERS; k++)
            out->gr_meter_max_db[i][k] = atomic_exchange(&e->gr_meter_max[i][k], 0.0);
    }
    out->dsp_load_max = atomic_exchange(&e->load_max, 0.0);
}

/* ---- processing thread ---------------------------------------------------------- */

static void publish(ob_engine *e)
{
    unsigned s = atomic_load_explicit(&e->seq, memory_order_relaxed);
    atomic_store_explicit(&e->seq, s + 1u, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    memcpy(&e->pub, &e->snap, sizeof e->pub);
    atomic_store_explicit(&e->seq, s + 2u, memory_order_release);
}

static int apply_param(ob_engine *e, const ob_param_msg *m)
{
    if (m->param == OB_PARAM_RESET_METERS) {
        reset_meters(e);
        return OB_OK;
    }
    insert *s = &e->ins[m->insert];
    const double v = m->value;
    if (m->param >= OB_PARAM_KERNEL && m->param < OB_PARAM_KERNEL_END)
        return s->ops.set(s->k, m->param - OB_PARAM_KERNEL, m->section, v);
    switch (m->param) {
    case OB_PARAM_BYPASS:
        if (v == 0.0 && s->fault) {   /* switched in again: the watch re-arms */
            s->fault = 0;
            watch_clear(s);
        }
        ramp_set(&s->wet, v != 0.0 ? 0.0 : 1.0, e->ramp_len);
        return OB_OK;
    case OB_PARAM_GAIN_DB:
        if (!(v >= -48.0 && v <= 48.0))
            return OB_ERR_ARG;
        ramp_set(&s->gain, ob_db_to_lin(v), e->ramp_len);
        s->gain_f = (float)s->gain.target;
        return OB_OK;
    case OB_PARAM_COMP_THRESHOLD_DB: return ob_compressor_set_threshold_db(s->k, v);
    case OB_PARAM_COMP_RATIO: return ob_compressor_set_ratio(s->k, v);
    case OB_PARAM_COMP_KNEE_DB: return ob_compressor_set_knee_db(s->k, v);
    case OB_PARAM_COMP_ATTACK_MS: return ob_compressor_set_attack_ms(s->k, v);
    case OB_PARAM_COMP_RELEASE_MS: return ob_compressor_set_release_ms(s->k, v);
    case OB_PARAM_COMP_MAKEUP_DB: return ob_compressor_set_makeup_db(s->k, v);
    case OB_PARAM_COMP_DETECTOR: return ob_compressor_set_detector(s->k, (int)v);
    case OB_PARAM_COMP_RMS_WINDOW_MS: return ob_compressor_set_rms_window_ms(s->k, v);
    case OB_PARAM_COMP_STEREO_LINK: return ob_compressor_set_stereo_link(s->k, v);
    case OB_PARAM_COMP_MODE: return ob_compressor_set_mode(s->k, (int)v);
    case OB_PARAM_COMP_SIDECHAIN_HPF_HZ: return ob_compressor_set_sidechain_hpf_hz(s->k, v);
    case OB_PARAM_LIM_CEILING_DBTP: return ob_limiter_set_ceiling(s->k, v);
    case OB_PARAM_LIM_RELEASE_MS: return ob_limiter_set_release(s->k, v);
    case OB_PARAM_EQ_RBJ:
        return ob_biquad_set_rbj(s->k, m->section, m->type, m->freq_hz, m->q, m->gain_db,
                                 m->slope);
    case OB_PARAM_EQ_BUTTERWORTH:
        return ob_biquad_set_butterworth(s->k, m->section, m->type, m->order, m->freq_hz);
    case OB_PARAM_EQ_LINKWITZ_RILEY:
        return ob_biquad_set_linkwitz_riley(s->k, m->section, m->type, m->order, m->freq_hz);
    case OB_PARAM_EQ_IDENTITY: return ob_biquad_set_identity(s->k, m->section);
    case OB_PARAM_HW_SEND_TRIM_DB:
    case OB_PARAM_HW_RETURN_TRIM_DB:
    case OB_PARAM_HW_POLARITY:
    case OB_PARAM_HW_MIX:
    case OB_PARAM_HW_LATENCY_SAMPLES:
        return hw_param(e, s, m->param, m->param == OB_PARAM_HW_MIX ? -1 : m->section, v);
    default: return OB_ERR_ARG;
    }
}

static void drain_params(ob_engine *e)
{
    int64_t r = atomic_load_explicit(&e->pq_r, memory_order_relaxed);
    const int64_t w = atomic_load_explicit(&e->pq_w, memory_order_acquire);
    if (r == w)
        return;
    for (; r < w; r++) {
        const ob_param_msg *m = &e->pq[r % OB_ENGINE_PARAM_SLOTS];
        if (apply_param(e, m) < 0) {
            e->snap.params_rejected++;
            post(e, OB_EVENT_PARAM_REJECTED, m->insert, e->frame, (double)m->param);
        } else {
            e->snap.params_applied++;
        }
    }
    e->snap.param_frame = e->frame;
    atomic_store_explicit(&e->pq_r, r, memory_order_release);
}

/* Program input from the playback ring into work[0..n-1] (silence where the
 * ring has nothing). */
static void read_playback(ob_engine *e, int n)
{
    fring *q = &e->play;
    const int nch = e->nch;
    const int finished = atomic_load_explicit(&e->play_finished, memory_order_acquire);
    const int64_t w = atomic_load_explicit(&q->w, memory_order_acquire);
    const int64_t r = atomic_load_explicit(&q->r, memory_order_relaxed);
    int take = (int)(w - r < n ? w - r : n);
    for (int done = 0; done < take;) {
        int64_t pos = (r + done) % q->cap;
        int run = (int)(q->cap - pos < take - done ? q->cap - pos : take - done);
        const float *src = q->buf + pos * nch;
        for (int c = 0; c < nch; c++) {
            float *dst = e->wp[c] + done;
            for (int i = 0; i < run; i++)
                dst[i] = src[i * nch + c];
        }
        done += run;
    }
    for (int c = 0; c < nch; c++)
        memset(e->wp[c] + take, 0, sizeof(float) * (size_t)(n - take));
    atomic_store_explicit(&q->r, r + take, memory_order_release);
    e->snap.playback_frames += take;
    if (take > 0 && !e->play_started) {
        e->play_started = 1;
        e->snap.playback_first_frame = e->frame;
    }
    if (take == n) {
        e->in_underrun = 0;
    } else if (finished) {
        if (!e->play_ended) {
            e->play_ended = 1;
            e->snap.playback_ended = 1;
            post(e, OB_EVENT_PLAYBACK_END, -1, e->frame + take, 0.0);
        }
    } else if (e->play_started) {
        e->snap.playback_underruns++;
        if (!e->in_underrun)
            post(e, OB_EVENT_PLAYBACK_UNDERRUN, -1, e->frame, (double)(n - take));
        e->in_underrun = 1;
    }
}

static void push_record(ob_engine *e, int n);

/* Program output work[0..n-1] into the record ring, whole blocks only. */
static void write_record(ob_engine *e, int n)
{
    const int on = atomic_load_explicit(&e->record_on, memory_order_relaxed);
    if (!on) {
        e->record_was_on = 0;
        return;
    }
    if (!e->record_was_on) {
        e->record_was_on = 1;
        e->snap.record_first_frame = e->frame;
    }
    push_record(e, n);
}

/* work[0..n-1] into the record ring, whole blocks only. */
static void push_record(ob_engine *e, int n)
{
    fring *q = &e->rec;
    const int nch = e->nch;
    const int64_t w = atomic_load_explicit(&q->w, memory_order_relaxed);
    const int64_t r = atomic_load_explicit(&q->r, memory_order_acquire);
    if (q->cap - (w - r) < n) {
        e->snap.record_dropped += n;
        if (!e->in_overrun)
            post(e, OB_EVENT_RECORD_OVERRUN, -1, e->frame, (double)n);
        e->in_overrun = 1;
        return;
    }
    e->in_overrun = 0;
    for (int done = 0; done < n;) {
        int64_t pos = (w + done) % q->cap;
        int run = (int)(q->cap - pos < n - done ? q->cap - pos : n - done);
        float *dst = q->buf + pos * nch;
        for (int c = 0; c < nch; c++) {
            const float *src = e->wp[c] + done;
            for (int i = 0; i < run; i++)
                dst[i * nch + c] = src[i];
        }
        done += run;
    }
    atomic_store_explicit(&q->w, w + n, memory_order_release);
    e->snap.record_frames += n;
}

/* Multiply x[0..n-1] by a ramped gain into y (double product, float result). */
static void apply_ramp(ob_engine *e, ramp *g, const float *x, float *y, int n)
{
    if (g->left == 0) {
        const double v = g->cur;
        for (int j = 0; j < n; j++)
            y[j] = (float)((double)x[j] * v);
    } else {
        ramp_run(g, e->rampv, n);
        for (int j = 0; j < n; j++)
            y[j] = (float)((double)x[j] * e->rampv[j]);
    }
}

/*
 * Return watch of a hardware insert, live only (the callback's device
 * input and output), per sample over the raw returns r (before trims) and
 * the sends as written to the device outputs.  A fault latches s->fault,
 * posts its event, ramps the insert to bypassed (from the next block: the
 * dry path is delayed by L, so alignment holds) and mutes the returns from
 * the sample where it was found.  Returns that sample (n: no new fault).
 *   lost         every return sample below -100 dBFS for 0.5 s + L while
 *                the send's mean square (one-pole, 5 ms) stays above -60 dBFS
 *                (value: the seconds of silence seen)
 *   DC           a return's 100 ms mean beyond +-0.1 full scale (value:
 *                that mean)
 *   oscillation  the return envelope (peak, 250 ms release) above 0.9 full
 *                scale and 12 dB above the send's level (env^2 / 2 against
 *                the send's mean square) for 50 ms (value: the envelope)
 * A non-finite return sample ends the watch for the block (the NaN guard
 * takes it; the watch state stays finite).
 */
static int watch_returns(ob_engine *e, insert *s, int n)
{
    const int nch = e->nch, dout = e->dev_out;
    const float *out = e->blk_out;
    const double q2 = 1e-10, send_min = 1e-6;   /* (-100 dBFS)^2 (-> 1e-5), -60 dB^2 */
    const int64_t quiet_len = s->quiet_len + s->latency;
    for (int j = 0; j < n; j++) {
        double se = 0.0, pk = 0.0;
        int dc = -1;
        for (int c = 0; c < nch; c++) {
            const int so = s->send[c];
            const double x = so < dout ? (double)out[(size_t)j * (size_t)dout + (size_t)so] : 0.0;
            const double r = (double)e->rp[c][j];
            const double a = fabs(r);
            if (!(a <= 1e30))
                return n;   /* NaN / Inf: the guard's (the state stays finite) */
            se += x * x;
            pk = a > pk ? a : pk;
            s->w_dc[c] += s->a_dc * (r - s->w_dc[c]);
            if (fabs(s->w_dc[c]) > 0.1)
                dc = c;
        }
        se /= (double)nch;
        s->w_send += s->a_send * (se - s->w_send) + 1e-30;   /* offset: no denormals */
        s->w_env = pk > s->w_env * s->env_rel ? pk : s->w_env * s->env_rel;
        s->w_quiet = (pk * pk < q2 && s->w_send > send_min) ? s->w_quiet + 1 : 0;
        /* a sine's mean square is env^2 / 2: 12 dB over the send's */
        s->w_hot = (s->w_env > 0.9 && s->w_env * s->w_env > 31.7 * s->w_send) ? s->w_hot + 1
                                                                             : 0;
        int type = 0;
        double value = 0.0;
        if (s->w_quiet >= quiet_len) {
            type = OB_EVENT_RETURN_LOST;
            value = (double)s->w_quiet / e->fs;
        } else if (dc >= 0) {
            type = OB_EVENT_RETURN_DC;
            value = s->w_dc[dc];
        } else if (s->w_hot >= s->hot_len) {
            type = OB_EVENT_RETURN_OSCILLATION;
            value = s->w_env;
        }
        if (type) {
            s->fault = type;
            ramp_set(&s->wet, 0.0, e->ramp_len);
            post(e, type, (int)(s - e->ins), e->frame + j, value);
            return j;
        }
    }
    return n;
}

/*
 * A hardware insert, one piece of n frames: sends, returns, alignment, mix.
 *   e->rp   the returns: device input return_map[c] in the
 *              callback; offline, the send itself (a wire, no round trip)
 * Device outputs of the piece were zeroed before the chain ran.
 * A faulted insert (s->fault) gets silent returns: it is bypassed, and a
 * broken unit's NaN, DC or oscillation stays out of the delay lines.
 */
static void run_hardware(ob_engine *e, insert *s, int n)
{
    const int nch = e->nch, din = e->dev_in, dout = e->dev_out;
    const float *in = e->blk_in;
    float *out = e->blk_out;
    for (int c = 0; c < nch; c++) {
        float *r = e->rp[c];
        apply_ramp(e, &s->sg[c], e->wp[c], r, n);   /* the send */
        if (out || in) {
            const int so = s->send[c], ri = s->ret[c];
            if (out && so < dout)
                for (int j = 0; j < n; j++)
                    out[(size_t)j * (size_t)dout + (size_t)so] = r[j];
            if (in && ri < din)
                for (int j = 0; j < n; j++)
                    r[j] = in[(size_t)j * (size_t)din + (size_t)ri];
            else
                memset(r, 0, sizeof(float) * (size_t)n);
        }
    }
    if (in && out && !s->fault) {
        const int k = watch_returns(e, s, n);
        if (k < n)
            for (int c = 0; c < nch; c++)
                memset(e->rp[c] + k, 0, sizeof(float) * (size_t)(n - k));
    } else if (s->fault) {
        for (int c = 0; c < nch; c++)
            memset(e->rp[c], 0, sizeof(float) * (size_t)n);
    }
    for (int c = 0; c < nch; c++)
        apply_ramp(e, &s->rg[c], e->rp[c], e->rp[c], n);
    ob_delay_process(s->wd, e->rp, nch, n);
    if (s->cap > 0 && !s->fault) {  /* the unit's level change: aligned energies */
        double ed = 0.0, er = 0.0;
        for (int c = 0; c < nch; c++) {
            const float *r = e->rp[c], *d = e->dp[c];
            for (int j = 0; j < n; j++) {
                ed += (double)d[j] * (double)d[j];
                er += (double)r[j] * (double)r[j];
            }
        }
        e->snap.hw_energy_dry[s - e->ins] += ed;
        e->snap.hw_energy_return[s - e->ins] += er;
    }
    if (s->mix.left == 0 && s->mix.cur == 1.0) {
        for (int c = 0; c < nch; c++)
            memcpy(e->wp[c], e->rp[c], sizeof(float) * (size_t)n);
        return;
    }
    const double *v = e->rampv;
    if (s->mix.left > 0) {
        ramp_run(&s->mix, e->rampv, n);
    } else {
        for (int j = 0; j < n; j++)
            e->rampv[j] = s->mix.cur;
    }
    for (int c = 0; c < nch; c++) {
        const float *r = e->rp[c], *d = e->dp[c];
        float *y = e->wp[c];
        for (int j = 0; j < n; j++)
            y[j] = (float)((1.0 - v[j]) * (double)d[j] + v[j] * (double)r[j]);
    }
}

/*
 * One block of n <= max_block frames of the program, in work (planar).
 *
 * State, per insert s (glossary):
 *   s->wet     crossfade weight of the insert's output: 1 in, 0 bypassed;
 *              out = wet * processed + (1 - wet) * dry, per sample
 *   s->delay   the insert's input delayed by its latency (dry path), a ring
 *              of `latency` samples per channel at s->dpos; runs always, so
 *              a bypass crossfade meets the current signal
 *   s->gain    gain insert's linear gain, ramped; gain_f its float target,
 *              the steady-state multiplier (x * gain_f, a float product)
 *   e->rampv   per-sample values of the ramp being applied
 *   e->dry     the insert's input (delayed by its latency), for the mix
 * Engine: frame = frames processed before this block; snap = meter values.
 */
static void run_block(ob_engine *e, int n)
{
    const int nch = e->nch;
    float **wp = e->wp, **dp = e->dp;
    ob_meters *snap = &e->snap;
    int bad_insert = -2, bad_count = 0;

    drain_params(e);

    /* program input: peak and NaN check */
    for (int c = 0; c < nch; c++) {
        float pk = 0.0f;
        for (int i = 0; i < n; i++) {
            float a = fabsf(wp[c][i]);
            pk = a > pk ? a : pk;   /* a NaN compares false: left out */
        }
        atomic_max_d(&e->in_pk[c], pk);
    }
    if ((bad_count = count_nonfinite(wp, nch, n)) > 0)
        bad_insert = -1;

    for (int i = 0; i < e->n_ins && bad_insert == -2; i++) {
        insert *s = &e->ins[i];
        const int full_wet = s->wet.left == 0 && s->wet.cur == 1.0;
        const int full_dry = s->wet.left == 0 && s->wet.cur == 0.0;
        /* dry path: the input, delayed by the latency */
        if (s->cap > 0) {
            const int L = s->latency, cap = s->cap;
            int pos = s->dpos;
            for (int c = 0; c < nch; c++) {
                float *d = s->delay + (size_t)c * (size_t)cap, *x = wp[c], *y = dp[c];
                pos = s->dpos;
                int rd = pos - L < 0 ? pos - L + cap : pos - L;
                for (int j = 0; j < n; j++) {
                    d[pos] = x[j];
                    y[j] = d[rd];
                    if (++pos == cap)
                        pos = 0;
                    if (++rd == cap)
                        rd = 0;
                }
            }
            s->dpos = pos;
        } else if (!full_wet) {
            for (int c = 0; c < nch; c++)
                memcpy(dp[c], wp[c], sizeof(float) * (size_t)n);
        }
        /* the insert itself (bypassed ones run too) */
        switch (s->kind) {
        case OB_INSERT_EQ: ob_biquad_process(s->k, wp, nch, n); break;
        case OB_INSERT_COMPRESSOR: ob_compressor_process(s->k, wp, nch, n); break;
        case OB_INSERT_LIMITER: ob_limiter_process(s->k, wp, nch, n); break;
        case OB_INSERT_HARDWARE: run_hardware(e, s, n); break;
        case OB_INSERT_GAIN:
            if (s->gain.left == 0) {
                const float g = s->gain_f;
                if (g != 1.0f)
                    for (int c = 0; c < nch; c++)
                        for (int j = 0; j < n; j++)
                            wp[c][j] *= g;
            } else {
                /* ramp in double; from its end on, the steady float product */
                const int k = ramp_run(&s->gain, e->rampv, n);
                const float g = s->gain_f;
                for (int c = 0; c < nch; c++) {
                    for (int j = 0; j < k; j++)
                        wp[c][j] = (float)((double)wp[c][j] * e->rampv[j]);
                    for (int j = k; j < n; j++)
                        wp[c][j] *= g;
                }
            }
            break;
        default:   /* kernel inserts */
            s->ops.process(s->k, wp, nch, n);
            break;
        }
        if ((bad_count = count_nonfinite(wp, nch, n)) > 0) {
            bad_insert = i;
            break;
        }
        /* dynamics meters */
        double gr = -1.0;
        if (s->kind == OB_INSERT_COMPRESSOR)
            gr = ob_compressor_take_max_gain_reduction_db(s->k);
        else if (s->kind == OB_INSERT_LIMITER)
            gr = ob_limiter_take_max_gain_reduction_db(s->k);
        for (int k = 0; k < s->n_gr; k++) {
            const double g = s->ops.take_gr(s->k, k);
            snap->gr_meter_db[i][k] = g;
            atomic_max_d(&e->gr_meter_max[i][k], g);
            gr = g > gr ? g : gr;
        }
        if (gr >= 0.0) {
            snap->gr_db[i] = gr;
            atomic_max_d(&e->gr_max[i], gr);
        }
        /* bypass crossfade */
        if (full_dry) {
            for (int c = 0; c < nch; c++)
                memcpy(wp[c], dp[c], sizeof(float) * (size_t)n);
        } else if (!full_wet) {
            ramp_run(&s->wet, e->rampv, n);
            const double *v = e->rampv;
            for (int c = 0; c < nch; c++)
                for (int j = 0; j < n; j++)
                    wp[c][j] = (float)(v[j] * (double)wp[c][j] + (1.0 - v[j]) * (double)dp[c][j]);
        }
    }

    /* NaN guard: mute the block, clear every kernel's history */
    if (bad_insert != -2) {
        for (int c = 0; c < nch; c++)
            memset(wp[c], 0, sizeof(float) * (size_t)n);
        reset_inserts(e);
        if (bad_insert >= 0 && e->ins[bad_insert].kind == OB_INSERT_HARDWARE &&
            (e->blk_in || e->blk_out)) {
            /* a unit that returns NaN/Inf: bypassed at once (this block is muted) */
            insert *h = &e->ins[bad_insert];
            h->fault = OB_EVENT_NONFINITE;
            h->wet.target = 0.0;
            ramp_snap(&h->wet);
        }
        snap->nonfinite++;
        post(e, OB_EVENT_NONFINITE, bad_insert, e->frame, (double)bad_count);
    }

    /* output meters */
    float blk_pk = 0.0f;
    for (int c = 0; c < nch; c++) {
        float pk = 0.0f;
        int64_t clipped = 0;
        for (int i = 0; i < n; i++) {
            float a = fabsf(wp[c][i]);
            pk = a > pk ? a : pk;
            clipped += a > 1.0f;
        }
        snap->clipped_samples += clipped;
        blk_pk = pk > blk_pk ? pk : blk_pk;
        atomic_max_d(&e->out_pk[c], pk);
    }
    if (blk_pk > 1.0f && e->frame - e->last_clip_event >= e->clip_holdoff) {
        e->last_clip_event = e->frame;
        post(e, OB_EVENT_CLIP, -1, e->frame, (double)blk_pk);
    }
    ob_loudness_process(e->loud, wp, nch, n);
    ob_truepeak_process(e->tp, wp, nch, n);
    snap->momentary_lufs = ob_loudness_momentary(e->loud);
    snap->short_term_lufs = ob_loudness_short_term(e->loud);
    snap->true_peak_dbtp = ob_truepeak_max_dbtp(e->tp);
    e->since_integrated += n;
    if (e->since_integrated >= e->integrated_every) {
        e->since_integrated = 0;
        snap->integrated_lufs = ob_loudness_integrated(e->loud);
    }

    write_record(e, n);
    e->frame += n;
    snap->frames = e->frame;
}

/* ---- entry points ------------------------------------------------------------- */

int ob_engine_process(ob_engine *e, float **in, float **out, int frames)
{
    if (!e || !in || !out || frames < 0)
        return OB_ERR_ARG;
    for (int c = 0; c < e->nch; c++)
        if (!in[c] || !out[c])
            return OB_ERR_ARG;
    fpmode saved = fpmode_save();
    ob_flush_denormals();   /* as in the callback, so both give the same bits */
    for (int done = 0; done < frames;) {
        int n = frames - done < e->max_block ? frames - done : e->max_block;
        for (int c = 0; c < e->nch; c++)
            memcpy(e->wp[c], in[c] + done, sizeof(float) * (size_t)n);
        run_block(e, n);
        for (int c = 0; c < e->nch; c++)
            memcpy(out[c] + done, e->wp[c], sizeof(float) * (size_t)n);
        done += n;
    }
    e->snap.n_inserts = e->n_ins;
    e->snap.source = atomic_load_explicit(&e->source, memory_order_relaxed);
    publish(e);
    fpmode_restore(saved);
    return OB_OK;
}

/*
 * Ping mode, one piece of n frames: the playback ring to the send outputs of
 * insert ping_cur, its raw returns to the record ring for the frames that
 * came from the playback ring; every other output zero.
 *   ping_started  a ping frame was taken since ping mode began
 *   ping_dry      the ring ran short after that (a later frame is a gap)
 */
static void run_ping(ob_engine *e, const float *in, float *out, int n)
{
    const int nch = e->nch, din = e->dev_in, dout = e->dev_out;
    const insert *s = &e->ins[e->ping_cur];
    fring *q = &e->play;
    const int64_t w = atomic_load_explicit(&q->w, memory_order_acquire);
    const int64_t r = atomic_load_explicit(&q->r, memory_order_relaxed);
    const int take = (int)(w - r < n ? w - r : n);
    for (int done = 0; done < take;) {
        int64_t pos = (r + done) % q->cap;
        int run = (int)(q->cap - pos < take - done ? q->cap - pos : take - done);
        const float *src = q->buf + pos * nch;
        for (int c = 0; c < nch; c++) {
            float *dst = e->wp[c] + done;
            for (int i = 0; i < run; i++)
                dst[i] = src[i * nch + c];
        }
        done += run;
    }
    atomic_store_explicit(&q->r, r + take, memory_order_release);
    e->snap.playback_frames += take;
    if (out && dout > 0) {
        memset(out, 0, sizeof(float) * (size_t)n * (size_t)dout);
        for (int c = 0; c < nch; c++) {
            const int so = s->send[c];
            if (so >= dout)
                continue;
            for (int i = 0; i < take; i++)
                out[(size_t)i * (size_t)dout + (size_t)so] = e->wp[c][i];
        }
    }
    if (take > 0) {
        if (e->ping_dry) {
            e->snap.playback_underruns++;
            post(e, OB_EVENT_PLAYBACK_UNDERRUN, -1, e->frame, 0.0);
            e->ping_dry = 0;
        }
        e->ping_started = 1;
        for (int c = 0; c < nch; c++) {
            const int ri = s->ret[c];
            float *x = e->wp[c];
            if (in && ri < din)
                for (int i = 0; i < take; i++)
                    x[i] = in[(size_t)i * (size_t)din + (size_t)ri];
            else
                memset(x, 0, sizeof(float) * (size_t)take);
        }
        push_record(e, take);
    }
    if (take < n && e->ping_started)
        e->ping_dry = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);   /* vDSO: no system call */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int ob_engine_pa_callback(const void *input, void *output, unsigned long frames,
                          const ob_pa_time_info *time_info, unsigned long status_flags,
                          void *userdata)
{
    (void)time_info;
    ob_engine *e = userdata;
    /* flush-to-zero for this callback; the caller's mode is restored on return
     * (a test or host driving the callback from its own thread keeps its mode) */
    const fpmode saved_fp = fpmode_save();
    ob_flush_denormals();
    const double t0 = now_s();
    const int nch = e->nch, din = e->dev_in, dout = e->dev_out;
    const float *in = input;
    float *out = output;
    const int source = atomic_load_explicit(&e->source, memory_order_relaxed);

    e->snap.callbacks++;
    if (status_flags & 0xFu) {
        e->snap.xruns++;
        post(e, OB_EVENT_XRUN, -1, e->frame, (double)(status_flags & 0xFu));
    }
    const int ping_req = atomic_load_explicit(&e->ping_req, memory_order_acquire);
    if (ping_req != e->ping_cur) {
        /* entering or leaving ping mode: drop what the playback ring holds */
        atomic_store_explicit(&e->play.r, atomic_load_explicit(&e->play.w, memory_order_acquire),
                              memory_order_release);
        if (ping_req < 0)
            reset_inserts(e);
        e->ping_cur = ping_req;
        e->ping_started = e->ping_dry = 0;
        atomic_store_explicit(&e->ping_ack, ping_req, memory_order_release);
    }
    for (unsigned long done = 0; done < frames;) {
        const int n = frames - done < (unsigned long)e->max_block ? (int)(frames - done)
                                                                   : e->max_block;
        if (e->ping_cur >= 0) {
            run_ping(e, in ? in + done * (unsigned long)din : NULL,
                     out ? out + done * (unsigned long)dout : NULL, n);
            done += (unsigned long)n;
            continue;
        }
        if (out && dout > 0)
            memset(out + done * (unsigned long)dout, 0, sizeof(float) * (size_t)n * (size_t)dout);
        e->blk_in = in ? in + done * (unsigned long)din : NULL;
        e->blk_out = out ? out + done * (unsigned long)dout : NULL;
        if (source == OB_SOURCE_PLAYBACK) {
            read_playback(e, n);
        } else {
            for (int c = 0; c < nch; c++) {
                const int m = e->in_map[c];
                float *x = e->wp[c];
                if (in && m >= 0 && m < din) {
                    const float *src = in + done * (unsigned long)din + (unsigned long)m;
                    for (int i = 0; i < n; i++)
                        x[i] = src[(size_t)i * (size_t)din];
                } else {
                    memset(x, 0, sizeof(float) * (size_t)n);
                }
            }
        }
        run_block(e, n);
        e->blk_in = NULL;
        e->blk_out = NULL;
        if (out && dout > 0) {
            float *o = out + done * (unsigned long)dout;
            for (int c = 0; c < nch; c++) {
                const int m = e->out_map[c];
                if (m < 0)
                    continue;
                const float *x = e->wp[c];
                for (int i = 0; i < n; i++)
                    o[(size_t)i * (size_t)dout + (size_t)m] = x[i];
            }
            for (int k = 0; k < e->n_mon; k++) {
                const float *x = e->wp[k % nch];
                const int m = e->mon_map[k];
                for (int i = 0; i < n; i++)
                    o[(size_t)i * (size_t)dout + (size_t)m] = x[i];
            }
        }
        done += (unsigned long)n;
    }
    if (frames > 0) {
        const double load = (now_s() - t0) * e->fs / (double)frames;
        e->snap.dsp_load = load;
        atomic_max_d(&e->load_max, load);
    }
    e->snap.n_inserts = e->n_ins;
    e->snap.source = source;
    publish(e);
    fpmode_restore(saved_fp);
    return OB_PA_CONTINUE;
}
