// The fast path's two packet threads and their batched I/O (see fastpath.c for the design):
//   TX: TUN read batch -> tx_one (route, encapsulate, seal) -> sendmmsg with UDP GSO
//   RX: recvmmsg with UDP GRO -> rx_one (SPI, replay, open, rebuild) -> TUN writes

#include "fastpath.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "addon_common.h"
#include "udp_batch.h"

/** A full socket buffer holds the TX thread back this long before the rest of a batch is dropped. */
#define SEND_WAIT_MS 100
/** Batches one wake-up may drain before the thread looks at the stop flag again. */
#define ROUNDS_PER_WAKEUP 16
/**
 * Nice increment of the packet threads: under full load they yield a little to the control
 * plane and to short interactive commands (hipvpn status), which must stay responsive.
 */
#define PACKET_THREAD_NICE 2


// ---------------------------------------------------------------------------------------------
// sending

/**
 * Local errors saying the socket's interface or route is gone (not a full buffer, not a bad
 * packet): another pair may still carry the datagram.
 */
static int path_gone(int err) {
  return err == ENETDOWN || err == ENETUNREACH || err == EHOSTUNREACH || err == ENODEV || err == EADDRNOTAVAIL;
}

/** Queues one sealed datagram for JS with its destination (`flags`: FP_STRANDED_HELD or 0); 0 when full. */
static int push_stranded(fastpath *fp, const tx_item *it, int flags) {
  uint8_t addr16[16];
  uint16_t port;
  sockaddr_to16(it->dest, addr16, &port);
  return ring_push(&fp->stranded, it->data, it->len, addr16, port, it->sock | flags);
}

/**
 * Keeps the datagrams of one failed message for JS to re-send once the peer moves. Those of a
 * held peer are queued after the send anyway (hold_copies), so not twice.
 */
static void strand(fastpath *fp, const tx_item *items, uint32_t n) {
  uint32_t kept = 0;
  for (uint32_t k = 0; k < n; k++) {
    if (items[k].held) continue;
    if (push_stranded(fp, &items[k], 0)) kept++;
    else drop(fp, DROP_SEND_FAILED);
  }
  if (kept) notify_js(fp);
}

/**
 * Copies of what was just sent to peers whose path is in doubt: JS re-sends them on the pair
 * the peer moves to (the receiver's anti-replay window drops any it already got). Only peers
 * the control plane holds pay for this; the common case is one flag test per datagram.
 */
static void hold_copies(fastpath *fp, const tx_item *items, uint32_t n) {
  uint32_t kept = 0, lost = 0;
  for (uint32_t k = 0; k < n; k++) {
    if (__builtin_expect(!items[k].held, 1)) continue;
    if (push_stranded(fp, &items[k], FP_STRANDED_HELD)) kept++;
    else lost++;
  }
  if (kept) {
    count(&fp->held_copies, kept);
    notify_js(fp);
  }
  if (lost) count(&fp->held_lost, lost);
}

static size_t item_len(const void *ctx, uint32_t k) { return ((const tx_item *)ctx)[k].len; }
static void *item_data(const void *ctx, uint32_t k) { return ((const tx_item *)ctx)[k].data; }

static int item_same_dest(const void *ctx, uint32_t a, uint32_t b) {
  const tx_item *x = &((const tx_item *)ctx)[a], *y = &((const tx_item *)ctx)[b];
  return x->sock == y->sock && x->dest_len == y->dest_len && memcmp(x->dest, y->dest, x->dest_len) == 0;
}

static void item_address(const void *ctx, uint32_t k, uint32_t msg, struct msghdr *m) {
  const tx_item *it = &((const tx_item *)ctx)[k];
  m->msg_name = it->dest;
  m->msg_namelen = it->dest_len;
}

static const udp_packets tx_packets = {item_len, item_data, item_same_dest, item_address};

/** One socket's send as udp_msgs_send reports it. */
typedef struct {
  fastpath *fp;
  tx_item *items;
  udp_msgs msgs;
  int copies;
} tx_send;

static void tx_sent(void *ctx, uint32_t msg) {
  tx_send *t = ctx;
  count(t->copies ? &t->fp->spare_copies : &t->fp->udp_out, t->msgs.npk[msg]);
}

/**
 * Spare copies are extras: a failed one is counted apart and never stranded, as the datagram
 * itself went (or failed) on the peer's path.
 */
