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
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#include "addon_common.h"
#include "io_handle.h"
#include "udp_batch.h"

#define MAX_SLOTS 1024
// A full batch hints that more is queued; keep draining for a few batches before yielding
// to the loop so one busy fd cannot starve the others.
#define MAX_BATCHES_PER_WAKEUP 8

static int set_nonblock(int fd, int on) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -1;
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  return fcntl(fd, F_SETFL, flags);
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

napi_value wrap_handle(napi_env env, int fd, int kind, int family) {
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

io_handle *unwrap_open(napi_env env, napi_value v) {
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
  ARGS(2);
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
  ARGS(2);
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
  ARGS(3);
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

// ---------------------------------------------------------------------------------------------
// exported: common

// writeBatch(handle, buf, offsets: Uint32Array, lengths: Uint32Array, count) -> { written, lastErrno }
// TUN has no batched write syscall, but one crossing for the whole batch is what matters.
static napi_value write_batch(napi_env env, napi_callback_info info) {
  ARGS(5);
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
  ARGS(8);
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
  ARGS(1);
  io_handle *io = unwrap(env, argv[0]);
  if (!io) return NULL;
  stop_poll(io);
  if (!io->closed) release_refs(io);
  return make_undefined(env);
}

// setRef(handle, referenced): an unreferenced reader does not keep the process alive.
static napi_value set_ref(napi_env env, napi_callback_info info) {
  ARGS(2);
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
  ARGS(1);
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
  ARGS(1);
  io_handle *io = unwrap(env, argv[0]);
  if (!io) return NULL;
  return make_i32(env, io->fd);
}

// detachFd(handle) -> number: gives up ownership (no close) so another owner can adopt it.
static napi_value detach_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
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
  ARGS(2);
  int32_t fd;
  int blocking;
  if (argc < 2 || !get_i32(env, argv[0], &fd) || !get_bool(env, argv[1], &blocking))
    return throw_type(env, "setBlocking(fd, boolean)");
  if (set_nonblock(fd, !blocking) < 0) return throw_errno(env, "fcntl", errno);
  return make_undefined(env);
}

NAPI_MODULE_INIT() {
  static const addon_fn fns[] = {
      {"tunOpen", tun_open},           {"tunIoctl", tun_ioctl},
      {"adoptFd", adopt_fd},
      {"writeBatch", write_batch},     {"startReading", start_reading},
      {"stopReading", stop_reading},   {"setRef", set_ref},
      {"close", close_handle},         {"fdOf", fd_of},
      {"detachFd", detach_fd},         {"setBlocking", set_blocking},
  };
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
  common_register(env, exports);
  udp_register(env, exports);
  fastpath_register(env, exports);
  napi_value abi;
  napi_create_int32(env, HIPVPN_ABI_VERSION, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  return exports;
}
