// Per-flow steering in the fast path (issue 13): a peer's flow routes send the packets of
// chosen flows on their own SA and pair; everything else takes the peer's path. Both packet
// threads classify: TX to steer and count, RX to count the return traffic by the mirrored
// selector. The routes are replaced whole under both locks, so the threads read them under
// the lock each already holds over a batch, and a change lands between batches.

#include "fastpath.h"

#include <netinet/in.h>
#include <stdlib.h>

#include "hipvpn_io.h"

#define PROTO_HOPOPTS 0
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ROUTING 43
#define PROTO_FRAGMENT 44
#define PROTO_AH 51
#define PROTO_DSTOPTS 60
/** A protocol no route names: the key of a packet whose headers could not be walked. */
#define PROTO_UNKNOWN 255
/** Extension headers walked before giving up (a legitimate chain has a handful at most). */
#define MAX_EXT_HEADERS 8

static inline uint16_t be16(const uint8_t *b) { return (uint16_t)((b[0] << 8) | b[1]); }

static void upper_layer(uint8_t proto, const uint8_t *l4, size_t len, fp_flow_key *k) {
  k->protocol = proto;
  if ((proto == PROTO_TCP || proto == PROTO_UDP) && len >= 4) {
    k->has_ports = 1;
    k->src = be16(l4);
    k->dst = be16(l4 + 2);
  }
}

static void ipv4_key(const uint8_t *p, size_t len, fp_flow_key *k) {
  if (len < 20) {
    k->protocol = PROTO_UNKNOWN;
    return;
  }
  size_t ihl = (size_t)(p[0] & 0x0f) * 4;
  size_t total = be16(p + 2);
  if (total < len) len = total;
  if (ihl < 20 || ihl > len) {
    k->protocol = PROTO_UNKNOWN;
    return;
  }
  k->protocol = p[9];
  // A non-first fragment carries no ports: it matches only routes without them.
  if (be16(p + 6) & 0x1fff) return;
  upper_layer(p[9], p + ihl, len - ihl, k);
}

void flow_key_of(uint8_t nh, const uint8_t *p, size_t len, fp_flow_key *k) {
  k->has_ports = 0;
  k->src = k->dst = 0;
  if (nh == IPPROTO_IPIP_) {
    ipv4_key(p, len, k);
    return;
  }
  size_t at = 0;
  for (int i = 0; i < MAX_EXT_HEADERS; i++) {
    size_t hl;
    switch (nh) {
      case PROTO_HOPOPTS:
      case PROTO_ROUTING:
      case PROTO_DSTOPTS:
        if (len - at < 8) goto unknown;
        hl = ((size_t)p[at + 1] + 1) * 8;
        break;
      case PROTO_AH:
        if (len - at < 8) goto unknown;
        hl = ((size_t)p[at + 1] + 2) * 4;
        break;
      case PROTO_FRAGMENT:
        if (len - at < 8) goto unknown;
        if (be16(p + at + 2) & 0xfff8) {
          k->protocol = p[at];  // RFC 6088: the upper-layer protocol, without ports
          return;
        }
        hl = 8;
        break;
      default:
        upper_layer(nh, p + at, len - at, k);
        return;
    }
    if (hl > len - at) goto unknown;
    nh = p[at];
    at += hl;
  }
unknown:
  k->protocol = PROTO_UNKNOWN;
}

static inline int sel_matches(const fp_flow_sel *s, const fp_flow_key *k, uint16_t local, uint16_t remote) {
  if (s->protocol && s->protocol != k->protocol) return 0;
  if (!s->ports) return 1;
  return k->has_ports && local >= s->local_from && local <= s->local_to && remote >= s->remote_from &&
         remote <= s->remote_to;
}

fp_flow *flow_route(fp_peer *peer, const fp_flow_key *k, int outbound, fp_out_sa **sa) {
  // Outbound the packet's source is ours; the peer's return traffic mirrors it.
  uint16_t local = outbound ? k->src : k->dst;
  uint16_t remote = outbound ? k->dst : k->src;
  const fp_flow_sel *sels = peer->flow_sels;
  for (int i = 0, n = peer->nflows; i < n; i++) {
    if (__builtin_expect(!sel_matches(&sels[i], k, local, remote), 1)) continue;
    fp_flow *f = &peer->flows[i];
    // A route that cannot carry packets (SA not installed, no socket) is as if absent.
    if (f->sock < 0) continue;
    fp_out_sa *o = peer_out_by_spi(peer, f->spi);
    if (!o) continue;
    *sa = o;
    return f;
  }
  return NULL;
}

void flow_set_remote(fastpath *fp, fp_flow *f, int sock) {
  f->sock = pick_socket(fp, sock, f->remote16);
  int family = f->sock >= 0 ? fp->socks[f->sock].family : AF_INET6;
  f->remote_len = sockaddr_from16(family, f->remote16, f->port, &f->remote);
}

void flow_clear(fp_peer *peer) {
  free(peer->flow_sels);
  free(peer->flows);
  peer->flow_sels = NULL;
  peer->flows = NULL;
  peer->nflows = 0;
}
