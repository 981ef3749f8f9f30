#include "io/pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/byte_buffer.h"

// Caps that no torch.save state dict comes near but that keep a hostile input
// from exhausting memory or time.
enum {
  kMaxStack = 1 << 20,       // values on the stack
  kMaxMarks = 1 << 16,       // open MARKs
  kMaxGlobalLine = 512,      // bytes in a GLOBAL module or name
  kChunkBytes = 64 << 10,
};
static const size_t kMaxArenaBytes = (size_t)512 << 20;

typedef struct chunk {
  struct chunk *next;
  size_t used, capacity;
  max_align_t data[];
} chunk;

struct segc_pickle {
  chunk *chunks;
  size_t arena_bytes;
};

typedef struct {
  segc_pickle *owner;
  const uint8_t *bytes;
  size_t size, at, op_at;  // op_at: where the current opcode starts
  segc_pickle_value **stack;
  size_t stack_size, stack_capacity;
  size_t *marks;  // stack sizes at each open MARK
  size_t mark_count, mark_capacity;
  segc_pickle_value **memo;
  size_t memo_capacity;
  size_t memo_limit;
  size_t memo_count;  // entries stored: MEMOIZE's next index, as len(memo)
} unpickler;

static segc_status fail_at(const unpickler *u, segc_status code,
                           const char *what) {
  return SEGC_FAIL(code, "pickle offset %zu (opcode 0x%02x): %s", u->op_at,
                   u->op_at < u->size ? u->bytes[u->op_at] : 0, what);
}

static void *arena_alloc(unpickler *u, size_t bytes) {
  segc_pickle *p = u->owner;
  bytes = (bytes + sizeof(max_align_t) - 1) / sizeof(max_align_t) *
          sizeof(max_align_t);
  if (bytes > kMaxArenaBytes - p->arena_bytes) return NULL;
  chunk *c = p->chunks;
  if (!c || c->capacity - c->used < bytes) {
    const size_t capacity = bytes > kChunkBytes ? bytes : kChunkBytes;
    c = malloc(sizeof(chunk) + capacity);
    if (!c) return NULL;
    c->next = p->chunks;
    c->used = 0;
    c->capacity = capacity;
    p->chunks = c;
  }
  void *out = (char *)c->data + c->used;
  c->used += bytes;
  p->arena_bytes += bytes;
  memset(out, 0, bytes);
  return out;
}

static segc_status new_value(unpickler *u, segc_pickle_kind kind,
                             segc_pickle_value **out) {
  *out = arena_alloc(u, sizeof **out);
  if (!*out)
    return fail_at(u, SEGC_ERR_NOMEM, "pickle memory limit reached");
  (*out)->kind = kind;
  return SEGC_OK;
}

// Grows an array of value pointers held in the arena (old copies are left
// behind; doubling keeps the waste within a factor of two).
static segc_status grow(unpickler *u, segc_pickle_value ***items,
                        size_t count, size_t *capacity, size_t needed) {
  if (needed <= *capacity) return SEGC_OK;
  size_t target = *capacity ? *capacity : 4;
  while (target < needed) target *= 2;
  segc_pickle_value **grown = arena_alloc(u, target * sizeof *grown);
  if (!grown) return fail_at(u, SEGC_ERR_NOMEM, "pickle memory limit reached");
  if (count) memcpy(grown, *items, count * sizeof *grown);
  *items = grown;
  *capacity = target;
  return SEGC_OK;
}

static segc_status push(unpickler *u, segc_pickle_value *value) {
  if (u->stack_size == u->stack_capacity) {
    if (u->stack_capacity >= kMaxStack)
      return fail_at(u, SEGC_ERR_FORMAT, "pickle stack too deep");
    const size_t capacity = u->stack_capacity ? 2 * u->stack_capacity : 64;
    segc_pickle_value **grown = realloc(u->stack, capacity * sizeof *grown);
    if (!grown) return fail_at(u, SEGC_ERR_NOMEM, "no memory for the stack");
    u->stack = grown;
    u->stack_capacity = capacity;
  }
  u->stack[u->stack_size++] = value;
  return SEGC_OK;
}

// Values above the innermost MARK are the only ones an opcode may take.
static size_t frame_base(const unpickler *u) {
  return u->mark_count ? u->marks[u->mark_count - 1] : 0;
}

