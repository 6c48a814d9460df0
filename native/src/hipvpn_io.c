// hipvpn data-plane I/O: TUN devices and UDP sockets driven by uv_poll, moving packets in
// batches so that one JS<->C crossing carries up to a whole batch.
//
// Everything here is N-API (plus libuv, which Node and Electron both export), so one binary
// serves both. Each handle belongs to the JS environment (main thread or worker) that created
// it: the poll runs on that environment's loop, and the environment's teardown closes it.
//
// Reading: the caller hands in a buffer split into fixed-size slots and a Uint32Array of
// lengths (plus address arrays for UDP). On each wakeup we fill up to `slots` packets and call
// the JS callback once with the count. The buffers are reused, so JS must consume a batch
// before it returns.

#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/if_tun.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "hipvpn_io.h"
#include "udp_batch.h"

#define KIND_TUN 1
#define KIND_UDP 2
#define MAX_SLOTS 1024
// A full batch hints that more is queued; keep draining for a few batches before yielding
// to the loop so one busy fd cannot starve the others.
#define MAX_BATCHES_PER_WAKEUP 8

typedef struct io_handle {
  napi_env env;
  int fd;
  int kind;
  int family;       // AF_INET / AF_INET6 for UDP
  int gso_ok;       // cleared when the kernel or device refuses UDP_SEGMENT
  int closed;
  int hook_added;
  int referenced;
  int in_callback;  // >0 while JS runs from our poll callback
  int finalized;    // the JS object is gone; free once the callback unwinds
  uv_poll_t *poll;  // allocated separately: it must outlive us until its close callback
  napi_async_context async_ctx;
  napi_ref on_batch;
  napi_ref on_error;
  napi_ref buf_ref, len_ref, addr_ref, port_ref;
  napi_ref self_ref;  // while reading, the JS handle must not be collected under the poll
  uint8_t *buf;
  uint32_t *lens;
  uint8_t *addrs;   // 16 bytes per slot (IPv4 as v4-mapped)
  uint16_t *ports;
  uint32_t slots;
  uint32_t slot_size;
} io_handle;

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

static int set_nonblock(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -1;
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return fcntl(fd, F_SETFL, flags);
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
// handle lifetime

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void release_refs(io_handle *io) {
  napi_ref *refs[] = {&io->on_batch, &io->on_error, &io->buf_ref, &io->len_ref, &io->addr_ref,
                      &io->port_ref, &io->self_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i]) {
      napi_delete_reference(io->env, *refs[i]);
      *refs[i] = NULL;
    }
  }
  if (io->async_ctx) {
    napi_async_destroy(io->env, io->async_ctx);
    io->async_ctx = NULL;
  }
  io->buf = NULL;
  io->lens = NULL;
  io->addrs = NULL;
  io->ports = NULL;
}

static void stop_poll(io_handle *io) {
  if (!io->poll) return;
  uv_poll_stop(io->poll);
  io->poll->data = NULL;
  uv_close((uv_handle_t *)io->poll, on_poll_closed);
  io->poll = NULL;
}

// Stops polling and closes the fd; safe to call twice. `from_teardown` skips N-API calls the
// environment may no longer accept.
static void shutdown_handle(io_handle *io, int from_teardown) {
  if (io->closed) return;
  io->closed = 1;
  stop_poll(io);
  if (io->fd >= 0) {
    close(io->fd);
    io->fd = -1;
  }
  if (!from_teardown) release_refs(io);
}

static void env_cleanup(void *arg) {
  io_handle *io = arg;
  io->hook_added = 0;
  shutdown_handle(io, 1);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  io_handle *io = data;
  if (io->hook_added) {
    napi_remove_env_cleanup_hook(env, env_cleanup, io);
    io->hook_added = 0;
  }
  shutdown_handle(io, 1);
  if (io->in_callback) io->finalized = 1;
  else free(io);
}

