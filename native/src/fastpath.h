// The native ESP fast path: SA tables plus one thread per direction moving packets between the
// TUN and the UDP sockets without touching JS (see fastpath.c).

#ifndef HIPVPN_FASTPATH_H
#define HIPVPN_FASTPATH_H

#include <pthread.h>
#include <time.h>
#include <stdint.h>
#include <sys/socket.h>

#include <node_api.h>

#include "esp_packet.h"

#define FP_MAX_SOCKETS 16
/** An SA's socket index meaning "hand this peer's packets to JS": its socket is one JS opened later. */
#define FP_SOCK_PUNT (-2)
#define FP_BATCH 64
/** Room before a packet in a slot: ESP header + IV when sealing, the IPv6 header when rebuilding. */
#define FP_HEADROOM 64

// Drop reasons, named as the JS data plane names them so the engine's counters read the same.
#define FP_DROP_REASONS(X)                                                              \
  X(TUN_NOT_IP, "tun-not-ip") X(TUN_TRUNCATED, "tun-truncated") X(TUN_NOT_HIP, "tun-not-hip") \
  X(TUN_MALFORMED, "tun-malformed") X(SEQ_EXHAUSTED, "esp-seq-exhausted")               \
  X(NO_SOCKET, "udp-no-socket") X(SEND_FULL, "udp-send-full") X(SEND_FAILED, "udp-send-failed") \
  X(UDP_RUNT, "udp-runt") X(UDP_TRUNCATED, "udp-truncated") X(RETIRED_SPI, "esp-retired-spi") \
  X(ESP_TRUNCATED, "esp-truncated") X(ESP_REPLAY, "esp-replay") X(ESP_TOO_OLD, "esp-too-old") \
  X(ESP_AUTH_FAILED, "esp-auth-failed") X(ESP_BAD_PADDING, "esp-bad-padding")           \
  X(ESP_BAD_INNER, "esp-bad-inner") X(CRYPTO_FAILED, "esp-crypto-failed")               \
  X(TUN_WRITE_FAILED, "tun-write-failed") X(PUNT_FULL, "fastpath-punt-full")            \
  X(EVENT_OVERFLOW, "fastpath-event-overflow") X(FLOW_HELD, "flow-held")

#define FP_ENUM(id, name) DROP_##id,
typedef enum { FP_DROP_REASONS(FP_ENUM) DROP_COUNT } fp_drop;
#undef FP_ENUM

/**
 * A second destination every datagram sealed for a peer also goes to, for a bounded time
 * (make-before-break): the same bytes, so the receiver's anti-replay window drops the later copy.
 */
typedef struct {
  int64_t until_ms;  // 0: none
  int sock;          // resolved socket index; < 0: no copies can be sent
  struct sockaddr_storage remote;
  socklen_t remote_len;
} fp_spare;

/** Routes a peer may have: bounds the per-packet scan. */
#define FP_MAX_FLOWS 1024
/** The SPI of a held flow's route (see fp_flow). */
#define FP_FLOW_HELD_SPI 0
/** Pairs a peer's spread may have (one per interface: a handful). */
#define FP_MAX_SPREAD 16

/** Routes whose selectors one vector compare tests together. */
#define FP_FLOW_LANES 8
typedef uint16_t fp_lanes __attribute__((vector_size(16)));

/**
 * The selectors of FP_FLOW_LANES routes, one field per vector, so that the per-packet scan
 * tests 8 routes with a handful of instructions (SSE2 / NEON, through GCC vector extensions)
 * and reads only these dense blocks. A port range is (from, span): a port p is in it when
 * (uint16_t)(p - from) <= span. Unused lanes hold protocol 0xffff, which no packet has.
 */
typedef struct {
  fp_lanes protocol;     // 0: any
  fp_lanes needs_ports;  // 0xffff: the route names ports, so it matches only packets whose ports are known (has_ports)
  fp_lanes local_from, local_span, remote_from, remote_span;
} fp_flow_block;

/**
 * Where packets matching a selector go: sealed on the peer's outbound SA with this SPI (looked
 * up per packet, so a replaced or removed SA never dangles) and sent to `remote` from `sock`.
 * SPI 0 (reserved, RFC 4303 §2.1, so no SA has it) marks a held flow: its outbound packets are
 * dropped as flow-held instead of taking the peer's path.
 */
typedef struct {
  uint32_t fid;
  uint32_t spi;
  int sock;         // resolved as an SA's: FP_SOCK_PUNT, a live index, or -1
  int wanted_sock;  // as JS named it, to resolve again when a socket goes
  uint8_t remote16[16];
  uint16_t port;
  /** Load sharing: the flow rides the peer's unbound traffic, so the spread picks its pair when the peer has one. */
  uint8_t spread;
  /** A spread member's key (fp_peer.spread; core/flow-spread.ts spreadMemberKey). */
  uint32_t spread_key;
  struct sockaddr_storage remote;
  socklen_t remote_len;
  // Written by one packet thread each (out: TX, in: RX), read by stats: relaxed atomics.
  uint64_t packets_out, bytes_out, packets_in, bytes_in;
} fp_flow;

