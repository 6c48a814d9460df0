// The native ESP fast path for established AES-GCM SAs (suites 12 and 13).
//
// Two threads, one per direction, as a kernel IPsec stack or wireguard-go would spread the
// work over cores:
//   TX: TUN read batch -> route by HIT/LSI -> BEET / IPv4-in-ESP -> seal -> sendmmsg (+GSO)
//   RX: recvmmsg -> SPI lookup -> replay check -> open -> inner packet rebuild -> TUN writes
// Whatever they cannot handle goes up to JS through bounded copy queues and one coalesced
// wake-up (a thread-safe function): HIP control datagrams, unknown SPIs (CBC SAs live in JS),
// and TUN packets for peers without a fast-path SA (JS asks the engine to connect, or seals
// with a CBC SA). JS keeps the engine-facing logic; native code keeps only the hot path.
//
// The SA tables are changed by JS (install, retire, remove, set-path) under the same locks
// the packet threads hold over a batch, so a change lands between batches, never inside one.
//
// This file: the tables, the punt queues and events, and the per-packet work (tx_one, rx_one)
// the threads (fastpath_io.c) and the synchronous test entry points (fastpath_napi.c) share.

#include "fastpath.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon_common.h"

const char *const FP_DROP_NAMES[DROP_COUNT] = {
#define FP_NAME(id, name) name,
    FP_DROP_REASONS(FP_NAME)
#undef FP_NAME
};

// ---------------------------------------------------------------------------------------------
// wake-ups, events and punt queues

void notify_js(fastpath *fp) {
  if (__atomic_exchange_n(&fp->notified, 1, __ATOMIC_ACQ_REL)) return;
  if (!fp->wake_js || napi_call_threadsafe_function(fp->wake_js, NULL, napi_tsfn_nonblocking) != napi_ok)
    __atomic_store_n(&fp->notified, 0, __ATOMIC_RELEASE);
}

void post_event(fastpath *fp, const fp_event *e) {
  pthread_mutex_lock(&fp->ev_lock);
  if (fp->ev_count == FP_EVENT_CAP) {
    pthread_mutex_unlock(&fp->ev_lock);
    drop(fp, DROP_EVENT_OVERFLOW);
    return;
  }
  fp->events[(fp->ev_head + fp->ev_count) % FP_EVENT_CAP] = *e;
  fp->ev_count++;
  pthread_mutex_unlock(&fp->ev_lock);
  notify_js(fp);
}

void post_peer_event(fastpath *fp, fp_event_type type, const fp_peer *peer, uint32_t spi) {
  fp_event e = {.type = type, .sock = -1, .spi = spi};
  memcpy(e.hit, peer->hit, 16);
  post_event(fp, &e);
}

int ring_init(fp_punt_ring *r, uint32_t cap, uint32_t slot, int udp) {
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  r->cap = cap;
  r->slot = slot;
  r->buf = malloc((size_t)cap * slot);
  r->lens = calloc(cap, sizeof *r->lens);
  if (udp) {
    r->addrs = calloc(cap, 16);
    r->ports = calloc(cap, sizeof *r->ports);
    r->socks = calloc(cap, 1);
  }
  return r->buf && r->lens && (!udp || (r->addrs && r->ports && r->socks));
}

void ring_free(fp_punt_ring *r) {
  free(r->buf);
  free(r->lens);
  free(r->addrs);
  free(r->ports);
  free(r->socks);
  pthread_mutex_destroy(&r->lock);
}

/** Copies a packet (at most a slot) into the queue; 0 when full (the caller counts the drop). */
int ring_push(fp_punt_ring *r, const uint8_t *p, size_t len, const uint8_t *addr16, uint16_t port, int sock) {
  if (len > r->slot) return 0;
  pthread_mutex_lock(&r->lock);
  if (r->count == r->cap) {
    pthread_mutex_unlock(&r->lock);
    return 0;
  }
  uint32_t i = (r->head + r->count) % r->cap;
  memcpy(r->buf + (size_t)i * r->slot, p, len);
  r->lens[i] = (uint32_t)len;
  if (r->addrs) {
    memcpy(r->addrs + (size_t)i * 16, addr16, 16);
    r->ports[i] = port;
    r->socks[i] = (uint8_t)sock;
  }
  r->count++;
  pthread_mutex_unlock(&r->lock);
  return 1;
}