static segc_status pop(unpickler *u, segc_pickle_value **out) {
  if (u->stack_size == frame_base(u))
    return fail_at(u, SEGC_ERR_FORMAT, "stack underflow");
  *out = u->stack[--u->stack_size];
  return SEGC_OK;
}

static segc_status top(unpickler *u, segc_pickle_value **out) {
  if (u->stack_size == frame_base(u))
    return fail_at(u, SEGC_ERR_FORMAT, "stack underflow");
  *out = u->stack[u->stack_size - 1];
  return SEGC_OK;
}

static segc_status push_mark(unpickler *u) {
  if (u->mark_count == u->mark_capacity) {
    if (u->mark_capacity >= kMaxMarks)
      return fail_at(u, SEGC_ERR_FORMAT, "too many nested MARKs");
    const size_t capacity = u->mark_capacity ? 2 * u->mark_capacity : 16;
    size_t *grown = realloc(u->marks, capacity * sizeof *grown);
    if (!grown) return fail_at(u, SEGC_ERR_NOMEM, "no memory for marks");
    u->marks = grown;
    u->mark_capacity = capacity;
  }
  u->marks[u->mark_count++] = u->stack_size;
  return SEGC_OK;
}

// Closes the innermost MARK: the values above it are items[0..count).
static segc_status pop_mark(unpickler *u, segc_pickle_value ***items,
                            size_t *count) {
  if (u->mark_count == 0)
    return fail_at(u, SEGC_ERR_FORMAT, "no MARK to close");
  const size_t base = u->marks[--u->mark_count];
  *count = u->stack_size - base;
  *items = *count ? u->stack + base : NULL;  // the stack may not exist yet
  u->stack_size = base;  // the items stay readable until the next push
  return SEGC_OK;
}

static segc_status need(unpickler *u, size_t count, const uint8_t **out) {
  if (count > u->size - u->at)
    return fail_at(u, SEGC_ERR_FORMAT, "pickle data ends inside an opcode");
  *out = u->bytes + u->at;
  u->at += count;
  return SEGC_OK;
}

static segc_status make_tuple(unpickler *u, segc_pickle_value **items,
                              size_t count, segc_pickle_value **out) {
  SEGC_TRY(new_value(u, SEGC_PICKLE_TUPLE, out));
  if (count == 0) return SEGC_OK;
  (*out)->as.sequence.items = arena_alloc(u, count * sizeof *items);
  if (!(*out)->as.sequence.items)
    return fail_at(u, SEGC_ERR_NOMEM, "pickle memory limit reached");
  memcpy((*out)->as.sequence.items, items, count * sizeof *items);
  (*out)->as.sequence.count = (*out)->as.sequence.capacity = count;
  return SEGC_OK;
}

// APPEND(S) onto a list, ADDITEMS onto a set.
static segc_status append_items(unpickler *u, segc_pickle_value *list,
                                segc_pickle_kind kind,
                                segc_pickle_value **items, size_t count) {
  if (list->kind != kind)
    return fail_at(u, SEGC_ERR_FORMAT,
                   kind == SEGC_PICKLE_SET
                       ? "ADDITEMS on a value that is not a set"
                       : "APPEND(S) on a value that is not a list");
  if (count == 0) return SEGC_OK;
  SEGC_TRY(grow(u, &list->as.sequence.items, list->as.sequence.count,
                &list->as.sequence.capacity, list->as.sequence.count + count));
  memcpy(list->as.sequence.items + list->as.sequence.count, items,
         count * sizeof *items);
  list->as.sequence.count += count;
  return SEGC_OK;
}

// Keys are kept in order and not merged: a repeated key is the caller's
// concern (torch.save never writes one).
static segc_status set_items(unpickler *u, segc_pickle_value *dict,
                             segc_pickle_value **items, size_t count) {
  if (dict->kind != SEGC_PICKLE_DICT)
    return fail_at(u, SEGC_ERR_FORMAT, "SETITEM(S) on a value that is not a dict");
  if (count % 2 != 0)
    return fail_at(u, SEGC_ERR_FORMAT, "SETITEMS with an odd number of values");
  const size_t pairs = count / 2, have = dict->as.dict.count;
  size_t key_capacity = dict->as.dict.capacity;
  SEGC_TRY(grow(u, &dict->as.dict.keys, have, &key_capacity, have + pairs));
  SEGC_TRY(grow(u, &dict->as.dict.values, have, &dict->as.dict.capacity,
                have + pairs));
  for (size_t i = 0; i < pairs; ++i) {
    dict->as.dict.keys[have + i] = items[2 * i];
    dict->as.dict.values[have + i] = items[2 * i + 1];
  }
  dict->as.dict.count += pairs;
  return SEGC_OK;
}