/** What a packet's selector is matched on: its upper-layer protocol and, for a transport whose header starts with them (has_ports), its ports. */
typedef struct {
  uint8_t protocol;
  uint8_t has_ports;  // 0 for other protocols, non-first fragments and headers cut short
  uint16_t src, dst;
} fp_flow_key;

typedef struct fp_peer {
  uint8_t hit[16];
  uint32_t lsi;
  /**
   * The outbound SA carrying the peer's traffic: `base` or one of `extra`. NULL: this peer's
   * packets go up to JS. The packet threads only ever look at this one.
   */
  struct fp_out_sa *out;
  struct fp_out_sa *base;    // the install()ed SA (replaced on rekey)
  struct fp_out_sa **extra;  // further SAs (RFC 8047: one pair per interface)
  int nextra, extra_cap;
  fp_spare spare;
  /**
   * The control plane doubts the peer's path: a copy of every datagram sealed for it also goes
   * to the stranded ring (flagged FP_STRANDED_HELD), so that JS can re-send it on the next pair.
   */
  int held;
  /**
   * Per-flow steering: tried in order on every packet to or from the peer; the first route
   * that matches and can carry the packet (its SA installed, a socket to send from) wins, and
   * unmatched packets take `out`. Replaced whole under both locks.
   */
  fp_flow_block *flow_blocks;  // (nflows + 7) / 8 of them
  fp_flow *flows;
  int nflows;
  /**
   * Load sharing: the pairs unbound packets (and `spread` flows) are spread over, by a
   * rendezvous hash of the packet's flow (flow_spread); none: `out`. Replaced with the routes.
   */
  fp_flow *spread;
  int nspread;
  // Written by one packet thread each, read by stats: relaxed atomics.
  uint64_t packets_in, bytes_in, packets_out, bytes_out;
  int64_t last_heard_ms;  // -1: never
  /**
   * The pair the peer's authenticated ESP last arrived on (its source, our socket), reported
   * (esp-source) each time it changes, so the control plane knows the inbound pair without a
   * report per packet. Written by the receiving thread under in_lock; cleared by a new inbound SA.
   */
  uint8_t arrival16[16];
  uint16_t arrival_port;
  int arrival_sock;
  int arrival_known;
} fp_peer;

typedef struct fp_out_sa {
  uint32_t spi;
  uint64_t seq;  // last sequence number used (64-bit so exhaustion is a plain compare)
  uint64_t seq_rekey_threshold;
  int64_t created_ms, lifetime_ms;
  int rekey_asked;
  size_t icv_len;
  gcm_key *key;
  int sock;  // index into the socket table; -1: none of the right family
  struct sockaddr_storage remote;
  socklen_t remote_len;
} fp_out_sa;

typedef struct fp_in_sa {
  uint32_t spi;
  fp_peer *peer;
  size_t icv_len;
  gcm_key *key;
  replay_window window;
  int heard;
  int64_t retire_at_ms;  // INT64_MAX: current
} fp_in_sa;

/** A copy queue of packets handed up to JS (bounded; mutex-protected, as punts are rare). */
typedef struct {
  pthread_mutex_t lock;
  uint32_t cap, slot, head, count;
  uint8_t *buf;
  uint32_t *lens;
  uint8_t *addrs;  // UDP only: 16 octets per entry
  uint16_t *ports;
  uint8_t *socks;
} fp_punt_ring;

typedef enum { EV_ESP_HEARD = 1, EV_REKEY_NEEDED, EV_SOCKET_ERROR, EV_TUN_ERROR, EV_ESP_SOURCE } fp_event_type;

typedef struct {
  fp_event_type type;
  uint8_t hit[16];
  uint32_t spi;  // esp-heard, esp-source: the inbound SA; rekey-needed: the outbound SA to replace
  uint8_t addr16[16];  // esp-source: where the peer's authenticated ESP came from; socket-error: the refused destination
  uint16_t port;
  int has_addr;        // socket-error: addr16 and port are set
  uint32_t bytes;      // esp-source: that datagram's length (credit, RFC 8046 §5.6)
  int err;
  int sock;           // esp-source: the socket it arrived on
  int origin, icmp_type, icmp_code;
} fp_event;

#define FP_EVENT_CAP 256

/**
 * A slot of the socket table. A socket being removed is first marked not live (under both
 * locks: no new batch picks it), and its fd is forgotten only once neither thread can use it.
 */