// ---------------------------------------------------------------------------------------------
// tables (callers hold the locks named)

fp_peer *find_peer_hit(fastpath *fp, const uint8_t *hit) {  // either lock
  for (int i = 0; i < fp->npeers; i++)
    if (memcmp(fp->peers[i]->hit, hit, 16) == 0) return fp->peers[i];
  return NULL;
}

fp_peer *find_peer_lsi(fastpath *fp, uint32_t lsi) {  // either lock
  for (int i = 0; i < fp->npeers; i++)
    if (fp->peers[i]->lsi == lsi) return fp->peers[i];
  return NULL;
}

// TX thread, out_lock. A peer's packets usually come in runs, so try the last one first.
static fp_peer *tx_route(fastpath *fp, dest_kind kind, const uint8_t *p, uint32_t lsi) {
  fp_peer *last = fp->tx_last;
  if (last && (kind == DEST_HIT ? memcmp(last->hit, p + 24, 16) == 0 : last->lsi == lsi)) return last;
  fp_peer *peer = kind == DEST_HIT ? find_peer_hit(fp, p + 24) : find_peer_lsi(fp, lsi);
  if (peer) fp->tx_last = peer;
  return peer;
}

fp_in_sa *find_in(fastpath *fp, uint32_t spi) {  // in_lock
  for (int i = 0; i < fp->nin; i++)
    if (fp->in_sas[i]->spi == spi) return fp->in_sas[i];
  return NULL;
}

void out_sa_free(fp_out_sa *o) {
  if (!o) return;
  gcm_key_free(o->key);
  free(o);
}

void in_sa_free(fp_in_sa *s) {
  if (!s) return;
  gcm_key_free(s->key);
  free(s);
}

void remove_in_at(fastpath *fp, int i) {  // both locks
  in_sa_free(fp->in_sas[i]);
  fp->in_sas[i] = fp->in_sas[--fp->nin];
}

/** The socket an SA sends from: the one bound to its local address, else any live one of the family. */
int pick_socket(fastpath *fp, int wanted, const uint8_t remote16[16]) {
  if (wanted == FP_SOCK_PUNT) return FP_SOCK_PUNT;
  if (wanted >= 0 && wanted < fp->nsocks && fp->socks[wanted].live) return wanted;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  int family = memcmp(remote16, mapped, 12) == 0 ? AF_INET : AF_INET6;
  for (int i = 0; i < fp->nsocks; i++)
    if (fp->socks[i].live && fp->socks[i].family == family) return i;
  return -1;
}

void peer_drop_outbound_all(fp_peer *peer) {
  out_sa_free(peer->base);
  for (int i = 0; i < peer->nextra; i++) out_sa_free(peer->extra[i]);
  free(peer->extra);
  peer->base = peer->out = NULL;
  peer->extra = NULL;
  peer->nextra = peer->extra_cap = 0;
  peer->spare.until_ms = 0;
  // A new association must not inherit the old one's doubt.
  peer->held = 0;
}

fp_out_sa *peer_out_by_spi(fp_peer *peer, uint32_t spi) {
  if (peer->base && peer->base->spi == spi) return peer->base;
  for (int i = 0; i < peer->nextra; i++)
    if (peer->extra[i]->spi == spi) return peer->extra[i];
  return NULL;
}

void set_remote(fastpath *fp, fp_out_sa *o, const uint8_t remote16[16], uint16_t port, int sock) {
  o->sock = pick_socket(fp, sock, remote16);
  int family = o->sock >= 0 ? fp->socks[o->sock].family : AF_INET6;
  o->remote_len = sockaddr_from16(family, remote16, port, &o->remote);
}