static segc_status memo_put(unpickler *u, uint64_t id) {
  segc_pickle_value *value = NULL;
  SEGC_TRY(top(u, &value));
  if (id >= u->memo_limit)
    return fail_at(u, SEGC_ERR_FORMAT, "memo index out of range");
  if (id >= u->memo_capacity) {
    size_t capacity = u->memo_capacity ? u->memo_capacity : 256;
    while (capacity <= id) capacity *= 2;
    segc_pickle_value **grown = realloc(u->memo, capacity * sizeof *grown);
    if (!grown) return fail_at(u, SEGC_ERR_NOMEM, "no memory for the memo");
    memset(grown + u->memo_capacity, 0,
           (capacity - u->memo_capacity) * sizeof *grown);
    u->memo = grown;
    u->memo_capacity = capacity;
  }
  if (!u->memo[id]) ++u->memo_count;
  u->memo[id] = value;
  return SEGC_OK;
}

static segc_status memo_get(unpickler *u, uint64_t id) {
  if (id >= u->memo_capacity || !u->memo[id])
    return fail_at(u, SEGC_ERR_FORMAT, "memo index was never stored");
  return push(u, u->memo[id]);
}

// GLOBAL's operands: two printable ASCII lines, "module\nname\n".
static segc_status read_line(unpickler *u, segc_pickle_text *text) {
  const size_t start = u->at;
  while (u->at < u->size && u->bytes[u->at] != '\n') {
    const uint8_t c = u->bytes[u->at];
    if (c < 0x20 || c >= 0x7f)
      return fail_at(u, SEGC_ERR_FORMAT, "GLOBAL name is not printable ASCII");
    if (u->at - start >= kMaxGlobalLine)
      return fail_at(u, SEGC_ERR_FORMAT, "GLOBAL name too long");
    ++u->at;
  }
  if (u->at == u->size)
    return fail_at(u, SEGC_ERR_FORMAT, "pickle data ends inside GLOBAL");
  text->bytes = (const char *)u->bytes + start;
  text->length = u->at - start;
  ++u->at;  // the newline
  if (text->length == 0)
    return fail_at(u, SEGC_ERR_FORMAT, "GLOBAL with an empty name");
  return SEGC_OK;
}

// The operand of BINUNICODE and its 1- and 8-byte-length forms (str, UTF-8
// checked) and of the BINBYTES family (bytes).
static segc_status push_text(unpickler *u, segc_pickle_kind kind,
                             uint64_t length) {
  if (length > u->size - u->at)
    return fail_at(u, SEGC_ERR_FORMAT, "pickle data ends inside an opcode");
  const uint8_t *p = NULL;
  SEGC_TRY(need(u, (size_t)length, &p));
  if (kind == SEGC_PICKLE_STRING && !segc_utf8_valid(p, (size_t)length))
    return fail_at(u, SEGC_ERR_FORMAT, "string is not valid UTF-8");
  segc_pickle_value *v;
  SEGC_TRY(new_value(u, kind, &v));
  v->as.string.bytes = (const char *)p;
  v->as.string.length = (size_t)length;
  return push(u, v);
}

// STACK_GLOBAL (protocol 4): GLOBAL with module and name taken from the
// stack as two strings.
static segc_status stack_global(unpickler *u) {
  segc_pickle_value *module = NULL, *name = NULL, *v = NULL;
  SEGC_TRY(pop(u, &name));
  SEGC_TRY(pop(u, &module));
  if (module->kind != SEGC_PICKLE_STRING || name->kind != SEGC_PICKLE_STRING)
    return fail_at(u, SEGC_ERR_FORMAT,
                   "STACK_GLOBAL of values that are not two strings");
  const segc_pickle_text texts[2] = {module->as.string, name->as.string};
  for (int i = 0; i < 2; ++i) {
    if (texts[i].length == 0)
      return fail_at(u, SEGC_ERR_FORMAT, "GLOBAL with an empty name");
    if (texts[i].length > kMaxGlobalLine)
      return fail_at(u, SEGC_ERR_FORMAT, "GLOBAL name too long");
  }
  SEGC_TRY(new_value(u, SEGC_PICKLE_GLOBAL, &v));
  v->as.global.module = texts[0];
  v->as.global.name = texts[1];
  return push(u, v);
}