typedef struct {
  int fd;      // -1: free slot
  int live;
  int family;
  int gso_ok;  // written by the TX thread only
} fp_socket;

typedef struct fastpath {
  napi_env env;
  napi_threadsafe_function wake_js;
  int hook_added;
  int threads_running;
  int stopped;
  int stop_flag;  // atomic
  int notified;   // atomic: a wake-up is pending in JS
  int wake_fd;    // eventfd, written once at stop
  int rx_wake_fd; // eventfd: the socket table changed, the RX thread rebuilds its poll set
  int tun_fd;
  uint32_t slot_size;
  fp_socket socks[FP_MAX_SOCKETS];
  int nsocks;  // slots ever used (some may be free again)
  /**
   * Socket-table generation, bumped under both locks on every add or remove. The RX thread
   * acknowledges the generation its poll set reflects (rx_gen_ack, under sock_mu); a removal
   * waits for that, and for the TX thread's tx_io_lock (held over a batch's seal and send), so
   * it returns only when neither thread can use the fd.
   */
  uint64_t sock_gen;
  uint64_t rx_gen_ack;
  int rx_exited;
  pthread_mutex_t sock_mu;
  pthread_cond_t sock_cond;
  pthread_mutex_t tx_io_lock;
  uint8_t own_hit[16];
  uint32_t own_lsi;

  // Lock order: out_lock, then in_lock. The TX thread holds out_lock over a batch; the RX
  // thread holds in_lock over a batch; table changes from JS hold both.
  pthread_mutex_t out_lock, in_lock;
  fp_peer **peers;
  int npeers, peers_cap;
  fp_peer *tx_last;  // the TX thread's last hit; most batches go to one peer
  fp_in_sa **in_sas;
  int nin, in_cap;

  fp_punt_ring tun_punts, udp_punts;
  /**
   * Sealed datagrams whose send failed because the socket's interface or route went away:
   * JS re-sends them on the peer's next pair once it moves (addrs/ports: the old destination).
   */
  fp_punt_ring stranded;
  pthread_mutex_t ev_lock;
  fp_event events[FP_EVENT_CAP];
  int ev_head, ev_count;

  uint64_t drops[DROP_COUNT];
  uint64_t tun_in, tun_out, udp_in, udp_out;
  uint64_t spare_copies, spare_failed;  // copies sent to spares; copies whose send failed
  uint64_t held_copies, held_lost;      // copies of held peers' datagrams queued for JS; not queued (ring full)

  pthread_t tx_thread, rx_thread;
} fastpath;

/** Packets one punt queue holds for JS before further ones are dropped. */
#define PUNT_CAP 512
/** Sealed datagrams held for a re-send after their interface went down (about 0.5 s at 500 packets/s). */
#define STRANDED_CAP 256
/** Set in a stranded entry's socket index: a copy of a datagram that was sent (its peer is held), not a failed send. */
#define FP_STRANDED_HELD 0x80

extern const char *const FP_DROP_NAMES[DROP_COUNT];

static inline int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void count(uint64_t *c, uint64_t n) { __atomic_fetch_add(c, n, __ATOMIC_RELAXED); }
static inline uint64_t load64(const uint64_t *c) { return __atomic_load_n(c, __ATOMIC_RELAXED); }
static inline void drop(fastpath *fp, fp_drop why) { count(&fp->drops[why], 1); }

// ---- fastpath.c: wake-ups, events, punt queues, tables, the per-packet work, teardown ------

void notify_js(fastpath *fp);
void post_event(fastpath *fp, const fp_event *e);
void post_peer_event(fastpath *fp, fp_event_type type, const fp_peer *peer, uint32_t spi);
int ring_init(fp_punt_ring *r, uint32_t cap, uint32_t slot, int udp);
void ring_free(fp_punt_ring *r);
/** Copies a packet (at most a slot) into the queue; 0 when full (the caller counts the drop). */
int ring_push(fp_punt_ring *r, const uint8_t *p, size_t len, const uint8_t *addr16, uint16_t port, int sock);

fp_peer *find_peer_hit(fastpath *fp, const uint8_t *hit);  // either lock
fp_peer *find_peer_lsi(fastpath *fp, uint32_t lsi);        // either lock
fp_in_sa *find_in(fastpath *fp, uint32_t spi);             // in_lock
void out_sa_free(fp_out_sa *o);
void in_sa_free(fp_in_sa *s);
void remove_in_at(fastpath *fp, int i);  // both locks
void set_remote(fastpath *fp, fp_out_sa *o, const uint8_t remote16[16], uint16_t port, int sock);
/** The socket an SA or spare sends from (FP_SOCK_PUNT, a live index, or -1); both locks. */
int pick_socket(fastpath *fp, int wanted, const uint8_t remote16[16]);
/** Frees every outbound SA of the peer and ends its spare; both locks. */
void peer_drop_outbound_all(fp_peer *peer);
/** The peer's outbound SA with this SPI (base or further), or NULL; either lock. */
fp_out_sa *peer_out_by_spi(fp_peer *peer, uint32_t spi);