static napi_value wrap_handle(napi_env env, int fd, int kind, int family) {
  io_handle *io = calloc(1, sizeof *io);
  if (!io) {
    close(fd);
    return throw_errno(env, "out of memory", ENOMEM);
  }
  io->env = env;
  io->fd = fd;
  io->kind = kind;
  io->family = family;
  io->gso_ok = 1;
  io->referenced = 1;
  napi_value ext;
  if (napi_create_external(env, io, finalize_handle, NULL, &ext) != napi_ok) {
    close(fd);
    free(io);
    return NULL;
  }
  // Worker teardown and process exit must never wait on our fds.
  if (napi_add_env_cleanup_hook(env, env_cleanup, io) == napi_ok) io->hook_added = 1;
  return ext;
}

static io_handle *unwrap(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
    throw_type(env, "expected a native I/O handle");
    return NULL;
  }
  return data;
}

static io_handle *unwrap_open(napi_env env, napi_value v) {
  io_handle *io = unwrap(env, v);
  if (io && io->closed) {
    throw_errno(env, "handle is closed", EBADF);
    return NULL;
  }
  return io;
}

// ---------------------------------------------------------------------------------------------
// calling back into JS from the poll

static void call_js(io_handle *io, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = io->env;
  napi_value fn, recv, result;
  if (!fn_ref || napi_get_reference_value(env, fn_ref, &fn) != napi_ok || !fn) return;
  // napi_make_callback insists on an object receiver; the callbacks ignore `this`.
  napi_get_global(env, &recv);
  io->in_callback++;
  napi_status st = napi_make_callback(env, io->async_ctx, recv, fn, argc, argv, &result);
  io->in_callback--;
  if (st == napi_pending_exception) {
    // Route a throwing callback to 'uncaughtException' like any other I/O callback would.
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
}

static void report_error(io_handle *io, int err, const uint8_t *addr16, uint16_t port,
                         int origin, int icmp_type, int icmp_code) {
  if (!io->on_error) return;
  napi_env env = io->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_set_named_property(env, obj, "errno", make_i32(env, err));
  napi_set_named_property(env, obj, "origin", make_i32(env, origin));
  napi_set_named_property(env, obj, "icmpType", make_i32(env, icmp_type));
  napi_set_named_property(env, obj, "icmpCode", make_i32(env, icmp_code));
  napi_set_named_property(env, obj, "port", make_i32(env, port));
  if (addr16) {
    void *copy;
    napi_create_buffer_copy(env, 16, addr16, &copy, &v);
    napi_set_named_property(env, obj, "address", v);
  }
  call_js(io, io->on_error, 1, &obj);
  napi_close_handle_scope(env, scope);
}

static void deliver_batch(io_handle *io, uint32_t count) {
  napi_env env = io->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value arg = make_i32(env, (int32_t)count);
  call_js(io, io->on_batch, 1, &arg);
  napi_close_handle_scope(env, scope);
}

// ---------------------------------------------------------------------------------------------
// draining

// Returns packets read into the slots; *err gets a fatal errno (0 when the fd just ran dry).
static uint32_t drain_tun(io_handle *io, int *err) {
  uint32_t n = 0;
  *err = 0;
  while (n < io->slots) {
    ssize_t r = read(io->fd, io->buf + (size_t)n * io->slot_size, io->slot_size);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
      break;
    }
    if (r == 0) break;
    io->lens[n++] = (uint32_t)r;
  }
  return n;
}

static uint32_t drain_udp(io_handle *io, int *err) {
  struct mmsghdr msgs[64];
  struct iovec iovs[64];
  struct sockaddr_storage names[64];
  uint32_t n = 0;
  *err = 0;
  while (n < io->slots) {
    uint32_t want = io->slots - n;
    if (want > 64) want = 64;
    for (uint32_t i = 0; i < want; i++) {
      iovs[i].iov_base = io->buf + (size_t)(n + i) * io->slot_size;
      iovs[i].iov_len = io->slot_size;
      memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &names[i];
      msgs[i].msg_hdr.msg_namelen = sizeof names[i];
    }
    int r = recvmmsg(io->fd, msgs, want, MSG_DONTWAIT, NULL);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
      break;
    }
    for (int i = 0; i < r; i++) {
      uint32_t slot = n + (uint32_t)i;
      uint32_t len = msgs[i].msg_len;
      // Mark truncation in the top bit so JS can drop the packet instead of misparsing it.
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) len = io->slot_size | 0x80000000u;
      io->lens[slot] = len;
      sockaddr_to16(&names[i], io->addrs + (size_t)slot * 16, &io->ports[slot]);
    }
    n += (uint32_t)r;
    if ((uint32_t)r < want) break;
  }
  return n;
}

