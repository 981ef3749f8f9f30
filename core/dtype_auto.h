// --dtype auto: the fastest CPU precision where it is safe. bf16 where
// oneDNN's bf16 convolution on this CPU is clearly faster than its f32 one,
// f32 otherwise; decided once per process.
//
// Why a timed probe and not only the ISA: which precision is fast is a
// property of the machine, not of its instruction set. A Xeon with
// avx512_core_bf16 (no AMX) ran oneDNN 2.6's bf16 convolutions slower than
// f32, an AMD EPYC with the same ISA name 2x faster (issue 13). So the ISA
// only rules bf16 out (no bf16 convolution, or only oneDNN's reference
// one); otherwise one representative SegResNet convolution is timed in both
// precisions (32->32 channels, 3x3x3, 32^3 voxels NDHWC: 1.8 GFLOP, a few
// tens of ms per run) and bf16 is taken only at SEGC_DTYPE_AUTO_MIN_SPEEDUP
// or more. Emulated bf16 (avx512_core without native bf16) loses the timing.
//
// SEGC_DTYPE_AUTO=f32|bf16 in the environment replaces the probe (for
// tests, and for users who measured themselves); bf16 is refused on a CPU
// without bf16 convolutions, as --dtype bf16 is.
#ifndef SEGC_CORE_DTYPE_AUTO_H
#define SEGC_CORE_DTYPE_AUTO_H

#include <stdbool.h>

#include "core/dtype.h"
#include "core/status.h"

// bf16 rounds activations to 8 mantissa bits, so it must pay clearly: a
// gain inside the probe's noise on a shared machine (about 10%) is not
// worth the labels that flip. The machines measured so far are either
// slower in bf16 or about 2x faster, well apart from this bar.
#define SEGC_DTYPE_AUTO_MIN_SPEEDUP 1.2

enum { SEGC_DTYPE_REASON_MAX = 192 };

typedef struct {
  segc_dtype dtype;                    // SEGC_F32 or SEGC_BF16
  // One line for logs and reports: "auto: f32 (this CPU has no bf16
  // convolutions)", "auto: bf16 (bf16 conv 1.93x faster than f32 here, ...)".
  char reason[SEGC_DTYPE_REASON_MAX];
} segc_dtype_choice;

// What the probe found: the decision's inputs.
typedef struct {
  bool bf16_convolutions;  // oneDNN makes a bf16 convolution on this CPU
  char bf16_impl[64];      // the implementation it picks ("brg:avx512_core_amx")
  double f32_seconds;      // median time of the probe convolution; 0: not timed
  double bf16_seconds;
} segc_dtype_probe;

// Whether timing can change the answer: a bf16 convolution exists and is
// not oneDNN's reference one (which is always far slower).
bool segc_dtype_auto_worth_timing(const segc_dtype_probe *probe);

// The decision from the probe's findings. Pure, so tests inject findings
// this CPU cannot produce.
void segc_dtype_auto_decide(const segc_dtype_probe *probe,
                            segc_dtype_choice *out);

// Looks for oneDNN's bf16 convolution and, when worth it, times it against
// f32 with the current thread count (under a second).
segc_status segc_dtype_auto_probe(segc_dtype_probe *out);

// The decision for an override (SEGC_DTYPE_AUTO's value; NULL or "": none):
// "f32" or "bf16" as given, anything else an error naming the variable;
// without one, the probe and segc_dtype_auto_decide. A probe that fails is
// not an error: auto is then f32, and the reason says why. Not cached.
segc_status segc_dtype_auto_choose(const char *override,
                                   segc_dtype_choice *out);

// The process's decision: segc_dtype_auto_choose(getenv("SEGC_DTYPE_AUTO"))
// made by the first call (thread-safe); later calls give the same answer,
// or the same error.
segc_status segc_dtype_auto(segc_dtype_choice *out);

#endif
