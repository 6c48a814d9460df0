// What every part of the addon shares: N-API argument helpers, the 16-byte address form, and the
// exports that need no handle (address text, interface index, link state).

#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>

#include "addon_common.h"

// ---------------------------------------------------------------------------------------------
// small N-API helpers

napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  const char *name = "EIO";
  switch (err) {
    case EPERM: name = "EPERM"; break;
    case EACCES: name = "EACCES"; break;
    case EBUSY: name = "EBUSY"; break;
    case ENOENT: name = "ENOENT"; break;
    case ENODEV: name = "ENODEV"; break;
    case EINVAL: name = "EINVAL"; break;
    case EADDRINUSE: name = "EADDRINUSE"; break;
    case EADDRNOTAVAIL: name = "EADDRNOTAVAIL"; break;
    case EBADF: name = "EBADF"; break;
    case EBADFD: name = "EBADFD"; break;
    default: break;
  }
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errno_v;
  napi_create_int32(env, err, &errno_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_throw(env, error);
  return NULL;
}

napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

int get_u32(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

int get_bool(napi_env env, napi_value v, int *out) {
  bool b;
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b;
  return 1;
}

int get_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) return 0;
  return 1;
}

// Any Uint8Array/Buffer, or any typed array with the element size asked for.
int get_typed(napi_env env, napi_value v, size_t elem, void **data, size_t *count) {
  bool is_typed;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  size_t length;
  void *ptr;
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, NULL, NULL) != napi_ok) return 0;
  size_t sz = 0;
  switch (type) {
    case napi_uint8_array: case napi_int8_array: case napi_uint8_clamped_array: sz = 1; break;
    case napi_uint16_array: case napi_int16_array: sz = 2; break;
    case napi_uint32_array: case napi_int32_array: case napi_float32_array: sz = 4; break;
    default: sz = 8; break;
  }
  if (sz != elem) return 0;
  *data = ptr;
  *count = length;
  return 1;
}

napi_value make_i32(napi_env env, int32_t v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

napi_value make_undefined(napi_env env) {
  napi_value out;
  napi_get_undefined(env, &out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// addresses: 16-byte form (IPv4 as ::ffff:a.b.c.d) <-> sockaddr

void sockaddr_to16(const struct sockaddr_storage *ss, uint8_t out[16], uint16_t *port) {
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, &s4->sin_addr, 4);
    *port = ntohs(s4->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
    memcpy(out, &s6->sin6_addr, 16);
    *port = ntohs(s6->sin6_port);
  } else {
    memset(out, 0, 16);
    *port = 0;
  }
}

socklen_t sockaddr_from16(int family, const uint8_t in[16], uint16_t port,
                                 struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof *ss);
  if (family == AF_INET) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    memcpy(&s4->sin_addr, in + 12, 4);
    return sizeof *s4;
  }
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  s6->sin6_family = AF_INET6;
  s6->sin6_port = htons(port);
  memcpy(&s6->sin6_addr, in, 16);
  return sizeof *s6;
}

// ---------------------------------------------------------------------------------------------
// exported: no handle

// linkConfigure(name, up: boolean, mtu: number) — mtu 0 leaves it unchanged.
static napi_value link_configure(napi_env env, napi_callback_info info) {
  ARGS(3);
  char name[IFNAMSIZ + 1] = {0};
  int up;
  int32_t mtu;
  if (argc < 3 || !get_string(env, argv[0], name, sizeof name) || !get_bool(env, argv[1], &up) ||
      !get_i32(env, argv[2], &mtu))
    return throw_type(env, "linkConfigure(name: string, up: boolean, mtu: number)");
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, "socket", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  if (mtu > 0) {
    ifr.ifr_mtu = mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
      int err = errno;
      close(s);
      return throw_errno(env, "SIOCSIFMTU", err);
    }
  }
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
    int err = errno;
    close(s);
    return throw_errno(env, "SIOCGIFFLAGS", err);
  }
  ifr.ifr_flags = up ? (ifr.ifr_flags | IFF_UP) : (ifr.ifr_flags & ~IFF_UP);
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
    int err = errno;
    close(s);
    return throw_errno(env, "SIOCSIFFLAGS", err);
  }
  close(s);
  return make_undefined(env);
}

// inetNtop(address16) -> string (IPv4-mapped prints as dotted quad)
static napi_value inet_ntop16(napi_env env, napi_callback_info info) {
  ARGS(1);
  uint8_t *a;
  size_t n;
  if (argc < 1 || !get_typed(env, argv[0], 1, (void **)&a, &n) || n < 16)
    return throw_type(env, "inetNtop(address16)");
  char out[INET6_ADDRSTRLEN];
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(a, mapped, 12) == 0) inet_ntop(AF_INET, a + 12, out, sizeof out);
  else inet_ntop(AF_INET6, a, out, sizeof out);
  napi_value s;
  napi_create_string_utf8(env, out, NAPI_AUTO_LENGTH, &s);
  return s;
}

// inetPton(string) -> { address: Buffer(16), family: 4 | 6 } or null
static napi_value inet_pton16(napi_env env, napi_callback_info info) {
  ARGS(1);
  char s[INET6_ADDRSTRLEN + 1] = {0};
  if (argc < 1 || !get_string(env, argv[0], s, sizeof s)) return throw_type(env, "inetPton(string)");
  uint8_t a[16] = {0};
  int family;
  if (inet_pton(AF_INET, s, a + 12) == 1) {
    a[10] = a[11] = 0xff;
    family = 4;
  } else if (inet_pton(AF_INET6, s, a) == 1) {
    family = 6;
  } else {
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  napi_value out, b;
  void *copy;
  napi_create_object(env, &out);
  napi_create_buffer_copy(env, 16, a, &copy, &b);
  napi_set_named_property(env, out, "address", b);
  napi_set_named_property(env, out, "family", make_i32(env, family));
  return out;
}

static napi_value if_index(napi_env env, napi_callback_info info) {
  ARGS(1);
  char name[IFNAMSIZ + 1] = {0};
  if (argc < 1 || !get_string(env, argv[0], name, sizeof name)) return throw_type(env, "ifIndex(name)");
  return make_i32(env, (int32_t)if_nametoindex(name));
}

void export_functions(napi_env env, napi_value exports, const addon_fn *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
}

void common_register(napi_env env, napi_value exports) {
  static const addon_fn fns[] = {
      {"linkConfigure", link_configure}, {"inetNtop", inet_ntop16},
      {"inetPton", inet_pton16},         {"ifIndex", if_index},
  };
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}