static void report_queued_error(void *ctx, const struct sockaddr_storage *dest, const struct sock_extended_err *ee) {
  io_handle *io = ctx;
  uint8_t addr[16];
  uint16_t port = 0;
  sockaddr_to16(dest, addr, &port);
  const uint8_t *known = dest->ss_family ? addr : NULL;
  if (ee) report_error(io, (int)ee->ee_errno, known, port, ee->ee_origin, ee->ee_type, ee->ee_code);
  else report_error(io, EIO, known, port, 0, 0, 0);
}

// JS runs from report_error and may close the handle.
static int handle_gone(void *ctx) {
  io_handle *io = ctx;
  return io->closed || io->fd < 0;
}

// ICMP errors queued by IP_RECVERR (and the plain SO_ERROR) after a POLLERR.
static void drain_errors(io_handle *io) {
  int soerr = udp_drain_errqueue(io->fd, 256, report_queued_error, handle_gone, io);
  if (soerr > 0) report_error(io, soerr, NULL, 0, 0, 0, 0);
}

static void on_poll(uv_poll_t *handle, int status, int events);

static int arm_poll(io_handle *io) {
  return uv_poll_start(io->poll, UV_READABLE, on_poll);
}

static void on_poll_inner(io_handle *io, int status);

static void on_poll(uv_poll_t *handle, int status, int events) {
  io_handle *io = handle->data;
  if (!io || io->closed) return;
  io->in_callback++;
  on_poll_inner(io, status);
  io->in_callback--;
  if (io->finalized && !io->in_callback) free(io);
}

static void on_poll_inner(io_handle *io, int status) {
  if (status < 0) {
    // libuv stops a poll for good on POLLERR; learn what went wrong, clear it, re-arm.
    if (io->kind == KIND_UDP) {
      drain_errors(io);
    } else {
      char probe;
      ssize_t r = read(io->fd, &probe, 0);
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        // A TUN fd whose device was deleted stays in POLLERR forever: report and stop.
        int err = errno;
        stop_poll(io);
        report_error(io, err, NULL, 0, 0, 0, 0);
        return;
      }
    }
    if (!io->closed && io->poll) {
      int rc = arm_poll(io);
      if (rc != 0) report_error(io, -rc, NULL, 0, 0, 0, 0);
    }
    return;
  }
  for (int round = 0; round < MAX_BATCHES_PER_WAKEUP; round++) {
    if (io->closed || !io->poll || !io->buf) return;
    int err = 0;
    uint32_t n = io->kind == KIND_TUN ? drain_tun(io, &err) : drain_udp(io, &err);
    if (n > 0) deliver_batch(io, n);
    if (err) {
      if (!io->closed && io->kind == KIND_UDP) {
        // recvmmsg surfaces a pending ICMP error this way too; same treatment as POLLERR.
        drain_errors(io);
        continue;
      }
      if (!io->closed) {
        stop_poll(io);
        report_error(io, err, NULL, 0, 0, 0, 0);
      }
      return;
    }
    if (n < io->slots) return;
  }
}

// ---------------------------------------------------------------------------------------------
// exported: TUN

// tunOpen(name: string, multiQueue: boolean) -> { handle, name }
static napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1] = {0};
  int mq = 0;
  if (argc < 2 || !get_string(env, argv[0], name, sizeof name) || !get_bool(env, argv[1], &mq))
    return throw_type(env, "tunOpen(name: string, multiQueue: boolean)");
  if (strlen(name) >= IFNAMSIZ) return throw_type(env, "TUN name longer than 15 bytes");
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (mq ? IFF_MULTI_QUEUE : 0);
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    char what[96];
    snprintf(what, sizeof what, "TUNSETIFF %s", name[0] ? name : "(kernel-chosen)");
    return throw_errno(env, what, err);
  }
  napi_value out, h, nm;
  h = wrap_handle(env, fd, KIND_TUN, 0);
  if (!h) return NULL;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", h);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &nm);
  napi_set_named_property(env, out, "name", nm);
  return out;
}

