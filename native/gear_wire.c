/* gear_wire.c -- a virtual wire unit's JACK process callback (see gear_wire.h). */
#include <stdlib.h>
#include <string.h>
#include "outboard.h"

/*
 * State glossary:
 *   get_buffer       jack_port_get_buffer, from the caller
 *   in, out          the client's ports per channel (jack_port_t *, opaque)
 *   work[c]          max_block floats per channel: the period, delayed in place
 *   gain[c]          linear gain, polarity in its sign
 *   d                one ob_delay for all channels
 *   periods          process calls so far
 */
struct ob_gear_wire {
    int nch, max_block;
    ob_port_buffer_fn get_buffer;
    void *in[OB_MAX_CHANNELS], *out[OB_MAX_CHANNELS];
    float *buf;
    float *work[OB_MAX_CHANNELS];
    double gain[OB_MAX_CHANNELS];
    ob_delay *d;
    int64_t periods;
};

ob_gear_wire *ob_gear_wire_new(double fs, int nch, int max_block, int max_delay,
                               ob_port_buffer_fn get_buffer, void **in_ports,
                               void **out_ports)
{
    if (!(fs >= 8000.0 && fs <= 768000.0) || nch < 1 || nch > OB_MAX_CHANNELS ||
        max_block < 1 || max_block > 65536 || max_delay < 1 || max_delay > OB_DELAY_MAX ||
        !get_buffer || !in_ports || !out_ports)
        return NULL;
    ob_gear_wire *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->nch = nch;
    w->max_block = max_block;
    w->get_buffer = get_buffer;
    w->buf = calloc((size_t)nch * (size_t)max_block, sizeof(float));
    w->d = ob_delay_new(fs, nch, max_delay);
    if (!w->buf || !w->d) {
        ob_gear_wire_free(w);
        return NULL;
    }
    for (int c = 0; c < nch; c++) {
        w->in[c] = in_ports[c];
        w->out[c] = out_ports[c];
        w->work[c] = w->buf + (size_t)c * (size_t)max_block;
        w->gain[c] = 1.0;
    }
    return w;
}

void ob_gear_wire_free(ob_gear_wire *w)
{
    if (!w)
        return;
    ob_delay_free(w->d);
    free(w->buf);
    free(w);
}

int ob_gear_wire_set(ob_gear_wire *w, int ch, double delay_samples, double gain)
{
    if (ch < 0 || ch >= w->nch || !(gain >= -1000.0 && gain <= 1000.0))
        return OB_ERR_ARG;
    if (ob_delay_set_delay(w->d, ch, delay_samples) != OB_OK)
        return OB_ERR_ARG;
    w->gain[ch] = gain;
    return OB_OK;
}

int ob_gear_wire_process(uint32_t frames, void *arg)
{
    ob_gear_wire *w = arg;
    const int n = (int)frames, nch = w->nch;
    w->periods++;
    if (n > w->max_block) {
        for (int c = 0; c < nch; c++)
            memset(w->get_buffer(w->out[c], frames), 0, sizeof(float) * (size_t)n);
        return 0;
    }
    for (int c = 0; c < nch; c++)
        memcpy(w->work[c], w->get_buffer(w->in[c], frames), sizeof(float) * (size_t)n);
    ob_delay_process(w->d, w->work, nch, n);
    for (int c = 0; c < nch; c++) {
        float *o = w->get_buffer(w->out[c], frames);
        const float *x = w->work[c];
        const double g = w->gain[c];
        if (g == 1.0)
            memcpy(o, x, sizeof(float) * (size_t)n);
        else
            for (int j = 0; j < n; j++)
                o[j] = (float)(g * (double)x[j]);
    }
    return 0;
}

int64_t ob_gear_wire_periods(const ob_gear_wire *w) { return w->periods; }
