// Names for messages, and the lookups callers use on unpickled values.
#include <string.h>

#include "io/pickle.h"

const char *segc_pickle_opcode_name(uint8_t op) {
  switch (op) {
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'F': return "FLOAT";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'P': return "PERSID";
    case 'g': return "GET";
    case 'p': return "PUT";
    case 'd': return "DICT";
    case 'l': return "LIST";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x8b: return "LONG4";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return NULL;
  }
}

const char *segc_pickle_kind_name(segc_pickle_kind kind) {
  switch (kind) {
    case SEGC_PICKLE_NONE: return "None";
    case SEGC_PICKLE_BOOL: return "bool";
    case SEGC_PICKLE_INT: return "int";
    case SEGC_PICKLE_FLOAT: return "float";
    case SEGC_PICKLE_STRING: return "str";
    case SEGC_PICKLE_BYTES: return "bytes";
    case SEGC_PICKLE_TUPLE: return "tuple";
    case SEGC_PICKLE_LIST: return "list";
    case SEGC_PICKLE_SET: return "set";
    case SEGC_PICKLE_DICT: return "dict";
    case SEGC_PICKLE_GLOBAL: return "global";
    case SEGC_PICKLE_PERSID: return "persistent id";
    case SEGC_PICKLE_CALL: return "object";
  }
  return "unknown";
}

bool segc_pickle_text_equals(segc_pickle_text text, const char *literal) {
  const size_t length = strlen(literal);
  return text.length == length && memcmp(text.bytes, literal, length) == 0;
}

const segc_pickle_value *segc_pickle_dict_get(const segc_pickle_value *dict,
                                              const char *key) {
  if (!dict || dict->kind != SEGC_PICKLE_DICT) return NULL;
  const segc_pickle_value *found = NULL;
  for (size_t i = 0; i < dict->as.dict.count; ++i) {
    const segc_pickle_value *k = dict->as.dict.keys[i];
    if (k->kind == SEGC_PICKLE_STRING &&
        segc_pickle_text_equals(k->as.string, key))
      found = dict->as.dict.values[i];  // the last one wins, as in Python
  }
  return found;
}

bool segc_pickle_is_global(const segc_pickle_value *value, const char *module,
                           const char *name) {
  return value && value->kind == SEGC_PICKLE_GLOBAL &&
         segc_pickle_text_equals(value->as.global.module, module) &&
         segc_pickle_text_equals(value->as.global.name, name);
}