static segc_status push_int(unpickler *u, int64_t value) {
  segc_pickle_value *v;
  SEGC_TRY(new_value(u, SEGC_PICKLE_INT, &v));
  v->as.integer = value;
  return push(u, v);
}

// LONG1: a little-endian two's-complement integer of n bytes.
static segc_status read_long1(unpickler *u) {
  const uint8_t *p = NULL;
  SEGC_TRY(need(u, 1, &p));
  const size_t n = p[0];
  if (n > 8)
    return fail_at(u, SEGC_ERR_UNSUPPORTED, "integer wider than 64 bits");
  SEGC_TRY(need(u, n, &p));
  uint64_t bits = 0;
  for (size_t i = 0; i < n; ++i) bits |= (uint64_t)p[i] << (8 * i);
  if (n > 0 && n < 8 && (p[n - 1] & 0x80)) bits |= ~(uint64_t)0 << (8 * n);
  int64_t value;
  memcpy(&value, &bits, sizeof value);
  return push_int(u, value);
}

static segc_status reduce(unpickler *u) {
  segc_pickle_value *args = NULL, *callable = NULL, *out = NULL;
  SEGC_TRY(pop(u, &args));
  SEGC_TRY(pop(u, &callable));
  if (callable->kind != SEGC_PICKLE_GLOBAL)
    return fail_at(u, SEGC_ERR_FORMAT, "REDUCE of a value that is not a GLOBAL");
  if (args->kind != SEGC_PICKLE_TUPLE)
    return fail_at(u, SEGC_ERR_FORMAT, "REDUCE arguments are not a tuple");
  if (segc_pickle_is_global(callable, "collections", "OrderedDict")) {
    if (args->as.sequence.count != 0)
      return fail_at(u, SEGC_ERR_UNSUPPORTED,
                     "OrderedDict built from arguments");
    SEGC_TRY(new_value(u, SEGC_PICKLE_DICT, &out));
    return push(u, out);
  }
  SEGC_TRY(new_value(u, SEGC_PICKLE_CALL, &out));
  out->as.call.callable = callable;
  out->as.call.args = args;
  return push(u, out);
}

// BUILD sets an object's state: torch adds `_metadata` to state dicts this
// way. The state of a dict is ignored; a call keeps it for the caller.
static segc_status build(unpickler *u) {
  segc_pickle_value *state = NULL, *object = NULL;
  SEGC_TRY(pop(u, &state));
  SEGC_TRY(top(u, &object));
  if (object->kind == SEGC_PICKLE_CALL) {
    object->as.call.state = state;
    return SEGC_OK;
  }
  if (object->kind == SEGC_PICKLE_DICT &&
      (state->kind == SEGC_PICKLE_DICT || state->kind == SEGC_PICKLE_NONE))
    return SEGC_OK;
  return fail_at(u, SEGC_ERR_FORMAT, "BUILD on a value that takes no state");
}

static segc_status push_kind(unpickler *u, segc_pickle_kind kind) {
  segc_pickle_value *v;
  SEGC_TRY(new_value(u, kind, &v));
  return push(u, v);
}

static segc_status tuple_of_top(unpickler *u, size_t count) {
  if (u->stack_size - frame_base(u) < count)
    return fail_at(u, SEGC_ERR_FORMAT, "stack underflow");
  segc_pickle_value *tuple = NULL;
  segc_pickle_value **items = count ? u->stack + u->stack_size - count : NULL;
  SEGC_TRY(make_tuple(u, items, count, &tuple));
  u->stack_size -= count;
  return push(u, tuple);
}

