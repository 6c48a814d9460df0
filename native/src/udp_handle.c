// UDP handles: opening a socket with the options the data plane needs, and sending batches.

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addon_common.h"
#include "io_handle.h"
#include "udp_batch.h"

// udpOpen(address16: Uint8Array, family: 4 | 6, port, device: string, rcvbuf, sndbuf,
//         recvErr: boolean, scopeId: number) -> { handle, port }
static napi_value udp_open(napi_env env, napi_callback_info info) {
  ARGS(8);
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
  ARGS(9);
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

void udp_register(napi_env env, napi_value exports) {
  static const addon_fn fns[] = {{"udpOpen", udp_open}, {"udpSend", udp_send}};
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}