// ---------------------------------------------------------------------------------------------
// per packet (shared by the threads and the synchronous entry points tests use)

/** Seals a payload on one of the peer's outbound SAs; out_lock held. Returns the ESP length, 0 with *why on failure. */
size_t seal_on(fastpath *fp, fp_peer *peer, fp_out_sa *o, uint8_t *payload, size_t len, uint8_t nh, int64_t now,
               fp_drop *why) {
  if (o->seq >= ESP_SEQ_MAX) {
    // The rekey asked for earlier has not landed: the counter must never cycle (RFC 4303 §3.3.3).
    *why = DROP_SEQ_EXHAUSTED;
    return 0;
  }
  uint64_t seq = o->seq + 1;
  size_t n = esp_seal(o->key, o->icv_len, o->spi, (uint32_t)seq, payload, len, nh);
  if (!n) {
    *why = DROP_CRYPTO_FAILED;
    return 0;
  }
  o->seq = seq;
  if (!o->rekey_asked && (seq >= o->seq_rekey_threshold || now - o->created_ms >= o->lifetime_ms)) {
    o->rekey_asked = 1;
    post_peer_event(fp, EV_REKEY_NEEDED, peer, o->spi);
  }
  return n;
}

/** The spare's copy of a datagram just sealed; 0 when the spare has ended (then it is cleared). */
static int spare_copy(fp_peer *peer, int64_t now, const tx_item *item, tx_item *copy) {
  fp_spare *sp = &peer->spare;
  if (now >= sp->until_ms) {
    sp->until_ms = 0;
    return 0;
  }
  if (sp->sock < 0) return 0;  // no socket of its family here, or one only JS uses
  copy->data = item->data;
  copy->len = item->len;
  copy->sock = sp->sock;
  copy->held = 0;
  memcpy(copy->dest, &sp->remote, sp->remote_len);
  copy->dest_len = sp->remote_len;
  return 1;
}

/** One TUN packet at p (FP_HEADROOM before it, ESP_GCM_TAILROOM after); out_lock held. */
tx_verdict tx_one(fastpath *fp, uint8_t *p, size_t len, int64_t now, tx_item *item, tx_item *copy, int *copied,
                  fp_drop *why) {
  uint32_t lsi = 0;
  dest_kind kind = inner_destination(p, len, &lsi);
  switch (kind) {
    case DEST_NOT_IP: *why = DROP_TUN_NOT_IP; return TX_DROP;
    case DEST_TRUNCATED: *why = DROP_TUN_TRUNCATED; return TX_DROP;
    case DEST_NOT_HIP: *why = DROP_TUN_NOT_HIP; return TX_DROP;
    default: break;
  }
  fp_peer *peer = tx_route(fp, kind, p, lsi);
  if (!peer) return TX_PUNT;
  uint8_t *payload;
  size_t pl;
  uint8_t nh;
  if (!esp_payload_of(kind, p, len, &payload, &pl, &nh)) {
    if (!peer->out) return TX_PUNT;
    *why = DROP_TUN_MALFORMED;
    return TX_DROP;
  }
  fp_out_sa *o = peer->out;
  fp_flow *flow = NULL;  // the route the packet matched: counted
  fp_flow *to = NULL;    // where it goes when not the peer's path: that route, or a spread member
  fp_flow *member = NULL;
  if (__builtin_expect(peer->nflows != 0 || peer->nspread != 0, 0)) {
    fp_flow_key k;
    flow_key_of(nh, payload, pl, &k);
    fp_out_sa *fo = NULL;
    if (peer->nflows) flow = flow_route(peer, &k, 1, &fo);
    if (flow && flow->spi == FP_FLOW_HELD_SPI) {
      *why = DROP_FLOW_HELD;
      return TX_DROP;
    }
    if (flow) {
      to = flow;
      o = fo;
    }
    if ((!flow || flow->spread) && peer->nspread) {
      fp_out_sa *mo = NULL;
      member = flow_spread(peer, &k, &mo);
      if (member) {
        // The spread's choice of the peer's own SA is the peer's path: spare and hold apply.
        to = mo == peer->out ? NULL : member;
        o = mo;
      }
    }
  }
  if (!to) {
    if (!o) return TX_PUNT;
    // Its socket is one only JS reads and writes: JS seals with fpSeal (same SA, same sequence).
    if (o->sock == FP_SOCK_PUNT) return TX_PUNT;
    if (o->sock < 0) {
      *why = DROP_NO_SOCKET;
      return TX_DROP;
    }
  } else if (to == member && to->sock < 0) {
    // A member on a socket only JS uses (or none): JS seals it, as it does the peer's path there.
    return TX_PUNT;
  }
  size_t n = seal_on(fp, peer, o, payload, pl, nh, now, why);
  if (!n) return TX_DROP;
  count(&peer->packets_out, 1);
  count(&peer->bytes_out, pl);
  item->data = payload - ESP_GCM_OVERHEAD_HEAD;
  item->len = n;
  if (flow) {
    count(&flow->packets_out, 1);
    count(&flow->bytes_out, pl);
  }
  if (member) {
    count(&member->packets_out, 1);
    count(&member->bytes_out, pl);
  }
  if (to) {
    item->sock = to->sock;
    memcpy(item->dest, &to->remote, to->remote_len);
    item->dest_len = to->remote_len;
    // The hold and the spare are about the peer's path, which this datagram does not take.
    item->held = 0;
    *copied = 0;
    return TX_SEND;
  }
  item->sock = o->sock;
  memcpy(item->dest, &o->remote, o->remote_len);
  item->dest_len = o->remote_len;
  item->held = peer->held;
  *copied = __builtin_expect(peer->spare.until_ms != 0, 0) ? spare_copy(peer, now, item, copy) : 0;
  return TX_SEND;
}

