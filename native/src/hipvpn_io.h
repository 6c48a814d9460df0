// Declarations shared by the addon's translation units: the N-API argument helpers and address
// conversions of hipvpn_io.c, the ESP fast path (fastpath.c) and the libcrypto loader (gcm.c).

#ifndef HIPVPN_IO_H
#define HIPVPN_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <node_api.h>

// Bumped whenever the exported functions change shape; src-main/platform/native.ts checks it.
#define HIPVPN_ABI_VERSION 6

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

void fastpath_register(napi_env env, napi_value exports);

#endif