// adoptFd(fd: number, kind: 'tun' | 'udp') -> handle; the handle then owns the fd.
static napi_value adopt_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  char kind[8] = {0};
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_string(env, argv[1], kind, sizeof kind))
    return throw_type(env, "adoptFd(fd: number, kind: 'tun' | 'udp')");
  if (set_nonblock(fd, 1) < 0) return throw_errno(env, "fcntl O_NONBLOCK", errno);
  int family = 0;
  int k = strcmp(kind, "udp") == 0 ? KIND_UDP : KIND_TUN;
  if (k == KIND_UDP) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return throw_errno(env, "getsockname", errno);
    family = ss.ss_family;
  }
  return wrap_handle(env, fd, k, family);
}

// tunIoctl(handle, what: 'persist' | 'owner' | 'group', value: number)
static napi_value tun_ioctl(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char what[16] = {0};
  int32_t value;
  if (argc < 3 || !get_string(env, argv[1], what, sizeof what) || !get_i32(env, argv[2], &value))
    return throw_type(env, "tunIoctl(handle, 'persist' | 'owner' | 'group', value)");
  io_handle *io = unwrap_open(env, argv[0]);
  if (!io) return NULL;
  unsigned long req;
  if (strcmp(what, "persist") == 0) req = TUNSETPERSIST;
  else if (strcmp(what, "owner") == 0) req = TUNSETOWNER;
  else if (strcmp(what, "group") == 0) req = TUNSETGROUP;
  else return throw_type(env, "unknown TUN ioctl");
  if (ioctl(io->fd, req, (unsigned long)(long)value) < 0) {
    char msg[48];
    snprintf(msg, sizeof msg, "TUNSET%s", what);
    return throw_errno(env, msg, errno);
  }
  return make_undefined(env);
}

// linkConfigure(name, up: boolean, mtu: number) — mtu 0 leaves it unchanged.
static napi_value link_configure(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
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

// ---------------------------------------------------------------------------------------------
// exported: UDP

// udpOpen(address16: Uint8Array, family: 4 | 6, port, device: string, rcvbuf, sndbuf,
//         recvErr: boolean, scopeId: number) -> { handle, port }
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *addr;
  size_t alen;
  int32_t fam, port, rcvbuf, sndbuf, scope;
  int recverr;
  char dev[IFNAMSIZ + 1] = {0};
  if (argc < 8 || !get_typed(env, argv[0], 1, (void **)&addr, &alen) || alen != 16 ||
      !get_i32(env, argv[1], &fam) || !get_i32(env, argv[2], &port) ||
      !get_string(env, argv[3], dev, sizeof dev) || !get_i32(env, argv[4], &rcvbuf) ||
      !get_i32(env, argv[5], &sndbuf) || !get_bool(env, argv[6], &recverr) ||
      !get_i32(env, argv[7], &scope))
    return throw_type(env, "udpOpen(address16, family, port, device, rcvbuf, sndbuf, recvErr, scopeId)");
  int family = fam == 6 ? AF_INET6 : AF_INET;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1;
  const char *failed = NULL;
  if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
    failed = "IPV6_V6ONLY";
  if (!failed && dev[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, strlen(dev)) < 0)
    failed = "SO_BINDTODEVICE";
  if (!failed && recverr) {
    int rc = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one)
                                : setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
    if (rc < 0) failed = "IP_RECVERR";
  }
  // Big socket buffers absorb bursts; the FORCE variants work only with CAP_NET_ADMIN.
  if (!failed && rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (!failed && sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (!failed) {
    struct sockaddr_storage ss;
    socklen_t sl = sockaddr_from16(family, addr, (uint16_t)port, &ss);
    if (family == AF_INET6) ((struct sockaddr_in6 *)&ss)->sin6_scope_id = (uint32_t)scope;
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) failed = "bind";
  }
  if (failed) {
    int err = errno;
    close(fd);
    return throw_errno(env, failed, err);
  }
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  getsockname(fd, (struct sockaddr *)&bound, &bl);
  uint8_t tmp[16];
  uint16_t bport = 0;
  sockaddr_to16(&bound, tmp, &bport);
  napi_value out, h;
  h = wrap_handle(env, fd, KIND_UDP, family);
  if (!h) return NULL;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", h);
  napi_set_named_property(env, out, "port", make_i32(env, bport));
  return out;
}

