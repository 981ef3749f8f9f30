// A small, bounded unpickler for the pickles torch.save writes (protocols
// 2 to 5: torch's default is 2, `pickle_protocol=4` or 5 adds FRAME, MEMOIZE,
// STACK_GLOBAL, SHORT_BINUNICODE and the other protocol 3/4 opcodes).
//
// It knows the opcodes Python's pickler emits for dicts, OrderedDicts, lists,
// tuples, sets, strings, bytes, ints, floats, bools, None, globals,
// REDUCE/BUILD and persistent ids, and refuses every other opcode by name
// (protocol 5's out-of-band buffers included: torch.save never uses them). It
// runs no code: a GLOBAL is only a name, and REDUCE of anything but
// collections.OrderedDict becomes an inert "call" value (callable +
// arguments) that the caller may interpret (torch._utils._rebuild_tensor_v2
// for checkpoints). There is no recursion, and the stack, the marks, the memo
// and the memory are capped, so any input ends in a value or a one-line error.
#ifndef SEGC_IO_PICKLE_H
#define SEGC_IO_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum {
  SEGC_PICKLE_NONE,
  SEGC_PICKLE_BOOL,
  SEGC_PICKLE_INT,
  SEGC_PICKLE_FLOAT,
  SEGC_PICKLE_STRING,  // UTF-8, checked
  SEGC_PICKLE_BYTES,   // held in as.string, not checked
  SEGC_PICKLE_TUPLE,
  SEGC_PICKLE_LIST,
  SEGC_PICKLE_SET,     // set or frozenset, items in pickle order
  SEGC_PICKLE_DICT,    // dict or collections.OrderedDict, in insertion order
  SEGC_PICKLE_GLOBAL,  // "module name" from GLOBAL or STACK_GLOBAL
  SEGC_PICKLE_PERSID,  // BINPERSID of a value (torch: the storage tuple)
  SEGC_PICKLE_CALL,    // REDUCE of a global on an argument tuple
} segc_pickle_kind;

typedef struct segc_pickle_value segc_pickle_value;

typedef struct {
  const char *bytes;  // points into the pickle; not NUL-terminated
  size_t length;
} segc_pickle_text;

struct segc_pickle_value {
  segc_pickle_kind kind;
  union {
    bool boolean;
    int64_t integer;
    double real;
    segc_pickle_text string;  // str or bytes
    struct {  // tuple, list, set
      segc_pickle_value **items;
      size_t count, capacity;
    } sequence;
    struct {
      segc_pickle_value **keys, **values;
      size_t count, capacity;
    } dict;
    struct {
      segc_pickle_text module, name;
    } global;
    const segc_pickle_value *persistent_id;
    struct {
      const segc_pickle_value *callable;  // a GLOBAL
      const segc_pickle_value *args;      // a TUPLE
      const segc_pickle_value *state;     // set by BUILD, else NULL
    } call;
  } as;
};

typedef struct segc_pickle segc_pickle;  // owns every value of one load

// Unpickles bytes[0..size) up to STOP. `bytes` must outlive the result
// (strings point into it). On failure *pickle is NULL.
segc_status segc_pickle_load(const uint8_t *bytes, size_t size,
                             segc_pickle **pickle,
                             const segc_pickle_value **root);
void segc_pickle_free(segc_pickle *pickle);

const char *segc_pickle_kind_name(segc_pickle_kind kind);
// An opcode's name ("SHORT_BINUNICODE"), NULL for a byte that is none.
const char *segc_pickle_opcode_name(uint8_t op);
bool segc_pickle_text_equals(segc_pickle_text text, const char *literal);
// The value stored under a string key, NULL if absent or not a dict.
const segc_pickle_value *segc_pickle_dict_get(const segc_pickle_value *dict,
                                              const char *key);
// True for a GLOBAL naming module.name.
bool segc_pickle_is_global(const segc_pickle_value *value, const char *module,
                           const char *name);

#endif
