// N-API bindings of the fast path (a peer's SAs and paths: fastpath_peer_napi.c): argument
// checking, and table changes under the locks the packet threads respect (see fastpath.c).

#include "fastpath.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "addon_common.h"
#include "fastpath_napi.h"

// ---------------------------------------------------------------------------------------------
// lifetime

static void fp_env_cleanup(void *arg) {
  fastpath *fp = arg;
  fp->hook_added = 0;
  // The environment finalizes the thread-safe function itself; only the threads are ours.
  stop_threads(fp);
  fp->stopped = 1;
}

static void fp_finalize(napi_env env, void *data, void *hint) {
  fastpath *fp = data;
  if (fp->hook_added) napi_remove_env_cleanup_hook(env, fp_env_cleanup, fp);
  fp_destroy(fp);
}

fastpath *unwrap_fp(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || !data) {
    throw_type(env, "expected a fast-path handle");
    return NULL;
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// N-API helpers (fastpath_napi.h)
int get_hit(napi_env env, napi_value v, const uint8_t **hit) {
  size_t n;
  return get_typed(env, v, 1, (void **)hit, &n) && n == 16;
}

int get_amount(napi_env env, napi_value v, double *out) {
  return napi_get_value_double(env, v, out) == napi_ok && *out >= 0 && *out <= 9007199254740992.0;
}

int get_port(napi_env env, napi_value v, uint32_t *out) { return get_u32(env, v, out) && *out <= 65535; }

napi_value make_double(napi_env env, double v) {
  napi_value out;
  napi_create_double(env, v, &out);
  return out;
}

napi_value make_bool(napi_env env, int v) {
  napi_value out;
  napi_get_boolean(env, v, &out);
  return out;
}

napi_value make_string(napi_env env, const char *s) {
  napi_value out;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

napi_value make_bytes(napi_env env, const uint8_t *p, size_t n) {
  napi_value out;
  void *copy;
  napi_create_buffer_copy(env, n, p, &copy, &out);
  return out;
}

/** Coalesced receive (Linux 5.0+); without it every datagram simply arrives alone. */
static void enable_gro(int fd) {
  int one = 1;
  setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one);
}

void wake_rx(fastpath *fp) {
  uint64_t one = 1;
  ssize_t w = write(fp->rx_wake_fd, &one, sizeof one);
  (void)w;
}

void lock_both(fastpath *fp) {
  pthread_mutex_lock(&fp->out_lock);
  pthread_mutex_lock(&fp->in_lock);
}

void unlock_both(fastpath *fp) {
  pthread_mutex_unlock(&fp->in_lock);
  pthread_mutex_unlock(&fp->out_lock);
}

// ---------------------------------------------------------------------------------------------
// exported

// cryptoStatus() -> { available, library, reason }
static napi_value crypto_status(napi_env env, napi_callback_info info) {
  const char *lib, *reason;
  int ok = gcm_available(&lib, &reason);
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "available", make_bool(env, ok));
  napi_set_named_property(env, out, "library", make_string(env, lib));
  napi_set_named_property(env, out, "reason", make_string(env, reason));
  return out;
}