// A udpSend batch as udp_batch.h sees it.
typedef struct {
  uint8_t *buf;
  const uint32_t *offs, *lens;
  const uint8_t *addrs;
  const uint16_t *ports;
  int family;
  struct sockaddr_storage names[UDP_MSGS_MAX];
  udp_msgs msgs;
  uint32_t sent;
} send_batch;

static size_t batch_len(const void *ctx, uint32_t k) { return ((const send_batch *)ctx)->lens[k]; }

static void *batch_data(const void *ctx, uint32_t k) {
  const send_batch *b = ctx;
  return b->buf + b->offs[k];
}

static int batch_same_dest(const void *ctx, uint32_t a, uint32_t b) {
  const send_batch *s = ctx;
  return s->ports[a] == s->ports[b] && memcmp(s->addrs + (size_t)a * 16, s->addrs + (size_t)b * 16, 16) == 0;
}

static void batch_address(const void *ctx, uint32_t k, uint32_t msg, struct msghdr *m) {
  send_batch *b = (send_batch *)ctx;
  m->msg_name = &b->names[msg];
  m->msg_namelen = sockaddr_from16(b->family, b->addrs + (size_t)k * 16, b->ports[k], &b->names[msg]);
}

static const udp_packets batch_packets = {batch_len, batch_data, batch_same_dest, batch_address};

static void batch_sent(void *ctx, uint32_t msg) {
  send_batch *b = ctx;
  b->sent += b->msgs.npk[msg];
}
// JS sees failures as `sent` short of the count, with lastErrno.
static void batch_failed(void *ctx, uint32_t msg, int err) {}

static const udp_send_report batch_report = {batch_sent, batch_failed};

// udpSend(handle, buf, offsets: Uint32Array, lengths: Uint32Array, addrs16: Uint8Array,
//         ports: Uint16Array, count, gso: boolean, waitMs) -> { sent, lastErrno, gso }
static napi_value udp_send(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *buf, *addrs;
  uint32_t *offs, *lens;
  uint16_t *ports;
  size_t blen, on, ln, an, pn;
  uint32_t count;
  int want_gso;
  int32_t wait_ms;
  if (argc < 9 || !get_typed(env, argv[1], 1, (void **)&buf, &blen) ||
      !get_typed(env, argv[2], 4, (void **)&offs, &on) ||
      !get_typed(env, argv[3], 4, (void **)&lens, &ln) ||
      !get_typed(env, argv[4], 1, (void **)&addrs, &an) ||
      !get_typed(env, argv[5], 2, (void **)&ports, &pn) || !get_u32(env, argv[6], &count) ||
      !get_bool(env, argv[7], &want_gso) || !get_i32(env, argv[8], &wait_ms))
    return throw_type(env, "udpSend(handle, buf, offsets, lengths, addrs16, ports, count, gso, waitMs)");
  io_handle *io = unwrap_open(env, argv[0]);
  if (!io) return NULL;
  if (io->kind != KIND_UDP) return throw_type(env, "not a UDP handle");
  if (count > on || count > ln || count > pn || (size_t)count * 16 > an)
    return throw_type(env, "count exceeds the batch arrays");
  for (uint32_t i = 0; i < count; i++)
    if ((size_t)offs[i] + lens[i] > blen) return throw_type(env, "packet outside the buffer");

  int gso = want_gso && io->gso_ok;
  int last_err = 0;
  send_batch batch = {.buf = buf, .offs = offs, .lens = lens, .addrs = addrs, .ports = ports, .family = io->family};
  static __thread struct iovec iovs[UDP_MSGS_MAX * UDP_GSO_SEGMENTS_MAX];
  uint32_t i = 0;
  while (i < count) {
    uint32_t next = udp_msgs_build(&batch.msgs, iovs, i, count, gso, &batch_packets, &batch);
    uint32_t at;
    udp_send_end end = udp_msgs_send(io->fd, &batch.msgs, wait_ms, &at, &last_err, &batch_report, &batch);
    if (end == UDP_SEND_FULL) break;  // still full: the rest is dropped, as a congested link would
    if (end == UDP_SEND_NO_GSO) {
      io->gso_ok = 0;
      gso = 0;
      next = batch.msgs.first[at];
    }
    i = next;
  }
  uint32_t sent = batch.sent;
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "sent", make_i32(env, (int32_t)sent));
  napi_set_named_property(env, out, "lastErrno", make_i32(env, last_err));
  napi_set_named_property(env, out, "gso", make_i32(env, io->gso_ok));
  return out;
}

