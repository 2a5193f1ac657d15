/*
 * gear_wire.h -- a virtual "wire" unit's JACK process callback, in C
 * (embedded studio: host.sim.gear with engine = "c").
 *
 * A converter round trip stand-in: each channel delayed (integer, or
 * fractional from OB_DELAY_FIR_CENTER samples on, through ob_delay) and
 * scaled by a gain (polarity in its sign).  It runs as the JACK client's
 * process callback with no Python and no GIL, so the simulated unit is as
 * punctual as a real one; the Python unit (host.sim.gear) stays the
 * reference for everything else (compressor/EQ, MIDI, noise).
 *
 * libjack is not linked: the caller passes jack_port_get_buffer's address
 * and the ports (jack_port_t *) as opaque pointers.
 *
 * Usage (host/sim/gear.py)
 *   ob_gear_wire *w = ob_gear_wire_new(fs, nch, max_block, max_delay, get_buffer,
 *                                      ins, outs);
 *   ob_gear_wire_set(w, ch, delay_samples, gain);      before activation
 *   jack_set_process_callback(client, ob_gear_wire_process, w);
 *   ...  jack_deactivate / jack_client_close, then ob_gear_wire_free(w)
 *
 * Parameters
 *   fs          Hz, 8000..768000
 *   nch         channels, 1..OB_MAX_CHANNELS
 *   max_block   largest JACK period, frames, 1..65536 (a longer one plays silence)
 *   max_delay   largest delay, samples, 1..OB_DELAY_MAX (sizes the delay lines)
 *   delay       samples, 0..max_delay; fractional ones >= OB_DELAY_FIR_CENTER
 *   gain        linear, -1000..1000 (negative: inverted polarity)
 */
#ifndef OB_GEAR_WIRE_H
#define OB_GEAR_WIRE_H

typedef struct ob_gear_wire ob_gear_wire;
/* jack_port_get_buffer: void *(jack_port_t *port, jack_nframes_t frames) */
typedef void *(*ob_port_buffer_fn)(void *port, uint32_t frames);

ob_gear_wire *ob_gear_wire_new(double fs, int nch, int max_block, int max_delay,
                               ob_port_buffer_fn get_buffer, void **in_ports,
                               void **out_ports);
void ob_gear_wire_free(ob_gear_wire *w);
/* OB_ERR_ARG for a channel, delay or gain out of range (nothing changed). */
int ob_gear_wire_set(ob_gear_wire *w, int ch, double delay_samples, double gain);
/* The JACK process callback (JackProcessCallback); arg is the ob_gear_wire.
 * Real-time safe: no allocation, no locks, no system calls.  Returns 0. */
int ob_gear_wire_process(uint32_t frames, void *arg);
/* Periods processed (for tests). */
int64_t ob_gear_wire_periods(const ob_gear_wire *w);

#endif