// Runs one opcode. *stopped is set by STOP.
static segc_status step(unpickler *u, const segc_pickle_value **root,
                        bool *stopped) {
  const uint8_t *p = NULL;
  segc_pickle_value *a = NULL, *b = NULL, **items = NULL;
  size_t count = 0;
  u->op_at = u->at;
  SEGC_TRY(need(u, 1, &p));
  const uint8_t op = p[0];
  switch (op) {
    case 0x80: {  // PROTO
      SEGC_TRY(need(u, 1, &p));
      if (p[0] <= 5) return SEGC_OK;
      char message[96];
      snprintf(message, sizeof message,
               "pickle protocol %u (segc reads protocols 2 to 5)", p[0]);
      return fail_at(u, SEGC_ERR_UNSUPPORTED, message);
    }
    case 0x95:  // FRAME: a length prefix that only helps buffering
      SEGC_TRY(need(u, 8, &p));
      if (segc_le64(p) > u->size - u->at)
        return fail_at(u, SEGC_ERR_FORMAT, "FRAME longer than the pickle");
      return SEGC_OK;
    case '.':  // STOP
      if (u->mark_count != 0 || u->stack_size != 1)
        return fail_at(u, SEGC_ERR_FORMAT,
                       "STOP with other values or MARKs left on the stack");
      *root = u->stack[0];
      *stopped = true;
      return SEGC_OK;
    case '(':  // MARK
      return push_mark(u);
    case 0x93:  // STACK_GLOBAL
      return stack_global(u);
    case 'c': {  // GLOBAL
      segc_pickle_value *v;
      SEGC_TRY(new_value(u, SEGC_PICKLE_GLOBAL, &v));
      SEGC_TRY(read_line(u, &v->as.global.module));
      SEGC_TRY(read_line(u, &v->as.global.name));
      return push(u, v);
    }
    case ')':  // EMPTY_TUPLE
      return tuple_of_top(u, 0);
    case 0x85:  // TUPLE1
    case 0x86:  // TUPLE2
    case 0x87:  // TUPLE3
      return tuple_of_top(u, (size_t)(op - 0x84));
    case 't':  // TUPLE
      SEGC_TRY(pop_mark(u, &items, &count));
      SEGC_TRY(make_tuple(u, items, count, &a));
      return push(u, a);
    case ']':  // EMPTY_LIST
      return push_kind(u, SEGC_PICKLE_LIST);
    case 'a':  // APPEND
      SEGC_TRY(pop(u, &b));
      SEGC_TRY(top(u, &a));
      return append_items(u, a, SEGC_PICKLE_LIST, &b, 1);
    case 'e':  // APPENDS
      SEGC_TRY(pop_mark(u, &items, &count));
      SEGC_TRY(top(u, &a));
      return append_items(u, a, SEGC_PICKLE_LIST, items, count);
    case 0x8f:  // EMPTY_SET
      return push_kind(u, SEGC_PICKLE_SET);
    case 0x90:  // ADDITEMS
      SEGC_TRY(pop_mark(u, &items, &count));
      SEGC_TRY(top(u, &a));
      return append_items(u, a, SEGC_PICKLE_SET, items, count);
    case 0x91:  // FROZENSET
      SEGC_TRY(pop_mark(u, &items, &count));
      SEGC_TRY(make_tuple(u, items, count, &a));
      a->kind = SEGC_PICKLE_SET;
      return push(u, a);
    case '}':  // EMPTY_DICT
      return push_kind(u, SEGC_PICKLE_DICT);
    case 's': {  // SETITEM
      segc_pickle_value *pair[2] = {NULL, NULL};
      SEGC_TRY(pop(u, &pair[1]));
      SEGC_TRY(pop(u, &pair[0]));
      SEGC_TRY(top(u, &a));
      return set_items(u, a, pair, 2);
    }
    case 'u':  // SETITEMS
      SEGC_TRY(pop_mark(u, &items, &count));
      SEGC_TRY(top(u, &a));
      return set_items(u, a, items, count);
    case 0x8c:  // SHORT_BINUNICODE
      SEGC_TRY(need(u, 1, &p));
      return push_text(u, SEGC_PICKLE_STRING, p[0]);
    case 'X':  // BINUNICODE
      SEGC_TRY(need(u, 4, &p));
      return push_text(u, SEGC_PICKLE_STRING, segc_le32(p));
    case 0x8d:  // BINUNICODE8
      SEGC_TRY(need(u, 8, &p));
      return push_text(u, SEGC_PICKLE_STRING, segc_le64(p));
    case 'C':  // SHORT_BINBYTES
      SEGC_TRY(need(u, 1, &p));
      return push_text(u, SEGC_PICKLE_BYTES, p[0]);
    case 'B':  // BINBYTES
      SEGC_TRY(need(u, 4, &p));
      return push_text(u, SEGC_PICKLE_BYTES, segc_le32(p));
    case 0x8e:  // BINBYTES8
      SEGC_TRY(need(u, 8, &p));
      return push_text(u, SEGC_PICKLE_BYTES, segc_le64(p));
    case 'q':  // BINPUT
      SEGC_TRY(need(u, 1, &p));
      return memo_put(u, p[0]);
    case 'r':  // LONG_BINPUT
      SEGC_TRY(need(u, 4, &p));
      return memo_put(u, segc_le32(p));
    case 'h':  // BINGET
      SEGC_TRY(need(u, 1, &p));
      return memo_get(u, p[0]);
    case 0x94:  // MEMOIZE: BINPUT at the next free index
      return memo_put(u, u->memo_count);
    case 'j':  // LONG_BINGET
      SEGC_TRY(need(u, 4, &p));
      return memo_get(u, segc_le32(p));
    case 'J': {  // BININT: signed 32-bit
      SEGC_TRY(need(u, 4, &p));
      int32_t value;
      const uint32_t bits = segc_le32(p);
      memcpy(&value, &bits, sizeof value);
      return push_int(u, value);
    }
    case 'K':  // BININT1
      SEGC_TRY(need(u, 1, &p));
      return push_int(u, p[0]);
    case 'M':  // BININT2
      SEGC_TRY(need(u, 2, &p));
      return push_int(u, segc_le16(p));
    case 0x8a:  // LONG1
      return read_long1(u);
    case 'G': {  // BINFLOAT: big-endian IEEE double
      SEGC_TRY(need(u, 8, &p));
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
      SEGC_TRY(new_value(u, SEGC_PICKLE_FLOAT, &a));
      memcpy(&a->as.real, &bits, sizeof bits);
      return push(u, a);
    }
    case 'N':  // NONE
      return push_kind(u, SEGC_PICKLE_NONE);
    case 0x88:  // NEWTRUE
    case 0x89:  // NEWFALSE
      SEGC_TRY(new_value(u, SEGC_PICKLE_BOOL, &a));
      a->as.boolean = op == 0x88;
      return push(u, a);
    case 'Q':  // BINPERSID
      SEGC_TRY(pop(u, &b));
      SEGC_TRY(new_value(u, SEGC_PICKLE_PERSID, &a));
      a->as.persistent_id = b;
      return push(u, a);
    case 'R':  // REDUCE
      return reduce(u);
    case 'b':  // BUILD
      return build(u);
    default: {
      const char *name = segc_pickle_opcode_name(op);
      char message[160];
      if (name)
        snprintf(message, sizeof message,
                 "pickle opcode %s is not used by torch.save state dicts", name);
      else
        snprintf(message, sizeof message, "unknown pickle opcode");
      return fail_at(u, SEGC_ERR_FORMAT, message);
    }
  }
}