// ---------------------------------------------------------------------------------------------
// exported: common

// writeBatch(handle, buf, offsets: Uint32Array, lengths: Uint32Array, count) -> { written, lastErrno }
// TUN has no batched write syscall, but one crossing for the whole batch is what matters.
static napi_value write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *buf;
  uint32_t *offs, *lens;
  size_t blen, on, ln;
  uint32_t count;
  if (argc < 5 || !get_typed(env, argv[1], 1, (void **)&buf, &blen) ||
      !get_typed(env, argv[2], 4, (void **)&offs, &on) ||
      !get_typed(env, argv[3], 4, (void **)&lens, &ln) || !get_u32(env, argv[4], &count))
    return throw_type(env, "writeBatch(handle, buf, offsets, lengths, count)");
  io_handle *io = unwrap_open(env, argv[0]);
  if (!io) return NULL;
  if (count > on || count > ln) return throw_type(env, "count exceeds the batch arrays");
  uint32_t written = 0;
  int last_err = 0;
  for (uint32_t i = 0; i < count; i++) {
    if ((size_t)offs[i] + lens[i] > blen) return throw_type(env, "packet outside the buffer");
    ssize_t r;
    do r = write(io->fd, buf + offs[i], lens[i]); while (r < 0 && errno == EINTR);
    if (r < 0) {
      last_err = errno;  // a malformed packet is refused alone; keep going
      continue;
    }
    written++;
  }
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "written", make_i32(env, (int32_t)written));
  napi_set_named_property(env, out, "lastErrno", make_i32(env, last_err));
  return out;
}

// startReading(handle, buf, lengths: Uint32Array, slotSize, onBatch, onError,
//              addrs16?: Uint8Array, ports?: Uint16Array)
static napi_value start_reading(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint8_t *buf;
  uint32_t *lens;
  size_t blen, ln;
  uint32_t slot_size;
  if (argc < 6 || !get_typed(env, argv[1], 1, (void **)&buf, &blen) ||
      !get_typed(env, argv[2], 4, (void **)&lens, &ln) || !get_u32(env, argv[3], &slot_size))
    return throw_type(env, "startReading(handle, buf, lengths, slotSize, onBatch, onError, addrs?, ports?)");
  io_handle *io = unwrap_open(env, argv[0]);
  if (!io) return NULL;
  if (io->poll) return throw_type(env, "already reading");
  if (slot_size == 0 || ln == 0 || ln > MAX_SLOTS || (size_t)slot_size * ln > blen)
    return throw_type(env, "buffer must hold lengths.length slots of slotSize bytes");
  uint8_t *addrs = NULL;
  uint16_t *ports = NULL;
  if (io->kind == KIND_UDP) {
    size_t an, pn;
    if (argc < 8 || !get_typed(env, argv[6], 1, (void **)&addrs, &an) ||
        !get_typed(env, argv[7], 2, (void **)&ports, &pn) || an < ln * 16 || pn < ln)
      return throw_type(env, "UDP reading needs addrs (16 bytes per slot) and ports arrays");
  }
  release_refs(io);
  napi_create_reference(env, argv[0], 1, &io->self_ref);
  napi_create_reference(env, argv[1], 1, &io->buf_ref);
  napi_create_reference(env, argv[2], 1, &io->len_ref);
  napi_create_reference(env, argv[4], 1, &io->on_batch);
  napi_valuetype t;
  napi_typeof(env, argv[5], &t);
  if (t == napi_function) napi_create_reference(env, argv[5], 1, &io->on_error);
  if (addrs) {
    napi_create_reference(env, argv[6], 1, &io->addr_ref);
    napi_create_reference(env, argv[7], 1, &io->port_ref);
  }
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_string_utf8(env, io->kind == KIND_TUN ? "hipvpn.tun" : "hipvpn.udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &io->async_ctx);
  io->buf = buf;
  io->lens = lens;
  io->addrs = addrs;
  io->ports = ports;
  io->slots = (uint32_t)ln;
  io->slot_size = slot_size;

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, "no event loop", EINVAL);
  io->poll = malloc(sizeof *io->poll);
  if (!io->poll) return throw_errno(env, "out of memory", ENOMEM);
  int rc = uv_poll_init(loop, io->poll, io->fd);
  if (rc == 0) {
    io->poll->data = io;
    rc = arm_poll(io);
    if (!io->referenced) uv_unref((uv_handle_t *)io->poll);
    if (rc != 0) stop_poll(io);
  } else {
    free(io->poll);
    io->poll = NULL;
  }
  if (rc != 0) return throw_errno(env, "uv_poll_start", -rc);
  return make_undefined(env);
}