static void tx_failed(void *ctx, uint32_t msg, int err) {
  tx_send *t = ctx;
  uint32_t n = t->msgs.npk[msg];
  if (t->copies) count(&t->fp->spare_failed, n);
  else if (path_gone(err)) strand(t->fp, &t->items[t->msgs.first[msg]], n);
  else count(&t->fp->drops[DROP_SEND_FAILED], n);
}

static const udp_send_report tx_report = {tx_sent, tx_failed};

/** Sends items[0, n), all on one socket; GSO for runs of equal-size packets to one peer. */
static void send_items(fastpath *fp, tx_item *items, uint32_t n, int copies) {
  fp_socket *s = &fp->socks[items[0].sock];
  struct iovec iovs[FP_BATCH];
  tx_send t = {.fp = fp, .items = items, .copies = copies};
  uint32_t i = 0;
  while (i < n) {
    uint32_t next = udp_msgs_build(&t.msgs, iovs, i, n, s->gso_ok, &tx_packets, items);
    uint32_t at;
    int last_err = 0;
    udp_send_end end = udp_msgs_send(s->fd, &t.msgs, SEND_WAIT_MS, &at, &last_err, &tx_report, &t);
    if (end == UDP_SEND_FULL) {
      for (uint32_t k = at; k < t.msgs.nmsg; k++)
        count(copies ? &fp->spare_failed : &fp->drops[DROP_SEND_FULL], t.msgs.npk[k]);
      return;
    }
    if (end == UDP_SEND_NO_GSO) {
      s->gso_ok = 0;  // the route's device cannot segment
      next = t.msgs.first[at];
    }
    i = next;
  }
}

// ---------------------------------------------------------------------------------------------
// threads

typedef struct {
  uint8_t *slots;
  uint32_t lens[FP_BATCH];
  tx_item items[FP_BATCH];
  struct sockaddr_storage dests[FP_BATCH];
  // Copies for peers' spares: sent after the batch's own datagrams, so those keep their GSO runs.
  tx_item copies[FP_BATCH];
  struct sockaddr_storage copy_dests[FP_BATCH];
} tx_state;

/** Sends items[0, n) in runs per socket, in order (one socket in the common case). */
static void send_runs(fastpath *fp, tx_item *items, uint32_t n, int copies) {
  uint32_t i = 0;
  while (i < n) {
    uint32_t j = i + 1;
    while (j < n && items[j].sock == items[i].sock) j++;
    send_items(fp, items + i, j - i, copies);
    i = j;
  }
}

static void tx_batch(fastpath *fp, tx_state *st, uint32_t n) {
  int64_t now = now_ms();
  uint32_t nsend = 0, ncopy = 0, punted = 0;
  count(&fp->tun_in, n);
  // Held until the batch is sent: a socket removal waits for it before the fd may be closed.
  pthread_mutex_lock(&fp->tx_io_lock);
  pthread_mutex_lock(&fp->out_lock);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *p = st->slots + (size_t)i * fp->slot_size + FP_HEADROOM;
    fp_drop why = DROP_COUNT;
    tx_item *item = &st->items[nsend];
    item->dest = &st->dests[nsend];
    tx_item *copy = &st->copies[ncopy];
    copy->dest = &st->copy_dests[ncopy];
    int copied = 0;
    switch (tx_one(fp, p, st->lens[i], now, item, copy, &copied, &why)) {
      case TX_SEND:
        nsend++;
        ncopy += (uint32_t)copied;
        break;
      case TX_DROP: drop(fp, why); break;
      case TX_PUNT:
        if (ring_push(&fp->tun_punts, p, st->lens[i], NULL, 0, 0)) punted++;
        else drop(fp, DROP_PUNT_FULL);
        break;
    }
  }
  pthread_mutex_unlock(&fp->out_lock);
  if (punted) notify_js(fp);
  send_runs(fp, st->items, nsend, 0);
  if (ncopy) send_runs(fp, st->copies, ncopy, 1);
  hold_copies(fp, st->items, nsend);
  pthread_mutex_unlock(&fp->tx_io_lock);
}

static void report_tun_error(fastpath *fp, int err) {
  fp_event e = {.type = EV_TUN_ERROR, .err = err, .sock = -1};
  post_event(fp, &e);
}

static void lower_priority(void) {
  pid_t tid = (pid_t)syscall(SYS_gettid);
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, (id_t)tid);
  if (errno == 0) setpriority(PRIO_PROCESS, (id_t)tid, nice + PACKET_THREAD_NICE);
}