/** A sealed datagram ready for sendmmsg. */
typedef struct {
  uint8_t *data;
  size_t len;
  int sock;
  int held;  // its peer is held: a copy goes to the stranded ring once it is sent
  struct sockaddr_storage *dest;
  socklen_t dest_len;
} tx_item;

typedef enum { TX_SEND, TX_PUNT, TX_DROP } tx_verdict;
typedef enum { RX_TUN, RX_NONE, RX_PUNT, RX_DROP } rx_verdict;

/** Seals a payload on one of the peer's outbound SAs; out_lock held. The ESP length, or 0 with *why. */
size_t seal_on(fastpath *fp, fp_peer *peer, fp_out_sa *o, uint8_t *payload, size_t len, uint8_t nh, int64_t now, fp_drop *why);
/**
 * One TUN packet at p (FP_HEADROOM before it, ESP_GCM_TAILROOM after); out_lock held. On
 * TX_SEND, *copied says whether `copy` was filled in too (the same bytes to the peer's spare).
 */
tx_verdict tx_one(fastpath *fp, uint8_t *p, size_t len, int64_t now, tx_item *item, tx_item *copy, int *copied,
                  fp_drop *why);
/**
 * One datagram at d, opened in place; in_lock held. On RX_TUN the inner packet for the TUN is
 * hdr[0, *hdr_len) (a rebuilt IPv6 header, or nothing for an LSI packet) followed by
 * *body, *body_len octets inside the datagram. With `src` (its source, received on socket
 * `sock`): authenticated ESP from elsewhere than where the peer's traffic goes posts
 * 'esp-source', once per SA per new address.
 */
rx_verdict rx_one(fastpath *fp, uint8_t *d, size_t len, int64_t now, uint8_t hdr[IPV6_HEADER_LEN], size_t *hdr_len,
                  uint8_t **body, size_t *body_len, fp_drop *why, const struct sockaddr_storage *src, int sock);
/** Stops the threads and frees everything. */
void fp_destroy(fastpath *fp);

// ---- fastpath_flow.c: per-flow steering ---------------------------------------------------

/**
 * The selector key of an ESP payload with next header `nh` (4: an IPv4 packet; otherwise what
 * follows an IPv6 header, extension headers walked). src and dst are as the packet travels.
 */
void flow_key_of(uint8_t nh, const uint8_t *payload, size_t len, fp_flow_key *k);
/**
 * The first of the peer's routes matching a packet with these local and remote ports that can
 * carry it (its SA: *sa), or a held one (SPI FP_FLOW_HELD_SPI, *sa NULL), or NULL. Either lock.
 */
fp_flow *flow_route(fp_peer *peer, const fp_flow_key *k, int outbound, fp_out_sa **sa);
/**
 * The spread member a packet goes to: the highest rendezvous score of its flow hash among the
 * members that can carry it (*sa: its SA), or NULL. The same arithmetic as core/flow-spread.ts.
 */
fp_flow *flow_spread(fp_peer *peer, const fp_flow_key *k, fp_out_sa **sa);
/** core/flow-spread.ts flowHash: protocol, and TCP/UDP ports when known. */
uint32_t flow_hash(const fp_flow_key *k);
/** Points a route's destination at a socket (as set_remote does for an SA); both locks. */
void flow_set_remote(fastpath *fp, fp_flow *f, int sock);
/** Forgets the peer's routes; both locks. */
void flow_clear(fp_peer *peer);
/** Selector blocks for n routes (unused lanes matching nothing), or NULL when out of memory; free() them. */
fp_flow_block *flow_blocks_new(int n);
/**
 * Writes route i's selector into its lane. Ports: inclusive ranges. `needs_ports`: the route
 * names ports (even 0..65535), so it matches only packets whose ports are known; without it
 * the ranges must be 0..65535 and the route takes any packet of its protocol.
 */
void flow_block_set(fp_flow_block *blocks, int i, uint8_t protocol, int needs_ports, uint16_t local_from, uint16_t local_to,
                    uint16_t remote_from, uint16_t remote_to);

// ---- fastpath_io.c: the packet threads ----------------------------------------------------

/** Starts the TX and RX threads; 0 or an errno. */
int start_threads(fastpath *fp);
/** Stops and joins them (no-op when not running). */
void stop_threads(fastpath *fp);

#endif