/** Reports the pair authenticated ESP arrived on when it is not the one it last arrived on. */
static void note_source(fastpath *fp, fp_in_sa *sa, const struct sockaddr_storage *src, int sock, size_t len) {
  fp_peer *peer = sa->peer;
  fp_event e = {.type = EV_ESP_SOURCE, .spi = sa->spi, .sock = sock, .bytes = (uint32_t)len};
  sockaddr_to16(src, e.addr16, &e.port);
  // The common case: the same pair as the packet before.
  if (__builtin_expect(peer->arrival_known && e.port == peer->arrival_port && sock == peer->arrival_sock &&
                           memcmp(e.addr16, peer->arrival16, 16) == 0, 1))
    return;
  memcpy(peer->arrival16, e.addr16, 16);
  peer->arrival_port = e.port;
  peer->arrival_sock = sock;
  peer->arrival_known = 1;
  memcpy(e.hit, peer->hit, 16);
  post_event(fp, &e);
}

static const fp_drop OPEN_DROPS[] = {
    [OPEN_TRUNCATED] = DROP_ESP_TRUNCATED, [OPEN_REPLAY] = DROP_ESP_REPLAY, [OPEN_TOO_OLD] = DROP_ESP_TOO_OLD,
    [OPEN_AUTH_FAILED] = DROP_ESP_AUTH_FAILED, [OPEN_BAD_PADDING] = DROP_ESP_BAD_PADDING,
};

/**
 * One datagram at d, opened in place; in_lock held. On RX_TUN the inner packet for the TUN is
 * hdr[0, *hdr_len) (a rebuilt IPv6 header, or nothing for an LSI packet) followed by
 * *body, *body_len octets inside the datagram.
 */