static void *tx_main(void *arg) {
  fastpath *fp = arg;
  lower_priority();
  // Named so that per-thread tools (top -H, /proc/<pid>/task/*/comm, bench:fastpath-flows) find it.
  pthread_setname_np(pthread_self(), "hipvpn-fp-tx");
  tx_state *st = calloc(1, sizeof *st);
  if (st) st->slots = malloc((size_t)FP_BATCH * fp->slot_size);
  if (!st || !st->slots) {
    report_tun_error(fp, ENOMEM);
    if (st) free(st);
    return NULL;
  }
  size_t room = fp->slot_size - FP_HEADROOM - ESP_GCM_TAILROOM;
  struct pollfd pfd[2] = {{fp->tun_fd, POLLIN, 0}, {fp->wake_fd, POLLIN, 0}};
  while (!__atomic_load_n(&fp->stop_flag, __ATOMIC_ACQUIRE)) {
    int r = poll(pfd, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      report_tun_error(fp, errno);
      break;
    }
    if (pfd[1].revents) break;
    int fatal = 0;
    for (int round = 0; round < ROUNDS_PER_WAKEUP && !fatal; round++) {
      uint32_t n = 0;
      while (n < FP_BATCH) {
        ssize_t got = read(fp->tun_fd, st->slots + (size_t)n * fp->slot_size + FP_HEADROOM, room);
        if (got < 0) {
          if (errno == EINTR) continue;
          // A deleted device reads EBADFD forever: say so and stop, as the JS reader does.
          if (errno != EAGAIN && errno != EWOULDBLOCK) fatal = errno;
          break;
        }
        if (got == 0) break;
        st->lens[n++] = (uint32_t)got;
      }
      if (n > 0) tx_batch(fp, st, n);
      if (n < FP_BATCH) break;
    }
    if (fatal) {
      report_tun_error(fp, fatal);
      break;
    }
  }
  free(st->slots);
  free(st);
  return NULL;
}

/**
 * Receive slots are big enough for a whole UDP GRO super-datagram (the kernel hands a burst of
 * same-size datagrams from one peer over as one buffer plus their size), so a GSO burst from
 * the peer costs one skb and one copy here instead of one per packet.
 */
#define RX_SLOTS 32
#define RX_SLOT_SIZE (65536 + FP_HEADROOM)
/** Datagrams one receive batch may carry: every slot full of minimum-size GRO segments. */
#define RX_MAX_OUT (RX_SLOTS * 64)

typedef struct {
  uint8_t *slots;
  struct mmsghdr msgs[RX_SLOTS];
  struct iovec iovs[RX_SLOTS];
  struct sockaddr_storage names[RX_SLOTS];
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } ctrl[RX_SLOTS];
  // Inner packets for the TUN: a rebuilt IPv6 header (BEET) apart from the payload, because
  // in a GRO buffer the octets before a datagram belong to the one before it.
  struct iovec out[RX_MAX_OUT][2];
  int out_parts[RX_MAX_OUT];
  uint8_t headers[RX_MAX_OUT][IPV6_HEADER_LEN];
} rx_state;

/** The GRO segment size of a received message, or 0 when it is a single datagram. */
static size_t gro_size(struct msghdr *m) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      return v > 0 ? (size_t)v : 0;
    }
  }
  return 0;
}

/** Writes the inner packets gathered so far to the TUN. */
static void rx_flush_tun(fastpath *fp, rx_state *st, uint32_t *nout) {
  // TUN has no batched write; the per-packet syscall is what remains of the cost here.
  for (uint32_t k = 0; k < *nout; k++) {
    ssize_t r;
    do r = writev(fp->tun_fd, st->out[k], st->out_parts[k]); while (r < 0 && errno == EINTR);
    if (r < 0) drop(fp, DROP_TUN_WRITE_FAILED);
    else count(&fp->tun_out, 1);
  }
  *nout = 0;
}

/** One datagram of a received message; in_lock held. Returns 1 when JS must be woken. */
static int rx_datagram(fastpath *fp, rx_state *st, int sock, uint32_t msg, uint8_t *d, size_t len, int64_t now,
                       uint32_t *nout) {
  // Only tiny GRO segments could fill the table; the table must never overflow.
  if (*nout == RX_MAX_OUT) rx_flush_tun(fp, st, nout);
  uint32_t k = *nout;
  uint8_t *body = NULL;
  size_t hdr_len = 0, body_len = 0;
  fp_drop why = DROP_COUNT;
  switch (rx_one(fp, d, len, now, st->headers[k], &hdr_len, &body, &body_len, &why, &st->names[msg], sock)) {
    case RX_TUN: {
      int parts = 0;
      if (hdr_len) st->out[k][parts++] = (struct iovec){st->headers[k], hdr_len};
      st->out[k][parts++] = (struct iovec){body, body_len};
      st->out_parts[k] = parts;
      (*nout)++;
      return 0;
    }
    case RX_NONE: return 0;
    case RX_DROP: drop(fp, why); return 0;
    case RX_PUNT: {
      if (len > fp->udp_punts.slot) {
        drop(fp, DROP_UDP_TRUNCATED);  // what JS would have received cut short, as without us
        return 0;
      }
      uint8_t addr16[16];
      uint16_t port;
      sockaddr_to16(&st->names[msg], addr16, &port);
      if (ring_push(&fp->udp_punts, d, len, addr16, port, sock)) return 1;
      drop(fp, DROP_PUNT_FULL);
      return 0;
    }
  }
  return 0;
}