// fpCreate(tunFd, socketFds: Int32Array, ownHit, ownLsi, slotSize, onWake) -> handle.
// tunFd < 0 creates tables without threads, for the synchronous entry points (tests).
static napi_value fp_create(napi_env env, napi_callback_info info) {
  ARGS(6);
  int32_t tun_fd;
  int32_t *fds;
  size_t nfds;
  const uint8_t *hit;
  uint32_t lsi, slot_size;
  napi_valuetype t;
  if (argc < 6 || !get_i32(env, argv[0], &tun_fd) || !get_typed(env, argv[1], 4, (void **)&fds, &nfds) ||
      !get_hit(env, argv[2], &hit) || !get_u32(env, argv[3], &lsi) || !get_u32(env, argv[4], &slot_size) ||
      napi_typeof(env, argv[5], &t) != napi_ok || t != napi_function)
    return throw_type(env, "fpCreate(tunFd, socketFds, ownHit, ownLsi, slotSize, onWake)");
  const char *lib, *reason;
  if (!gcm_available(&lib, &reason)) return throw_errno(env, reason, ENOSYS);
  if (nfds > FP_MAX_SOCKETS) return throw_type(env, "too many sockets for the fast path");
  if (slot_size < 2048 || slot_size > 65536 + FP_HEADROOM + ESP_GCM_TAILROOM) return throw_type(env, "bad slot size");
  fastpath *fp = calloc(1, sizeof *fp);
  if (!fp) return throw_errno(env, "out of memory", ENOMEM);
  fp->env = env;
  fp->tun_fd = tun_fd;
  fp->slot_size = slot_size;
  fp->wake_fd = -1;
  fp->rx_wake_fd = -1;
  memcpy(fp->own_hit, hit, 16);
  fp->own_lsi = lsi;
  pthread_mutex_init(&fp->out_lock, NULL);
  pthread_mutex_init(&fp->in_lock, NULL);
  pthread_mutex_init(&fp->ev_lock, NULL);
  pthread_mutex_init(&fp->sock_mu, NULL);
  pthread_cond_init(&fp->sock_cond, NULL);
  pthread_mutex_init(&fp->tx_io_lock, NULL);
  for (int i = 0; i < FP_MAX_SOCKETS; i++) fp->socks[i].fd = -1;
  int ok = ring_init(&fp->tun_punts, PUNT_CAP, slot_size, 0) & ring_init(&fp->udp_punts, PUNT_CAP, slot_size, 1) &
           ring_init(&fp->stranded, STRANDED_CAP, slot_size, 1);
  for (size_t i = 0; i < nfds; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fds[i], (struct sockaddr *)&ss, &sl) < 0) {
      int err = errno;
      fp_destroy(fp);
      return throw_errno(env, "getsockname", err);
    }
    fp->socks[i] = (fp_socket){.fd = fds[i], .live = 1, .family = ss.ss_family, .gso_ok = 1};
    if (tun_fd >= 0) enable_gro(fds[i]);
  }
  fp->nsocks = (int)nfds;
  fp->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  fp->rx_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (!ok || fp->wake_fd < 0 || fp->rx_wake_fd < 0) {
    fp_destroy(fp);
    return throw_errno(env, "fast path setup", ENOMEM);
  }
  napi_value name = make_string(env, "hipvpn.fastpath");
  if (napi_create_threadsafe_function(env, argv[5], NULL, name, 0, 1, NULL, NULL, NULL, NULL, &fp->wake_js) != napi_ok) {
    fp_destroy(fp);
    return throw_errno(env, "napi_create_threadsafe_function", EINVAL);
  }
  // The data plane's own handles keep the loop alive; the wake-up must not.
  napi_unref_threadsafe_function(env, fp->wake_js);
  napi_value ext;
  if (napi_create_external(env, fp, fp_finalize, NULL, &ext) != napi_ok) {
    napi_release_threadsafe_function(fp->wake_js, napi_tsfn_abort);
    fp_destroy(fp);
    return NULL;
  }
  if (napi_add_env_cleanup_hook(env, fp_env_cleanup, fp) == napi_ok) fp->hook_added = 1;
  if (tun_fd >= 0) {
    int err = start_threads(fp);
    if (err) return throw_errno(env, "pthread_create", err);
  }
  return ext;
}

fp_peer *peer_for(fastpath *fp, const uint8_t *hit, uint32_t lsi) {  // both locks
  fp_peer *peer = find_peer_hit(fp, hit);
  if (peer) {
    peer->lsi = lsi;
    return peer;
  }
  if (fp->npeers == fp->peers_cap) {
    int cap = fp->peers_cap ? fp->peers_cap * 2 : 8;
    fp_peer **grown = realloc(fp->peers, (size_t)cap * sizeof *grown);
    if (!grown) return NULL;
    fp->peers = grown;
    fp->peers_cap = cap;
  }
  peer = calloc(1, sizeof *peer);
  if (!peer) return NULL;
  memcpy(peer->hit, hit, 16);
  peer->lsi = lsi;
  peer->last_heard_ms = -1;
  fp->peers[fp->npeers++] = peer;
  return peer;
}

/** The peer with this HIT, added (LSI 0 until install names it) when not known yet; both locks. */
fp_peer *peer_for_hit(fastpath *fp, const uint8_t *hit) {
  fp_peer *peer = find_peer_hit(fp, hit);
  return peer ? peer : peer_for(fp, hit, 0);
}

// fpAddSocket(fp, fd) -> socket index, or -1 when the table is full. The RX thread polls it
// from its next loop (woken at once); SAs may name it in fpSetPath / fpSetSpare right away.
static napi_value fp_add_socket(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  if (argc < 2 || !get_i32(env, argv[1], &fd) || fd < 0) return throw_type(env, "fpAddSocket(fp, fd)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (fp->stopped) return make_i32(env, -1);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return throw_errno(env, "getsockname", errno);
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0) return throw_errno(env, "getsockopt(SO_TYPE)", errno);
  if (type != SOCK_DGRAM || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
    return throw_type(env, "fpAddSocket: fd is not a UDP socket of IPv4 or IPv6");
  }
  lock_both(fp);
  int index = -1;
  for (int i = 0; i < fp->nsocks && index < 0; i++)
    if (fp->socks[i].live && fp->socks[i].fd == fd) index = i;
  int known = index >= 0;
  // A fresh slot while there is one: an index that was used before may still be named by
  // datagrams queued for JS under it.
  if (index < 0 && fp->nsocks < FP_MAX_SOCKETS) index = fp->nsocks++;
  for (int i = 0; i < fp->nsocks && index < 0; i++)
    if (fp->socks[i].fd < 0) index = i;
  if (index >= 0 && !known) {
    if (fp->tun_fd >= 0) enable_gro(fd);
    fp->socks[index] = (fp_socket){.fd = fd, .live = 1, .family = ss.ss_family, .gso_ok = 1};
    __atomic_store_n(&fp->sock_gen, fp->sock_gen + 1, __ATOMIC_RELEASE);
  }
  unlock_both(fp);
  if (index >= 0 && !known) wake_rx(fp);
  return make_i32(env, index);
}

