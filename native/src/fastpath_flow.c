// Per-flow steering in the fast path (issue 13): a peer's flow routes send the packets of
// chosen flows on their own SA and pair; everything else takes the peer's path. Both packet
// threads classify: TX to steer and count, RX to count the return traffic by the mirrored
// selector. The routes are replaced whole under both locks, so the threads read them under
// the lock each already holds over a batch, and a change lands between batches.

#include "fastpath.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "addon_common.h"

#define PROTO_HOPOPTS 0
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_DCCP 33
#define PROTO_SCTP 132
#define PROTO_UDPLITE 136
#define PROTO_ROUTING 43
#define PROTO_FRAGMENT 44
#define PROTO_AH 51
#define PROTO_DSTOPTS 60
/** A protocol no route names: the key of a packet whose headers could not be walked. */
#define PROTO_UNKNOWN 255
/** Extension headers walked before giving up (a legitimate chain has a handful at most). */
#define MAX_EXT_HEADERS 8

// flow_route reads the lanes of a compare result as two 64-bit words, lane 0 lowest.
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "flow lanes assume a little-endian CPU");

static inline uint16_t be16(const uint8_t *b) { return (uint16_t)((b[0] << 8) | b[1]); }

/** The transports whose header starts with 16-bit source and destination ports (as hasPorts in base/packet-tuple.ts). */
static inline int has_ports(uint8_t proto) {
  return proto == PROTO_TCP || proto == PROTO_UDP || proto == PROTO_DCCP || proto == PROTO_SCTP || proto == PROTO_UDPLITE;
}

static void upper_layer(uint8_t proto, const uint8_t *l4, size_t len, fp_flow_key *k) {
  k->protocol = proto;
  if (has_ports(proto) && len >= 4) {
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

static inline fp_lanes lanes_of(uint16_t v) { return (fp_lanes){v, v, v, v, v, v, v, v}; }

fp_flow *flow_route(fp_peer *peer, const fp_flow_key *k, int outbound, fp_out_sa **sa) {
  // Outbound the packet's source is ours; the peer's return traffic mirrors it.
  fp_lanes local = lanes_of(outbound ? k->src : k->dst);
  fp_lanes remote = lanes_of(outbound ? k->dst : k->src);
  fp_lanes proto = lanes_of(k->protocol);
  fp_lanes portless = lanes_of(k->has_ports ? 0 : 0xffff);
  int nblocks = (peer->nflows + FP_FLOW_LANES - 1) / FP_FLOW_LANES;
  for (int b = 0; b < nblocks; b++) {
    const fp_flow_block *s = &peer->flow_blocks[b];
    fp_lanes m = (fp_lanes)((s->protocol == proto) | (s->protocol == 0)) & ~(s->needs_ports & portless) &
                 (fp_lanes)((fp_lanes)(local - s->local_from) <= s->local_span) &
                 (fp_lanes)((fp_lanes)(remote - s->remote_from) <= s->remote_span);
    uint64_t w[2];
    memcpy(w, &m, sizeof w);
    for (int half = 0; half < 2; half++) {
      while (__builtin_expect(w[half] != 0, 0)) {
        int lane = half * 4 + __builtin_ctzll(w[half]) / 16;
        w[half] &= ~(0xffffULL << (lane % 4 * 16));
        fp_flow *f = &peer->flows[b * FP_FLOW_LANES + lane];
        // A held flow matches whatever its socket: its packets go nowhere.
        if (f->spi == FP_FLOW_HELD_SPI) {
          *sa = NULL;
          return f;
        }
        // A route that cannot carry packets (SA not installed, no socket) is as if absent.
        if (f->sock < 0) continue;
        fp_out_sa *o = peer_out_by_spi(peer, f->spi);
        if (!o) continue;
        *sa = o;
        return f;
      }
    }
  }
  return NULL;
}

static inline uint32_t fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  x ^= x >> 16;
  return x;
}

uint32_t flow_hash(const fp_flow_key *k) {
  uint32_t ports = k->has_ports ? ((uint32_t)k->src << 16 | k->dst) : 0;
  return fmix32(fmix32(k->protocol) ^ ports);
}

fp_flow *flow_spread(fp_peer *peer, const fp_flow_key *k, fp_out_sa **sa) {
  uint32_t h = flow_hash(k);
  fp_flow *best = NULL;
  int64_t best_score = -1;
  for (int i = 0; i < peer->nspread; i++) {
    fp_flow *m = &peer->spread[i];
    // A member whose SA is not installed here is as if absent (the JS core skips it too).
    fp_out_sa *o = peer_out_by_spi(peer, m->spi);
    if (!o) continue;
    int64_t score = fmix32(h ^ m->spread_key);
    if (score > best_score) {
      best_score = score;
      best = m;
      *sa = o;
    }
  }
  return best;
}

fp_flow_block *flow_blocks_new(int n) {
  int nblocks = (n + FP_FLOW_LANES - 1) / FP_FLOW_LANES;
  if (nblocks == 0) return NULL;
  fp_flow_block *blocks = aligned_alloc(16, (size_t)nblocks * sizeof *blocks);
  if (!blocks) return NULL;
  for (int b = 0; b < nblocks; b++) {
    memset(&blocks[b], 0, sizeof blocks[b]);
    blocks[b].protocol = lanes_of(0xffff);
  }
  return blocks;
}

void flow_block_set(fp_flow_block *blocks, int i, uint8_t protocol, int needs_ports, uint16_t local_from, uint16_t local_to,
                    uint16_t remote_from, uint16_t remote_to) {
  fp_flow_block *b = &blocks[i / FP_FLOW_LANES];
  int lane = i % FP_FLOW_LANES;
  b->protocol[lane] = protocol;
  b->needs_ports[lane] = needs_ports ? 0xffff : 0;
  b->local_from[lane] = local_from;
  b->local_span[lane] = (uint16_t)(local_to - local_from);
  b->remote_from[lane] = remote_from;
  b->remote_span[lane] = (uint16_t)(remote_to - remote_from);
}

void flow_set_remote(fastpath *fp, fp_flow *f, int sock) {
  f->sock = pick_socket(fp, sock, f->remote16);
  int family = f->sock >= 0 ? fp->socks[f->sock].family : AF_INET6;
  f->remote_len = sockaddr_from16(family, f->remote16, f->port, &f->remote);
}

void flow_clear(fp_peer *peer) {
  free(peer->flow_blocks);
  free(peer->flows);
  free(peer->spread);
  peer->flow_blocks = NULL;
  peer->flows = NULL;
  peer->nflows = 0;
  peer->spread = NULL;
  peer->nspread = 0;
}
