// Batched UDP sending and error-queue draining shared by the addon's two senders: the JS-driven
// handles (hipvpn_io.c) and the fast path's TX thread (fastpath_io.c). Each sender keeps its own
// packet representation and policy for a failed datagram; the syscall handling lives here once.

#ifndef UDP_BATCH_H
#define UDP_BATCH_H

#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <linux/errqueue.h>

#define UDP_MSGS_MAX 64
#define UDP_GSO_SEGMENTS_MAX 64
#define UDP_GSO_BYTES_MAX 65000

/** Up to UDP_MSGS_MAX messages for one sendmmsg; a GSO message carries a run of packets. */
typedef struct {
  struct mmsghdr msgs[UDP_MSGS_MAX];
  union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } ctrl[UDP_MSGS_MAX];
  uint32_t first[UDP_MSGS_MAX];  // index of each message's first packet
  uint32_t npk[UDP_MSGS_MAX];    // packets in each message
  uint32_t nmsg;
} udp_msgs;

/** How a sender's packets look to the batch builder; the callbacks are inlined where constant. */
typedef struct {
  size_t (*len)(const void *ctx, uint32_t pkt);
  void *(*data)(const void *ctx, uint32_t pkt);
  int (*same_dest)(const void *ctx, uint32_t a, uint32_t b);
  /** Points the message at packet `pkt`'s destination (msg_name, msg_namelen); `msg` is its slot. */
  void (*address)(const void *ctx, uint32_t pkt, uint32_t msg, struct msghdr *m);
} udp_packets;

/**
 * Fills `b` with messages for packets [i, n), at most UDP_MSGS_MAX; `iovs` needs room for the
 * packets taken (iovs[k - i] for packet k). With `gso`, equal-size packets to one destination
 * share a message (only the last of a run may be shorter). Returns the first packet not taken.
 */
static inline uint32_t udp_msgs_build(udp_msgs *b, struct iovec *iovs, uint32_t i, uint32_t n, int gso,
                                      const udp_packets *p, const void *ctx) {
  uint32_t j = i;
  b->nmsg = 0;
  while (j < n && b->nmsg < UDP_MSGS_MAX) {
    uint32_t run = 1;
    if (gso) {
      size_t seg = p->len(ctx, j), bytes = seg;
      while (j + run < n && run < UDP_GSO_SEGMENTS_MAX && p->same_dest(ctx, j, j + run) &&
             p->len(ctx, j + run) <= seg && bytes + p->len(ctx, j + run) <= UDP_GSO_BYTES_MAX) {
        bytes += p->len(ctx, j + run);
        run++;
        if (p->len(ctx, j + run - 1) < seg) break;
      }
    }
    uint32_t k = b->nmsg;
    struct msghdr *m = &b->msgs[k].msg_hdr;
    memset(m, 0, sizeof *m);
    for (uint32_t q = 0; q < run; q++) {
      iovs[j + q - i].iov_base = p->data(ctx, j + q);
      iovs[j + q - i].iov_len = p->len(ctx, j + q);
    }
    m->msg_iov = &iovs[j - i];
    m->msg_iovlen = run;
    p->address(ctx, j, k, m);
    if (run > 1) {
      m->msg_control = b->ctrl[k].buf;
      m->msg_controllen = sizeof b->ctrl[k].buf;
      struct cmsghdr *c = CMSG_FIRSTHDR(m);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t segsz = (uint16_t)p->len(ctx, j);
      memcpy(CMSG_DATA(c), &segsz, sizeof segsz);
    }
    b->first[k] = j;
    b->npk[k] = run;
    b->nmsg++;
    j += run;
  }
  return j;
}

typedef enum {
  UDP_SEND_DONE,    // every message was sent or reported failed
  UDP_SEND_FULL,    // the socket stayed full for the wait: messages from *at on were not sent
  UDP_SEND_NO_GSO,  // the route's device cannot segment: resend from message *at without GSO
} udp_send_end;

/** What happened to each message, in order; `failed` only after one retry (a stale ICMP error fails one send). */
typedef struct {
  void (*sent)(void *ctx, uint32_t msg);
  void (*failed)(void *ctx, uint32_t msg, int err);
} udp_send_report;

udp_send_end udp_msgs_send(int fd, udp_msgs *b, int wait_ms, uint32_t *at, int *last_err,
                           const udp_send_report *r, void *ctx);

/** Waits up to `ms` for room in the socket buffer; 0 when there is none (or `ms` <= 0). */
int udp_wait_writable(int fd, int ms);

/**
 * Reads up to `max` entries of the socket's error queue (IP_RECVERR), calling `on_error` with the
 * destination the error is about (family 0 when unknown) and the extended error, or NULL when an
 * entry carried none. `stop`, when given, ends the drain early (a callback may close the socket).
 * Then reads and clears SO_ERROR, returning it (-1 when stopped): a pending error left there
 * would fail the next send.
 */
int udp_drain_errqueue(int fd, int max, void (*on_error)(void *ctx, const struct sockaddr_storage *dest,
                                                         const struct sock_extended_err *ee),
                       int (*stop)(void *ctx), void *ctx);

#endif
