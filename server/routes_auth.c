// MONAI Label's login, for a --token-file server: GET /auth/ says whether
// auth is enabled; POST /auth/token (form username, password, grant_type
// password) gives the token as the access token when the password is the
// token, so 3D Slicer's MONAILabel module logs in with the token typed as
// its password; GET /auth/token/valid answers 200 for a valid bearer token
// (the token check runs before every route but /info/ and the login).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

bool route_is_public(const char *method, const char *url) {
  const bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
  if (get && (!strcmp(url, "/info/") || !strcmp(url, "/info") ||
              !strcmp(url, "/auth/") || !strcmp(url, "/auth")))
    return true;
  return !strcmp(method, "POST") && !strcmp(url, "/auth/token");
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The decoded value of `key` in a urlencoded body; false when absent or bad.
static bool form_value(const char *body, const char *key, char *out, size_t size) {
  const size_t key_len = strlen(key);
  for (const char *at = body; at && *at; at = strchr(at, '&'), at = at ? at + 1 : NULL) {
    if (strncmp(at, key, key_len) != 0 || at[key_len] != '=') continue;
    size_t n = 0;
    for (const char *c = at + key_len + 1; *c && *c != '&'; ++c) {
      char v = *c;
      if (v == '+') {
        v = ' ';
      } else if (v == '%') {
        const int hi = c[1] ? hex_value(c[1]) : -1, lo = hi >= 0 && c[2] ? hex_value(c[2]) : -1;
        if (hi < 0 || lo < 0) return false;
        v = (char)(hi * 16 + lo);
        c += 2;
      }
      if (n + 1 >= size) return false;
      out[n++] = v;
    }
    out[n] = '\0';
    return true;
  }
  return false;
}

enum MHD_Result route_auth(server_request *r, const char *rest) {
  server_state *s = r->server;
  const bool get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
  if (!rest[0] || !strcmp(rest, "/")) {
    if (!get) return server_reply_error(r, 405, "Method Not Allowed");
    cJSON *body = cJSON_CreateObject();
    if (body) {
      cJSON_AddBoolToObject(body, "enabled", s->token[0] != '\0');
      cJSON_AddStringToObject(body, "client_id", "segserve");
      cJSON_AddStringToObject(body, "realm", "segserve");
    }
    return server_reply_json(r, 200, body);
  }
  if (!strcmp(rest, "/token")) {
    if (strcmp(r->method, "POST") != 0) return server_reply_error(r, 405, "Method Not Allowed");
    if (!s->token[0]) return server_reply_error(r, 404, "auth is not enabled (no --token-file)");
    char password[256];
    if (r->body != BODY_URLENCODED || !form_value(r->small_body, "password", password, sizeof password))
      return server_reply_error(r, 422, "field required: password (a urlencoded form)");
    if (!server_same_secret(password, s->token)) return server_reply_error(r, 401, "Incorrect username or password");
    cJSON *body = cJSON_CreateObject();
    if (body) {
      cJSON_AddStringToObject(body, "access_token", s->token);
      cJSON_AddStringToObject(body, "token_type", "Bearer");
    }
    return server_reply_json(r, 200, body);
  }
  if (!strcmp(rest, "/token/valid")) {
    if (!get) return server_reply_error(r, 405, "Method Not Allowed");
    return server_reply_json(r, 200, cJSON_CreateObject());
  }
  return server_reply_error(r, 404, "Not Found");
}