rx_verdict rx_one(fastpath *fp, uint8_t *d, size_t len, int64_t now, uint8_t hdr[IPV6_HEADER_LEN],
                         size_t *hdr_len, uint8_t **body, size_t *body_len, fp_drop *why,
                         const struct sockaddr_storage *src, int sock) {
  if (len < 8) {
    *why = DROP_UDP_RUNT;
    return RX_DROP;
  }
  uint32_t spi = rd32(d);
  if (spi == 0) return RX_PUNT;  // HIP control (RFC 9028: first 32 bits zero)
  fp_in_sa *sa = find_in(fp, spi);
  if (!sa) return RX_PUNT;  // maybe a CBC SA, which JS holds
  if (sa->retire_at_ms <= now) {
    *why = DROP_RETIRED_SPI;
    return RX_DROP;
  }
  size_t pl;
  uint8_t nh;
  open_status st = esp_open(sa->key, sa->icv_len, &sa->window, d, len, &pl, &nh);
  if (st != OPEN_OK) {
    *why = OPEN_DROPS[st];
    return RX_DROP;
  }
  fp_peer *peer = sa->peer;
  count(&peer->packets_in, 1);
  count(&peer->bytes_in, pl);
  __atomic_store_n(&peer->last_heard_ms, now, __ATOMIC_RELAXED);
  if (!sa->heard) {
    // The peer has our keys: for the engine, R2-SENT becomes ESTABLISHED.
    sa->heard = 1;
    post_peer_event(fp, EV_ESP_HEARD, peer, sa->spi);
  }
  if (src) note_source(fp, sa, src, sock, len);
  uint8_t *payload = d + ESP_GCM_OVERHEAD_HEAD;
  if (nh == IPPROTO_NONE_) return RX_NONE;  // dummy packet (RFC 4303 §2.6)
  if (__builtin_expect(peer->nflows != 0, 0)) {
    fp_flow_key k;
    fp_out_sa *unused;
    flow_key_of(nh, payload, pl, &k);
    fp_flow *flow = flow_route(peer, &k, 0, &unused);
    if (flow) {
      count(&flow->packets_in, 1);
      count(&flow->bytes_in, pl);
    }
  }
  if (nh == IPPROTO_IPIP_) {
    size_t total = ipv4_packet_length(payload, pl);
    if (!total) {
      *why = DROP_ESP_BAD_INNER;
      return RX_DROP;
    }
    // LSIs mean something only on the host that gave them out: from the peer's LSI here, to ours.
    rewrite_ipv4_addresses(payload, peer->lsi, fp->own_lsi);
    *hdr_len = 0;
    *body = payload;
    *body_len = total;
    return RX_TUN;
  }
  if (pl > 0xffff) {
    *why = DROP_ESP_BAD_INNER;
    return RX_DROP;
  }
  // Apart from the payload: in a GRO buffer the octets before a datagram are the previous one's.
  write_beet_header(hdr, peer->hit, fp->own_hit, nh, pl);
  *hdr_len = IPV6_HEADER_LEN;
  *body = payload;
  *body_len = pl;
  return RX_TUN;
}

// ---------------------------------------------------------------------------------------------
// lifetime

void fp_destroy(fastpath *fp) {
  stop_threads(fp);
  for (int i = 0; i < fp->npeers; i++) {
    peer_drop_outbound_all(fp->peers[i]);
    flow_clear(fp->peers[i]);
    free(fp->peers[i]);
  }
  for (int i = 0; i < fp->nin; i++) in_sa_free(fp->in_sas[i]);
  free(fp->peers);
  free(fp->in_sas);
  ring_free(&fp->tun_punts);
  ring_free(&fp->udp_punts);
  ring_free(&fp->stranded);
  pthread_mutex_destroy(&fp->out_lock);
  pthread_mutex_destroy(&fp->in_lock);
  pthread_mutex_destroy(&fp->ev_lock);
  pthread_mutex_destroy(&fp->sock_mu);
  pthread_cond_destroy(&fp->sock_cond);
  pthread_mutex_destroy(&fp->tx_io_lock);
  if (fp->wake_fd >= 0) close(fp->wake_fd);
  if (fp->rx_wake_fd >= 0) close(fp->rx_wake_fd);
  free(fp);
}
