// Declarations shared by the addon's translation units: the N-API argument helpers and address
// conversions of addon_common.c, used by the handles (hipvpn_io.c, udp_handle.c) and the ESP
// fast path (fastpath*.c).

#ifndef ADDON_COMMON_H
#define ADDON_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <node_api.h>

// Bumped whenever the exported functions change shape; src-main/platform/native.ts checks it.
#define HIPVPN_ABI_VERSION 6

// An exported function's arguments: up to `n` of them in argv[], how many were passed in argc.
#define ARGS(n)                         \
  size_t argc = (n);                    \
  napi_value argv[(n) > 0 ? (n) : 1];   \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL)

napi_value throw_errno(napi_env env, const char *what, int err);
napi_value throw_type(napi_env env, const char *msg);
int get_i32(napi_env env, napi_value v, int32_t *out);
int get_u32(napi_env env, napi_value v, uint32_t *out);
int get_bool(napi_env env, napi_value v, int *out);
int get_string(napi_env env, napi_value v, char *out, size_t cap);
int get_typed(napi_env env, napi_value v, size_t elem, void **data, size_t *count);
napi_value make_i32(napi_env env, int32_t v);
napi_value make_undefined(napi_env env);

// 16-byte addresses carry IPv4 as ::ffff:a.b.c.d.
void sockaddr_to16(const struct sockaddr_storage *ss, uint8_t out[16], uint16_t *port);
socklen_t sockaddr_from16(int family, const uint8_t in[16], uint16_t port, struct sockaddr_storage *ss);

typedef struct {
  const char *name;
  napi_callback cb;
} addon_fn;
void export_functions(napi_env env, napi_value exports, const addon_fn *fns, size_t n);

void common_register(napi_env env, napi_value exports);
void fastpath_register(napi_env env, napi_value exports);

#endif