// fpRemoveSocket(fp, index): returns once neither packet thread can touch the fd, so JS may
// close it right after (no fd-number reuse race). SAs sending from it fall back to another
// socket of their family (-1 when none); a spare sending from it ends.
static napi_value fp_remove_socket(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t index;
  if (argc < 2 || !get_i32(env, argv[1], &index)) return throw_type(env, "fpRemoveSocket(fp, index)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (index < 0 || index >= FP_MAX_SOCKETS) return make_undefined(env);
  lock_both(fp);
  if (!fp->socks[index].live) {
    unlock_both(fp);
    return make_undefined(env);
  }
  // From here no batch picks the socket: tx_one and the RX poll set see only live ones.
  fp->socks[index].live = 0;
  for (int p = 0; p < fp->npeers; p++) {
    fp_peer *peer = fp->peers[p];
    for (int k = -1; k < peer->nextra; k++) {
      fp_out_sa *o = k < 0 ? peer->base : peer->extra[k];
      if (!o || o->sock != index) continue;
      uint8_t a16[16];
      uint16_t port;
      sockaddr_to16(&o->remote, a16, &port);
      set_remote(fp, o, a16, port, -1);
    }
    if (peer->spare.sock == index) peer->spare.until_ms = 0;
    for (int k = 0; k < peer->nflows; k++)
      if (peer->flows[k].sock == index) flow_set_remote(fp, &peer->flows[k], -1);
    for (int k = 0; k < peer->nspread; k++)
      if (peer->spread[k].sock == index) flow_set_remote(fp, &peer->spread[k], -1);
  }
  uint64_t gen = fp->sock_gen + 1;
  __atomic_store_n(&fp->sock_gen, gen, __ATOMIC_RELEASE);
  unlock_both(fp);
  if (fp->threads_running) {
    wake_rx(fp);
    pthread_mutex_lock(&fp->sock_mu);
    while (fp->rx_gen_ack < gen && !fp->rx_exited) pthread_cond_wait(&fp->sock_cond, &fp->sock_mu);
    pthread_mutex_unlock(&fp->sock_mu);
    // A TX batch that picked the socket before it was marked is sent by the time this is ours.
    pthread_mutex_lock(&fp->tx_io_lock);
    pthread_mutex_unlock(&fp->tx_io_lock);
  }
  lock_both(fp);
  fp->socks[index].fd = -1;
  unlock_both(fp);
  return make_undefined(env);
}

/** Fields per route in fpSetFlowRoutes' Float64Array. */
#define FLOW_FIELDS 12

static int integral_in(double v, double lo, double hi) { return v >= lo && v <= hi && v == (double)(int64_t)v; }

// fpSetFlowRoutes(fp, hit, fields: Float64Array, addrs16: Uint8Array): replaces the peer's flow
// routes and its spread. Per route, 12 fields: fid, protocol (0: any), localFrom, localTo,
// remoteFrom, remoteTo, port, socketIndex, outboundSpi, needsPorts (1: the route names ports,
// even 0..65535, so only packets whose ports are known match; 0: no ports, the ranges must be
// 0..65535), spread (1: the flow follows the spread), spreadKey (-1: a flow; else a spread
// member, which matches no packet); and 16 octets of remote address. Counters of a FID that
// stays carry over. A peer not known yet is added (its SAs come with install), so routes may
// precede the SAs they name.
static napi_value fp_set_flow_routes(napi_env env, napi_callback_info info) {
  ARGS(4);
  const uint8_t *hit, *addrs;
  double *fields;
  size_t nf, na;
  const char *usage = "fpSetFlowRoutes(fp, hit, fields: Float64Array (12 per route), addrs16: Uint8Array (16 per route))";
  if (argc < 4 || !get_hit(env, argv[1], &hit) || !get_typed(env, argv[2], 8, (void **)&fields, &nf) ||
      !get_typed(env, argv[3], 1, (void **)&addrs, &na) || nf % FLOW_FIELDS != 0 || na != nf / FLOW_FIELDS * 16)
    return throw_type(env, usage);
  size_t total = nf / FLOW_FIELDS, nm = 0;
  for (size_t i = 0; i < total; i++) {
    const double *f = fields + i * FLOW_FIELDS;
    if (!integral_in(f[0], 0, 4294967295.0) || !integral_in(f[1], 0, 255) || !integral_in(f[2], 0, 65535) ||
        !integral_in(f[3], f[2], 65535) || !integral_in(f[4], 0, 65535) || !integral_in(f[5], f[4], 65535) ||
        !integral_in(f[6], 0, 65535) || !integral_in(f[7], FP_SOCK_PUNT, FP_MAX_SOCKETS - 1) ||
        !integral_in(f[8], 0, 4294967295.0) || !integral_in(f[9], 0, 1) || !integral_in(f[10], 0, 1) ||
        !integral_in(f[11], -1, 4294967295.0) ||
        (f[9] == 0 && (f[2] != 0 || f[3] != 65535 || f[4] != 0 || f[5] != 65535)))
      return throw_type(env, "fpSetFlowRoutes: a route field is out of range (ports 0..65535 with from <= to, protocol 0..255, a route without ports covers 0..65535)");
    if (f[11] >= 0) nm++;
  }
  size_t n = total - nm;
  if (n > FP_MAX_FLOWS) return throw_type(env, "fpSetFlowRoutes: more routes than the fast path holds for a peer");
  if (nm > FP_MAX_SPREAD) return throw_type(env, "fpSetFlowRoutes: more spread members than the fast path holds for a peer");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  fp_flow_block *blocks = n ? flow_blocks_new((int)n) : NULL;
  fp_flow *flows = n ? calloc(n, sizeof *flows) : NULL;
  fp_flow *spread = nm ? calloc(nm, sizeof *spread) : NULL;
  if ((n && (!blocks || !flows)) || (nm && !spread)) {
    free(blocks);
    free(flows);
    free(spread);
    return throw_errno(env, "out of memory", ENOMEM);
  }
  for (size_t i = 0, fi = 0, mi = 0; i < total; i++) {
    const double *f = fields + i * FLOW_FIELDS;
    fp_flow *r;
    if (f[11] >= 0) {
      r = &spread[mi++];
      r->spread_key = (uint32_t)f[11];
    } else {
      flow_block_set(blocks, (int)fi, (uint8_t)f[1], f[9] != 0, (uint16_t)f[2], (uint16_t)f[3], (uint16_t)f[4], (uint16_t)f[5]);
      r = &flows[fi++];
      r->spread = (uint8_t)f[10];
    }
    r->fid = (uint32_t)f[0];
    r->port = (uint16_t)f[6];
    r->wanted_sock = (int)f[7];
    r->spi = (uint32_t)f[8];
    memcpy(r->remote16, addrs + i * 16, 16);
  }
  lock_both(fp);
  fp_peer *peer = peer_for_hit(fp, hit);
  if (peer) {
    for (size_t i = 0; i < nm; i++) flow_set_remote(fp, &spread[i], spread[i].wanted_sock);
    for (size_t i = 0; i < n; i++) {
      flow_set_remote(fp, &flows[i], flows[i].wanted_sock);
      // Both locks held: no packet thread is counting.
      for (int k = 0; k < peer->nflows; k++) {
        fp_flow *old = &peer->flows[k];
        if (old->fid != flows[i].fid) continue;
        flows[i].packets_out = old->packets_out;
        flows[i].bytes_out = old->bytes_out;
        flows[i].packets_in = old->packets_in;
        flows[i].bytes_in = old->bytes_in;
        break;
      }
    }
    fp_flow_block *old_blocks = peer->flow_blocks;
    fp_flow *old_flows = peer->flows;
    fp_flow *old_spread = peer->spread;
    peer->flow_blocks = blocks;
    peer->flows = flows;
    peer->nflows = (int)n;
    peer->spread = spread;
    peer->nspread = (int)nm;
    blocks = old_blocks;
    flows = old_flows;
    spread = old_spread;
  }
  unlock_both(fp);
  free(blocks);
  free(flows);
  free(spread);
  if (!peer) return throw_errno(env, "out of memory", ENOMEM);
  return make_undefined(env);
}

// fpSetLsi(fp, hit, lsi): the LSI we give a peer changed.
static napi_value fp_set_lsi(napi_env env, napi_callback_info info) {
  ARGS(3);
  const uint8_t *hit;
  uint32_t lsi;
  if (argc < 3 || !get_hit(env, argv[1], &hit) || !get_u32(env, argv[2], &lsi))
    return throw_type(env, "fpSetLsi(fp, hit, lsi)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  if (peer) peer->lsi = lsi;
  unlock_both(fp);
  return make_undefined(env);
}

// fpSeal(fp, hit, payload, nextHeader) -> Uint8Array | string (drop reason): JS-originated
// packets on a fast-path SA take its sequence numbers, so no nonce is ever used twice.
static napi_value fp_seal(napi_env env, napi_callback_info info) {
  ARGS(4);
  const uint8_t *hit;
  uint8_t *payload;
  size_t pl;
  uint32_t nh;
  if (argc < 4 || !get_hit(env, argv[1], &hit) || !get_typed(env, argv[2], 1, (void **)&payload, &pl) ||
      !get_u32(env, argv[3], &nh) || nh > 255)
    return throw_type(env, "fpSeal(fp, hit, payload, nextHeader)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (pl > 65535) return make_string(env, "esp-too-big");
  uint8_t *buf = malloc(ESP_GCM_OVERHEAD_HEAD + pl + ESP_GCM_TAILROOM);
  if (!buf) return throw_errno(env, "out of memory", ENOMEM);
  memcpy(buf + ESP_GCM_OVERHEAD_HEAD, payload, pl);
  fp_drop why = DROP_COUNT;
  size_t n = 0;
  pthread_mutex_lock(&fp->out_lock);
  fp_peer *peer = find_peer_hit(fp, hit);
  int has_sa = peer && peer->out;
  if (has_sa) n = seal_on(fp, peer, peer->out, buf + ESP_GCM_OVERHEAD_HEAD, pl, (uint8_t)nh, now_ms(), &why);
  pthread_mutex_unlock(&fp->out_lock);
  napi_value out = !has_sa ? make_string(env, "esp-out-no-sa")
                   : n ? make_bytes(env, buf, n) : make_string(env, FP_DROP_NAMES[why]);
  free(buf);
  return out;
}

// fpProcessTun(fp, packet) -> { datagram, socket } | { punt: true } | { drop: reason }
// The TX thread's per-packet path, run synchronously (tests cross-check it against JS).
static napi_value fp_process_tun(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint8_t *p;
  size_t len;
  if (argc < 2 || !get_typed(env, argv[1], 1, (void **)&p, &len)) return throw_type(env, "fpProcessTun(fp, packet)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (len > fp->slot_size - FP_HEADROOM - ESP_GCM_TAILROOM) return throw_type(env, "packet larger than a slot");
  uint8_t *slot = malloc(fp->slot_size);
  if (!slot) return throw_errno(env, "out of memory", ENOMEM);
  memcpy(slot + FP_HEADROOM, p, len);
  struct sockaddr_storage dest, copy_dest;
  tx_item item = {.dest = &dest}, copy = {.dest = &copy_dest};
  int copied = 0;
  fp_drop why = DROP_COUNT;
  pthread_mutex_lock(&fp->out_lock);
  tx_verdict v = tx_one(fp, slot + FP_HEADROOM, len, now_ms(), &item, &copy, &copied, &why);
  pthread_mutex_unlock(&fp->out_lock);
  napi_value out;
  napi_create_object(env, &out);
  if (v == TX_SEND) {
    napi_set_named_property(env, out, "datagram", make_bytes(env, item.data, item.len));
    napi_set_named_property(env, out, "socket", make_i32(env, item.sock));
    uint8_t a16[16];
    uint16_t port;
    sockaddr_to16(item.dest, a16, &port);
    napi_set_named_property(env, out, "address", make_bytes(env, a16, 16));
    napi_set_named_property(env, out, "port", make_i32(env, port));
    if (copied) napi_set_named_property(env, out, "spareSocket", make_i32(env, copy.sock));
  } else if (v == TX_PUNT) {
    napi_set_named_property(env, out, "punt", make_bool(env, 1));
  } else {
    napi_set_named_property(env, out, "drop", make_string(env, FP_DROP_NAMES[why]));
  }
  free(slot);
  return out;
}

// fpProcessUdp(fp, datagram) -> { inner } | { none: true } | { punt: true } | { drop: reason }
// The RX thread's per-packet path, run synchronously.
static napi_value fp_process_udp(napi_env env, napi_callback_info info) {
  ARGS(2);
  uint8_t *d;
  size_t len;
  if (argc < 2 || !get_typed(env, argv[1], 1, (void **)&d, &len)) return throw_type(env, "fpProcessUdp(fp, datagram)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (len > fp->slot_size - FP_HEADROOM) return throw_type(env, "datagram larger than a slot");
  uint8_t *slot = malloc(fp->slot_size);
  if (!slot) return throw_errno(env, "out of memory", ENOMEM);
  memcpy(slot + FP_HEADROOM, d, len);
  uint8_t hdr[IPV6_HEADER_LEN];
  uint8_t *body = NULL;
  size_t hdr_len = 0, body_len = 0;
  fp_drop why = DROP_COUNT;
  pthread_mutex_lock(&fp->in_lock);
  rx_verdict v = rx_one(fp, slot + FP_HEADROOM, len, now_ms(), hdr, &hdr_len, &body, &body_len, &why, NULL, -1);
  pthread_mutex_unlock(&fp->in_lock);
  napi_value out;
  napi_create_object(env, &out);
  if (v == RX_TUN) {
    // The same two parts the RX thread hands to writev, joined.
    uint8_t *inner = slot + FP_HEADROOM + ESP_GCM_OVERHEAD_HEAD - hdr_len;
    memmove(inner + hdr_len, body, body_len);
    memcpy(inner, hdr, hdr_len);
    napi_set_named_property(env, out, "inner", make_bytes(env, inner, hdr_len + body_len));
  }
  else if (v == RX_NONE) napi_set_named_property(env, out, "none", make_bool(env, 1));
  else if (v == RX_PUNT) napi_set_named_property(env, out, "punt", make_bool(env, 1));
  else napi_set_named_property(env, out, "drop", make_string(env, FP_DROP_NAMES[why]));
  free(slot);
  return out;
}

static const char *event_name(fp_event_type t) {
  switch (t) {
    case EV_ESP_HEARD: return "esp-heard";
    case EV_REKEY_NEEDED: return "rekey-needed";
    case EV_SOCKET_ERROR: return "socket-error";
    case EV_TUN_ERROR: return "tun-error";
    case EV_ESP_SOURCE: return "esp-source";
  }
  return "unknown";
}

// fpPoll(fp) -> events: the wake-up handler calls this first, then drains the punt queues.
static napi_value fp_poll(napi_env env, napi_callback_info info) {
  ARGS(1);
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  // Cleared before draining, so anything queued from here on wakes JS again.
  __atomic_store_n(&fp->notified, 0, __ATOMIC_RELEASE);
  fp_event evs[FP_EVENT_CAP];
  pthread_mutex_lock(&fp->ev_lock);
  int n = fp->ev_count;
  for (int i = 0; i < n; i++) evs[i] = fp->events[(fp->ev_head + i) % FP_EVENT_CAP];
  fp->ev_head = 0;
  fp->ev_count = 0;
  pthread_mutex_unlock(&fp->ev_lock);
  napi_value arr;
  napi_create_array_with_length(env, (size_t)n, &arr);
  for (int i = 0; i < n; i++) {
    napi_value o;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "type", make_string(env, event_name(evs[i].type)));
    if (evs[i].type == EV_ESP_HEARD || evs[i].type == EV_REKEY_NEEDED) {
      napi_set_named_property(env, o, "hit", make_bytes(env, evs[i].hit, 16));
      napi_set_named_property(env, o, "spi", make_double(env, evs[i].spi));
    } else if (evs[i].type == EV_ESP_SOURCE) {
      napi_set_named_property(env, o, "hit", make_bytes(env, evs[i].hit, 16));
      napi_set_named_property(env, o, "spi", make_double(env, evs[i].spi));
      napi_set_named_property(env, o, "address", make_bytes(env, evs[i].addr16, 16));
      napi_set_named_property(env, o, "port", make_i32(env, evs[i].port));
      napi_set_named_property(env, o, "socket", make_i32(env, evs[i].sock));
      napi_set_named_property(env, o, "bytes", make_double(env, evs[i].bytes));
    } else {
      napi_set_named_property(env, o, "errno", make_i32(env, evs[i].err));
      napi_set_named_property(env, o, "socket", make_i32(env, evs[i].sock));
      napi_set_named_property(env, o, "origin", make_i32(env, evs[i].origin));
      napi_set_named_property(env, o, "icmpType", make_i32(env, evs[i].icmp_type));
      napi_set_named_property(env, o, "icmpCode", make_i32(env, evs[i].icmp_code));
      if (evs[i].has_addr) {
        napi_set_named_property(env, o, "address", make_bytes(env, evs[i].addr16, 16));
        napi_set_named_property(env, o, "port", make_i32(env, evs[i].port));
      }
    }
    napi_set_element(env, arr, (uint32_t)i, o);
  }
  return arr;
}

static uint32_t take(fp_punt_ring *r, uint8_t *buf, size_t blen, uint32_t *lens, size_t nlens, uint32_t slot,
                     uint8_t *addrs, uint16_t *ports, uint8_t *socks) {
  uint32_t n = 0;
  pthread_mutex_lock(&r->lock);
  while (r->count > 0 && n < nlens && (size_t)(n + 1) * slot <= blen) {
    uint32_t i = r->head;
    uint32_t len = r->lens[i] < slot ? r->lens[i] : slot;
    memcpy(buf + (size_t)n * slot, r->buf + (size_t)i * r->slot, len);
    lens[n] = len;
    if (addrs) {
      memcpy(addrs + (size_t)n * 16, r->addrs + (size_t)i * 16, 16);
      ports[n] = r->ports[i];
      socks[n] = r->socks[i];
    }
    r->head = (r->head + 1) % r->cap;
    r->count--;
    n++;
  }
  pthread_mutex_unlock(&r->lock);
  return n;
}

// fpTakeTun(fp, buf, lengths, slotSize) -> count of TUN packets handed up
static napi_value fp_take_tun(napi_env env, napi_callback_info info) {
  ARGS(4);
  uint8_t *buf;
  uint32_t *lens, slot;
  size_t blen, nl;
  if (argc < 4 || !get_typed(env, argv[1], 1, (void **)&buf, &blen) ||
      !get_typed(env, argv[2], 4, (void **)&lens, &nl) || !get_u32(env, argv[3], &slot) || slot == 0)
    return throw_type(env, "fpTakeTun(fp, buf, lengths, slotSize)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  return make_i32(env, (int32_t)take(&fp->tun_punts, buf, blen, lens, nl, slot, NULL, NULL, NULL));
}

// Datagrams queued with where they were headed: copied out with their address, port and socket.
// The queue is picked after the handle is checked, so a bad handle never reads a queue.
typedef enum { ADDRESSED_UDP_PUNTS, ADDRESSED_STRANDED } addressed_queue;

static napi_value take_addressed(napi_env env, napi_callback_info info, addressed_queue which, const char *usage) {
  ARGS(7);
  uint8_t *buf, *addrs, *socks;
  uint32_t *lens, slot;
  uint16_t *ports;
  size_t blen, nl, an, pn, sn;
  if (argc < 7 || !get_typed(env, argv[1], 1, (void **)&buf, &blen) ||
      !get_typed(env, argv[2], 4, (void **)&lens, &nl) || !get_u32(env, argv[3], &slot) || slot == 0 ||
      !get_typed(env, argv[4], 1, (void **)&addrs, &an) || !get_typed(env, argv[5], 2, (void **)&ports, &pn) ||
      !get_typed(env, argv[6], 1, (void **)&socks, &sn))
    return throw_type(env, usage);
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  size_t cap = nl;
  if (an / 16 < cap) cap = an / 16;
  if (pn < cap) cap = pn;
  if (sn < cap) cap = sn;
  return make_i32(env, (int32_t)take(which == ADDRESSED_STRANDED ? &fp->stranded : &fp->udp_punts, buf, blen, lens, cap, slot,
                                     addrs, ports, socks));
}

// fpTakeUdp(fp, buf, lengths, slotSize, addrs16, ports, sockets: Uint8Array) -> count
static napi_value fp_take_udp(napi_env env, napi_callback_info info) {
  return take_addressed(env, info, ADDRESSED_UDP_PUNTS, "fpTakeUdp(fp, buf, lengths, slotSize, addrs16, ports, sockets)");
}

// fpTakeStranded(fp, buf, lengths, slotSize, addrs16, ports, sockets: Uint8Array) -> count of
// sealed datagrams whose send failed with the interface down (their old destination and socket)
static napi_value fp_take_stranded(napi_env env, napi_callback_info info) {
  return take_addressed(env, info, ADDRESSED_STRANDED, "fpTakeStranded(fp, buf, lengths, slotSize, addrs16, ports, sockets)");
}

// fpStats(fp) -> { peers: [...], drops: {...}, tunPacketsIn, tunPacketsOut, udpPacketsIn, udpPacketsOut }
/** One flow's counters, copied out under in_lock so that the JS objects are built after it. */
typedef struct {
  uint8_t hit[16];
  uint32_t fid;
  uint64_t packets_out, bytes_out, packets_in, bytes_in;
} flow_snapshot;

// fpStats(fp, withFlows = true): counters; without flows (the per-tick credit fold needs only
// the peers') a peer with many flows costs no object per flow.
static napi_value fp_stats(napi_env env, napi_callback_info info) {
  ARGS(2);
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  bool with_flows = true;
  if (argc >= 2 && napi_get_value_bool(env, argv[1], &with_flows) != napi_ok) with_flows = true;
  int64_t now = now_ms();
  napi_value out, peers, drops, flows, spreads;
  uint32_t nspreads = 0;
  napi_create_object(env, &out);
  napi_create_array(env, &peers);
  napi_create_array(env, &flows);
  napi_create_array(env, &spreads);
  napi_create_object(env, &drops);
  // Only the peer list needs the lock (it may grow); the counters are relaxed atomics. The flows
  // are copied out under it and their objects made after: the RX thread waits for in_lock, and
  // a JS object per flow for a peer with many flows would hold it for microseconds per call.
  pthread_mutex_lock(&fp->in_lock);
  size_t total = 0;
  for (int i = 0; with_flows && i < fp->npeers; i++) total += (size_t)fp->peers[i]->nflows;
  flow_snapshot *snap = total ? malloc(total * sizeof *snap) : NULL;
  uint32_t nflows = 0;
  for (int i = 0; i < fp->npeers; i++) {
    fp_peer *p = fp->peers[i];
    napi_value o, heard;
    napi_create_object(env, &o);
    napi_set_named_property(env, o, "hit", make_bytes(env, p->hit, 16));
    napi_set_named_property(env, o, "packetsIn", make_double(env, (double)load64(&p->packets_in)));
    napi_set_named_property(env, o, "bytesIn", make_double(env, (double)load64(&p->bytes_in)));
    napi_set_named_property(env, o, "packetsOut", make_double(env, (double)load64(&p->packets_out)));
    napi_set_named_property(env, o, "bytesOut", make_double(env, (double)load64(&p->bytes_out)));
    int64_t last = __atomic_load_n(&p->last_heard_ms, __ATOMIC_RELAXED);
    if (last < 0) napi_get_null(env, &heard);
    else heard = make_double(env, (double)(now > last ? now - last : 0));
    napi_set_named_property(env, o, "lastHeardAgoMs", heard);
    napi_value active;
    if (p->out) active = make_double(env, p->out->spi);
    else napi_get_null(env, &active);
    napi_set_named_property(env, o, "outboundSpi", active);
    napi_set_element(env, peers, (uint32_t)i, o);
    for (int k = 0; snap && k < p->nflows; k++) {
      fp_flow *f = &p->flows[k];
      flow_snapshot *c = &snap[nflows++];
      memcpy(c->hit, p->hit, 16);
      c->fid = f->fid;
      c->packets_out = load64(&f->packets_out);
      c->bytes_out = load64(&f->bytes_out);
      c->packets_in = load64(&f->packets_in);
      c->bytes_in = load64(&f->bytes_in);
    }
    // Spread members count what they carried out (their share), reported as FID 0 with their key.
    for (int k = 0; k < p->nspread; k++) {
      fp_flow *f = &p->spread[k];
      napi_value so;
      napi_create_object(env, &so);
      napi_set_named_property(env, so, "hit", make_bytes(env, p->hit, 16));
      napi_set_named_property(env, so, "spreadKey", make_double(env, f->spread_key));
      napi_set_named_property(env, so, "outboundSpi", make_double(env, f->spi));
      napi_set_named_property(env, so, "packetsOut", make_double(env, (double)load64(&f->packets_out)));
      napi_set_named_property(env, so, "bytesOut", make_double(env, (double)load64(&f->bytes_out)));
      napi_set_element(env, spreads, nspreads++, so);
    }
  }
  pthread_mutex_unlock(&fp->in_lock);
  for (uint32_t k = 0; k < nflows; k++) {
    const flow_snapshot *c = &snap[k];
    napi_value fo;
    napi_create_object(env, &fo);
    napi_set_named_property(env, fo, "hit", make_bytes(env, c->hit, 16));
    napi_set_named_property(env, fo, "fid", make_double(env, c->fid));
    napi_set_named_property(env, fo, "packetsOut", make_double(env, (double)c->packets_out));
    napi_set_named_property(env, fo, "bytesOut", make_double(env, (double)c->bytes_out));
    napi_set_named_property(env, fo, "packetsIn", make_double(env, (double)c->packets_in));
    napi_set_named_property(env, fo, "bytesIn", make_double(env, (double)c->bytes_in));
    napi_set_element(env, flows, k, fo);
  }
  free(snap);
  for (int d = 0; d < DROP_COUNT; d++) {
    uint64_t v = load64(&fp->drops[d]);
    if (v) napi_set_named_property(env, drops, FP_DROP_NAMES[d], make_double(env, (double)v));
  }
  napi_set_named_property(env, out, "peers", peers);
  napi_set_named_property(env, out, "flows", flows);
  napi_set_named_property(env, out, "spread", spreads);
  napi_set_named_property(env, out, "drops", drops);
  napi_set_named_property(env, out, "tunPacketsIn", make_double(env, (double)load64(&fp->tun_in)));
  napi_set_named_property(env, out, "tunPacketsOut", make_double(env, (double)load64(&fp->tun_out)));
  napi_set_named_property(env, out, "udpPacketsIn", make_double(env, (double)load64(&fp->udp_in)));
  napi_set_named_property(env, out, "udpPacketsOut", make_double(env, (double)load64(&fp->udp_out)));
  napi_set_named_property(env, out, "spareCopies", make_double(env, (double)load64(&fp->spare_copies)));
  napi_set_named_property(env, out, "spareCopiesFailed", make_double(env, (double)load64(&fp->spare_failed)));
  napi_set_named_property(env, out, "heldCopies", make_double(env, (double)load64(&fp->held_copies)));
  napi_set_named_property(env, out, "heldCopiesLost", make_double(env, (double)load64(&fp->held_lost)));
  return out;
}

// fpStop(fp): joins the threads; the tables stay readable (stats) until the handle is collected.
static napi_value fp_stop(napi_env env, napi_callback_info info) {
  ARGS(1);
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (fp->stopped) return make_undefined(env);
  stop_threads(fp);
  fp->stopped = 1;
  if (fp->wake_js) {
    napi_release_threadsafe_function(fp->wake_js, napi_tsfn_abort);
    fp->wake_js = NULL;
  }
  if (fp->hook_added) {
    napi_remove_env_cleanup_hook(env, fp_env_cleanup, fp);
    fp->hook_added = 0;
  }
  return make_undefined(env);
}

void fastpath_register(napi_env env, napi_value exports) {
  static const addon_fn fns[] = {
      {"cryptoStatus", crypto_status},  {"fpCreate", fp_create},
      {"fpSetLsi", fp_set_lsi},
      {"fpSeal", fp_seal},              {"fpProcessTun", fp_process_tun}, {"fpProcessUdp", fp_process_udp},
      {"fpPoll", fp_poll},              {"fpTakeTun", fp_take_tun},      {"fpTakeUdp", fp_take_udp},
      {"fpStats", fp_stats},            {"fpStop", fp_stop},             {"fpTakeStranded", fp_take_stranded},
      {"fpAddSocket", fp_add_socket},
      {"fpRemoveSocket", fp_remove_socket}, {"fpSetFlowRoutes", fp_set_flow_routes},
  };
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
  fastpath_peer_register(env, exports);
}
