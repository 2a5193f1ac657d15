/*
 * outboard.h -- the whole C API of outboard's DSP kernels.
 *
 * The cffi build (native/build_ffi.py) expands the kernel headers included
 * below and feeds every declaration to ffibuilder.cdef: what is declared here
 * is exactly what Python can call, nothing is copied by hand.
 *
 * Conventions shared by every kernel:
 *   - Audio is float32, planar: `float **ch` points at `nch` channel buffers
 *     of `frames` samples each, processed in place.  State is double.
 *   - Each kernel is an opaque state object with the verbs
 *       x_new(fs, nch, ...)   allocate and initialise (not real-time safe)
 *       x_free(st)            release (not real-time safe)
 *       x_reset(st)           clear the signal history only (real-time safe)
 *       x_set_*(st, ...)      set parameter targets; process ramps to them
 *       x_process(st, ch, nch, frames)   real-time safe: no allocation,
 *                             no locks, no system calls
 *       x_latency(st)         latency in samples that the kernel adds
 *   - Output does not depend on how a signal is cut into blocks.
 *   - Time constants are given in ms/Hz and derived from the sample rate.
 *   - Status codes: OB_OK (0) or a negative OB_ERR_*.
 */
#ifndef OUTBOARD_H
#define OUTBOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    OB_OK = 0,
    OB_ERR_ARG = -1,     /* an argument outside its documented range */
    OB_ERR_NOMEM = -2    /* allocation failed (only in *_new) */
};

enum { OB_MAX_CHANNELS = 64 };

/* Version string of the compiled kernels, e.g. "0.1.0". */
const char *ob_version(void);

/* Set flush-to-zero / denormals-are-zero for the calling thread (x86 MXCSR,
 * AArch64 FPCR).  Every *_process also guards its own recursive state. */
void ob_flush_denormals(void);

#include "biquad.h"
#include "compressor.h"
#include "truepeak.h"
#include "limiter.h"
#include "loudness.h"
#include "dither.h"
#include "delay.h"
#include "engine.h"
/* kernels that export their verbs (ob_kernel_ops, declared in engine.h) */
#include "multiband.h"
#include "imager.h"
#include "saturation.h"
#include "dynamic_eq.h"
#include "gear_wire.h"

#ifdef __cplusplus
}
#endif

#endif /* OUTBOARD_H */