static napi_value stop_reading(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  io_handle *io = unwrap(env, argv[0]);
  if (!io) return NULL;
  stop_poll(io);
  if (!io->closed) release_refs(io);
  return make_undefined(env);
}

// setRef(handle, referenced): an unreferenced reader does not keep the process alive.
static napi_value set_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int on;
  if (argc < 2 || !get_bool(env, argv[1], &on)) return throw_type(env, "setRef(handle, boolean)");
  io_handle *io = unwrap(env, argv[0]);
  if (!io) return NULL;
  io->referenced = on;
  if (io->poll) {
    if (on) uv_ref((uv_handle_t *)io->poll);
    else uv_unref((uv_handle_t *)io->poll);
  }
  return make_undefined(env);
}

static napi_value close_handle(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  io_handle *io = unwrap(env, argv[0]);
  if (!io) return NULL;
  if (io->hook_added) {
    napi_remove_env_cleanup_hook(env, env_cleanup, io);
    io->hook_added = 0;
  }
  shutdown_handle(io, 0);
  return make_undefined(env);
}

// fdOf(handle) -> number (-1 once closed): for handing a TUN fd to a worker or to fs.
static napi_value fd_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  io_handle *io = unwrap(env, argv[0]);
  if (!io) return NULL;
  return make_i32(env, io->fd);
}

// detachFd(handle) -> number: gives up ownership (no close) so another owner can adopt it.
static napi_value detach_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  io_handle *io = unwrap_open(env, argv[0]);
  if (!io) return NULL;
  int fd = io->fd;
  stop_poll(io);
  io->fd = -1;
  if (io->hook_added) {
    napi_remove_env_cleanup_hook(env, env_cleanup, io);
    io->hook_added = 0;
  }
  shutdown_handle(io, 0);
  return make_i32(env, fd);
}

// setBlocking(fd, blocking): only for the benchmark's plain-fs comparison path.
static napi_value set_blocking(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  int blocking;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_bool(env, argv[1], &blocking))
    return throw_type(env, "setBlocking(fd, boolean)");
  if (set_nonblock(fd, !blocking) < 0) return throw_errno(env, "fcntl", errno);
  return make_undefined(env);
}

// inetNtop(address16) -> string (IPv4-mapped prints as dotted quad)
static napi_value inet_ntop16(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
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
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
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
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1] = {0};
  if (argc < 1 || !get_string(env, argv[0], name, sizeof name)) return throw_type(env, "ifIndex(name)");
  return make_i32(env, (int32_t)if_nametoindex(name));
}

NAPI_MODULE_INIT() {
  struct { const char *name; napi_callback cb; } fns[] = {
      {"tunOpen", tun_open},           {"tunIoctl", tun_ioctl},
      {"linkConfigure", link_configure}, {"adoptFd", adopt_fd},
      {"udpOpen", udp_open},           {"udpSend", udp_send},
      {"writeBatch", write_batch},     {"startReading", start_reading},
      {"stopReading", stop_reading},   {"setRef", set_ref},
      {"close", close_handle},         {"fdOf", fd_of},
      {"detachFd", detach_fd},         {"setBlocking", set_blocking},
      {"inetNtop", inet_ntop16},       {"inetPton", inet_pton16},
      {"ifIndex", if_index},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  fastpath_register(env, exports);
  napi_value abi;
  napi_create_int32(env, HIPVPN_ABI_VERSION, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  return exports;
}