static void rx_batch(fastpath *fp, rx_state *st, int sock, uint32_t n) {
  int64_t now = now_ms();
  uint32_t nout = 0;
  int punted = 0;
  pthread_mutex_lock(&fp->in_lock);
  for (uint32_t i = 0; i < n; i++) {
    struct msghdr *m = &st->msgs[i].msg_hdr;
    uint8_t *d = st->slots + (size_t)i * RX_SLOT_SIZE + FP_HEADROOM;
    size_t len = st->msgs[i].msg_len;
    if (m->msg_flags & MSG_TRUNC) {
      count(&fp->udp_in, 1);
      drop(fp, DROP_UDP_TRUNCATED);
      continue;
    }
    size_t seg = gro_size(m);
    if (seg == 0 || seg >= len) seg = len;
    // A GRO buffer: datagrams of `seg` octets back to back (the last may be shorter).
    for (size_t at = 0; at < len; at += seg) {
      size_t l = len - at < seg ? len - at : seg;
      count(&fp->udp_in, 1);
      punted |= rx_datagram(fp, st, sock, i, d + at, l, now, &nout);
    }
  }
  pthread_mutex_unlock(&fp->in_lock);
  if (punted) notify_js(fp);
  rx_flush_tun(fp, st, &nout);
}

typedef struct {
  fastpath *fp;
  int sock;
} rx_errors;

static void post_queued_error(void *ctx, const struct sockaddr_storage *dest, const struct sock_extended_err *ee) {
  const rx_errors *r = ctx;
  if (!ee) return;
  fp_event e = {.type = EV_SOCKET_ERROR, .err = (int)ee->ee_errno, .sock = r->sock, .origin = ee->ee_origin,
                .icmp_type = ee->ee_type, .icmp_code = ee->ee_code};
  if (dest->ss_family == AF_INET || dest->ss_family == AF_INET6) {
    sockaddr_to16(dest, e.addr16, &e.port);
    e.has_addr = 1;
  }
  post_event(r->fp, &e);
}

/**
 * ICMP errors queued by IP_RECVERR: hints about a path for JS, never fatal. Each names the
 * destination of the datagram it is about (msg_name), which is what JS matches to a pair; the
 * router that sent it (SO_EE_OFFENDER) says nothing JS can use.
 */
static void rx_drain_errors(fastpath *fp, int sock, int fd) {
  rx_errors r = {fp, sock};
  udp_drain_errqueue(fd, 64, post_queued_error, NULL, &r);  // also clears a pending SO_ERROR
}

/** The RX thread's poll set: the live sockets (index and fd), then the stop and table-change eventfds. */
typedef struct {
  struct pollfd pfd[FP_MAX_SOCKETS + 2];
  int index[FP_MAX_SOCKETS];
  int n;
  uint64_t gen;
} rx_poll_set;

/** Rebuilds the poll set from the socket table and tells a waiting removal it is done. */
static void rx_rebuild(fastpath *fp, rx_poll_set *ps) {
  pthread_mutex_lock(&fp->in_lock);
  ps->n = 0;
  for (int s = 0; s < fp->nsocks; s++) {
    if (!fp->socks[s].live) continue;
    ps->pfd[ps->n] = (struct pollfd){fp->socks[s].fd, POLLIN, 0};
    ps->index[ps->n++] = s;
  }
  ps->gen = fp->sock_gen;
  pthread_mutex_unlock(&fp->in_lock);
  ps->pfd[ps->n] = (struct pollfd){fp->wake_fd, POLLIN, 0};
  ps->pfd[ps->n + 1] = (struct pollfd){fp->rx_wake_fd, POLLIN, 0};
  pthread_mutex_lock(&fp->sock_mu);
  fp->rx_gen_ack = ps->gen;
  pthread_cond_broadcast(&fp->sock_cond);
  pthread_mutex_unlock(&fp->sock_mu);
}

