// The fast path's per-flow lookup alone (native/src/fastpath_flow.c: classify a packet, scan the
// peer's routes), timed in thread CPU time over many packets. Built and run by
// bench/fastpath-flows.ts:  flow-lookup ROUTES [last]  ->  "<ns per packet> <packets steered>"
// ROUTES UDP routes with remote port ranges that miss the packets' port; with `last`, the last
// route takes it. The packets' source port varies, as a real mix would.

#include "fastpath.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// What fastpath_flow.c links against from the rest of the addon, reduced to what the lookup uses.
int pick_socket(fastpath *fp, int wanted, const uint8_t remote16[16]) { return wanted; }
socklen_t sockaddr_from16(int family, const uint8_t a16[16], uint16_t port, struct sockaddr_storage *ss) { return 0; }
fp_out_sa *peer_out_by_spi(fp_peer *peer, uint32_t spi) {
  if (peer->base && peer->base->spi == spi) return peer->base;
  for (int i = 0; i < peer->nextra; i++)
    if (peer->extra[i]->spi == spi) return peer->extra[i];
  return NULL;
}

static double thread_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int n = atoi(argv[1]);
  int last = argc > 2;
  static fp_peer peer;
  fp_out_sa base = {.spi = 1}, cell = {.spi = 2};
  fp_out_sa *extra[1] = {&cell};
  peer.base = peer.out = &base;
  peer.extra = extra;
  peer.nextra = 1;
  peer.flow_blocks = flow_blocks_new(n);
  peer.flows = calloc((size_t)n + 1, sizeof *peer.flows);
  peer.nflows = n;
  for (int i = 0; i < n; i++) {
    int hit = last && i == n - 1;
    flow_block_set(peer.flow_blocks, i, 17, 1, 0, 65535, hit ? 5201 : 10000 + i * 10, hit ? 5201 : 10005 + i * 10);
    peer.flows[i].spi = 2;
    peer.flows[i].sock = 1;
  }
  // A UDP header, 40000 -> 5201, as the ESP payload of a BEET packet.
  uint8_t udp[48] = {0x9c, 0x40, 0x14, 0x51};
  const long packets = 20000000;
  long steered = 0;
  double t0 = thread_ns();
  for (long i = 0; i < packets; i++) {
    udp[1] = (uint8_t)i;
    if (!peer.nflows) continue;
    fp_flow_key k;
    fp_out_sa *o;
    flow_key_of(17, udp, sizeof udp, &k);
    if (flow_route(&peer, &k, 1, &o)) steered++;
  }
  double t1 = thread_ns();
  printf("%.2f %ld\n", (t1 - t0) / packets, steered);
  return 0;
}