segc_status segc_pickle_load(const uint8_t *bytes, size_t size,
                             segc_pickle **pickle,
                             const segc_pickle_value **root) {
  *pickle = NULL;
  *root = NULL;
  unpickler u = {.bytes = bytes, .size = size};
  u.owner = calloc(1, sizeof *u.owner);
  if (!u.owner) return SEGC_FAIL(SEGC_ERR_NOMEM, "no memory to unpickle");
  // Python's pickler numbers memo entries 0, 1, 2, ...; each BINPUT takes two
  // bytes, so a valid index is below the pickle's size.
  u.memo_limit = size + 256 < ((size_t)1 << 24) ? size + 256 : (size_t)1 << 24;
  segc_status status = SEGC_OK;
  bool stopped = false;
  while (status == SEGC_OK && !stopped) {
    if (u.at == u.size) {
      u.op_at = u.at;
      status = fail_at(&u, SEGC_ERR_FORMAT, "pickle ends without STOP");
      break;
    }
    status = step(&u, root, &stopped);
  }
  free(u.stack);
  free(u.marks);
  free(u.memo);
  if (status != SEGC_OK) {
    segc_pickle_free(u.owner);
    *root = NULL;
    return status;
  }
  *pickle = u.owner;
  return SEGC_OK;
}

void segc_pickle_free(segc_pickle *pickle) {
  if (!pickle) return;
  chunk *c = pickle->chunks;
  while (c) {
    chunk *next = c->next;
    free(c);
    c = next;
  }
  free(pickle);
}