/** Receives what one socket holds, a bounded number of rounds. */
static void rx_socket(fastpath *fp, rx_state *st, int sock, int fd) {
  for (int round = 0; round < ROUNDS_PER_WAKEUP; round++) {
    for (uint32_t i = 0; i < RX_SLOTS; i++) {
      st->iovs[i].iov_base = st->slots + (size_t)i * RX_SLOT_SIZE + FP_HEADROOM;
      st->iovs[i].iov_len = RX_SLOT_SIZE - FP_HEADROOM;
      struct msghdr *m = &st->msgs[i].msg_hdr;
      memset(m, 0, sizeof *m);
      m->msg_iov = &st->iovs[i];
      m->msg_iovlen = 1;
      m->msg_name = &st->names[i];
      m->msg_namelen = sizeof st->names[i];
      m->msg_control = st->ctrl[i].buf;
      m->msg_controllen = sizeof st->ctrl[i].buf;
    }
    int got = recvmmsg(fd, st->msgs, RX_SLOTS, MSG_DONTWAIT, NULL);
    if (got < 0) {
      if (errno == EINTR) continue;
      // A pending ICMP error surfaces here too (IP_RECVERR); drain it and carry on.
      if (errno != EAGAIN && errno != EWOULDBLOCK) rx_drain_errors(fp, sock, fd);
      break;
    }
    if (got > 0) rx_batch(fp, st, sock, (uint32_t)got);
    if (got < RX_SLOTS) break;
  }
}

static void rx_exit(fastpath *fp) {
  pthread_mutex_lock(&fp->sock_mu);
  fp->rx_exited = 1;
  pthread_cond_broadcast(&fp->sock_cond);
  pthread_mutex_unlock(&fp->sock_mu);
}

static void *rx_main(void *arg) {
  fastpath *fp = arg;
  lower_priority();
  pthread_setname_np(pthread_self(), "hipvpn-fp-rx");
  rx_state *st = calloc(1, sizeof *st);
  if (st) st->slots = malloc((size_t)RX_SLOTS * RX_SLOT_SIZE);
  rx_poll_set *ps = calloc(1, sizeof *ps);
  if (!st || !st->slots || !ps) {
    report_tun_error(fp, ENOMEM);
    if (st) free(st->slots);
    free(st);
    free(ps);
    rx_exit(fp);
    return NULL;
  }
  rx_rebuild(fp, ps);
  while (!__atomic_load_n(&fp->stop_flag, __ATOMIC_ACQUIRE)) {
    // Only here, between polls, does the set of fds this thread uses change.
    if (__atomic_load_n(&fp->sock_gen, __ATOMIC_ACQUIRE) != ps->gen) rx_rebuild(fp, ps);
    int r = poll(ps->pfd, (nfds_t)ps->n + 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (ps->pfd[ps->n].revents) break;
    if (ps->pfd[ps->n + 1].revents) {
      uint64_t v;
      ssize_t rd = read(fp->rx_wake_fd, &v, sizeof v);
      (void)rd;
    }
    for (int k = 0; k < ps->n; k++) {
      short ev = ps->pfd[k].revents;
      if (!ev) continue;
      if (ev & POLLERR) rx_drain_errors(fp, ps->index[k], ps->pfd[k].fd);
      if (ev & POLLIN) rx_socket(fp, st, ps->index[k], ps->pfd[k].fd);
    }
  }
  free(st->slots);
  free(st);
  free(ps);
  rx_exit(fp);
  return NULL;
}

void stop_threads(fastpath *fp) {
  if (!fp->threads_running) return;
  __atomic_store_n(&fp->stop_flag, 1, __ATOMIC_RELEASE);
  uint64_t one = 1;
  ssize_t w = write(fp->wake_fd, &one, sizeof one);
  (void)w;
  pthread_join(fp->tx_thread, NULL);
  pthread_join(fp->rx_thread, NULL);
  fp->threads_running = 0;
}


int start_threads(fastpath *fp) {
  int err = pthread_create(&fp->tx_thread, NULL, tx_main, fp);
  if (err) return err;
  err = pthread_create(&fp->rx_thread, NULL, rx_main, fp);
  if (err) {
    __atomic_store_n(&fp->stop_flag, 1, __ATOMIC_RELEASE);
    uint64_t one = 1;
    ssize_t w = write(fp->wake_fd, &one, sizeof one);
    (void)w;
    pthread_join(fp->tx_thread, NULL);
    return err;
  }
  fp->threads_running = 1;
  return 0;
}
