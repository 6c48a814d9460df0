// N-API bindings of a peer's SAs and paths: installing, adding, promoting, removing and retiring
// SAs, and where they send (path, spare, held copies), under the locks the packet threads
// respect (see fastpath.c).

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fastpath.h"
#include "addon_common.h"
#include "fastpath_napi.h"

/** Adds an inbound SA for the peer, replacing one with its SPI; both locks. 0 when out of memory. */
static int place_inbound(fastpath *fp, fp_peer *peer, fp_in_sa *s) {
  s->peer = peer;
  // A new association or rekey: its first packet reports where the peer's ESP arrives.
  peer->arrival_known = 0;
  for (int i = 0; i < fp->nin; i++)
    if (fp->in_sas[i]->spi == s->spi) remove_in_at(fp, i--);
  if (fp->nin == fp->in_cap) {
    int cap = fp->in_cap ? fp->in_cap * 2 : 8;
    fp_in_sa **grown = realloc(fp->in_sas, (size_t)cap * sizeof *grown);
    if (!grown) return 0;
    fp->in_sas = grown;
    fp->in_cap = cap;
  }
  fp->in_sas[fp->nin++] = s;
  return 1;
}

static fp_out_sa *new_out_sa(uint32_t spi, uint32_t icv, const uint8_t *key, size_t key_len, const uint8_t *salt,
                             double lifetime, double threshold, double next_seq) {
  fp_out_sa *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->key = gcm_key_new(key, key_len, salt, icv, 1);
  if (!o->key) {
    free(o);
    return NULL;
  }
  o->spi = spi;
  o->seq = (uint64_t)next_seq - 1;
  o->seq_rekey_threshold = (uint64_t)threshold;
  o->created_ms = now_ms();
  o->lifetime_ms = (int64_t)lifetime;
  o->icv_len = icv;
  o->sock = -1;  // no path until setPath names it (further SAs) or install gives one
  return o;
}

static fp_in_sa *new_in_sa(uint32_t spi, uint32_t icv, const uint8_t *key, size_t key_len, const uint8_t *salt) {
  fp_in_sa *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->key = gcm_key_new(key, key_len, salt, icv, 0);
  if (!s->key) {
    free(s);
    return NULL;
  }
  s->spi = spi;
  s->icv_len = icv;
  s->retire_at_ms = INT64_MAX;
  return s;
}

/** Whether a sequence number a new outbound SA may start at. */
static int next_seq_ok(double next_seq) { return next_seq >= 1 && next_seq <= ESP_SEQ_MAX + 1.0; }

// fpInstall(fp, hit, lsi, icvLength, outSpi, outKey, outSalt, inSpi, inKey, inSalt, remote16,
//           port, socketIndex, lifetimeMs, seqRekeyThreshold, nextSeq) -> boolean
// Replaces the peer's base outbound SA and adds the inbound one (the one it replaces stays until
// retired). Further SAs stay; the new base SA carries the traffic only when the old one did (or
// none did). False when the keys do not fit AES-GCM.
static napi_value fp_install(napi_env env, napi_callback_info info) {
  ARGS(16);
  const uint8_t *hit, *out_key, *out_salt, *in_key, *in_salt, *remote16;
  size_t out_key_len, out_salt_len, in_key_len, in_salt_len, rn;
  uint32_t lsi, icv, out_spi, in_spi, port;
  int32_t sock;
  double lifetime, threshold, next_seq;
  if (argc < 16 || !get_hit(env, argv[1], &hit) || !get_u32(env, argv[2], &lsi) || !get_u32(env, argv[3], &icv) ||
      !get_u32(env, argv[4], &out_spi) || !get_typed(env, argv[5], 1, (void **)&out_key, &out_key_len) ||
      !get_typed(env, argv[6], 1, (void **)&out_salt, &out_salt_len) || !get_u32(env, argv[7], &in_spi) ||
      !get_typed(env, argv[8], 1, (void **)&in_key, &in_key_len) ||
      !get_typed(env, argv[9], 1, (void **)&in_salt, &in_salt_len) ||
      !get_typed(env, argv[10], 1, (void **)&remote16, &rn) || rn != 16 || !get_port(env, argv[11], &port) ||
      !get_i32(env, argv[12], &sock) || !get_amount(env, argv[13], &lifetime) ||
      !get_amount(env, argv[14], &threshold) || !get_amount(env, argv[15], &next_seq))
    return throw_type(env, "fpInstall(fp, hit, lsi, icv, outSpi, outKey, outSalt, inSpi, inKey, inSalt, remote16, port, sock, lifetimeMs, seqRekeyThreshold, nextSeq)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (fp->stopped || out_salt_len != 4 || in_salt_len != 4 || !next_seq_ok(next_seq)) return make_bool(env, 0);
  fp_out_sa *o = new_out_sa(out_spi, icv, out_key, out_key_len, out_salt, lifetime, threshold, next_seq);
  fp_in_sa *s = new_in_sa(in_spi, icv, in_key, in_key_len, in_salt);
  if (!o || !s) {
    out_sa_free(o);
    in_sa_free(s);
    return make_bool(env, 0);
  }
  lock_both(fp);
  fp_peer *peer = peer_for(fp, hit, lsi);
  int placed = 0;
  if (peer) {
    set_remote(fp, o, remote16, (uint16_t)port, sock);
    if (peer->out == peer->base) peer->out = o;
    out_sa_free(peer->base);
    peer->base = o;
    placed = place_inbound(fp, peer, s);
  }
  unlock_both(fp);
  if (!peer) out_sa_free(o);
  if (!placed) in_sa_free(s);
  return make_bool(env, peer && placed);
}

// fpDropOutbound(fp, hit): forgets the base outbound SA (e.g. its rekeyed successor is CBC, which
// JS holds); when it carried the traffic, the peer's traffic goes up to JS again.
static napi_value fp_drop_outbound(napi_env env, napi_callback_info info) {
  ARGS(2);
  const uint8_t *hit;
  if (argc < 2 || !get_hit(env, argv[1], &hit)) return throw_type(env, "fpDropOutbound(fp, hit)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  if (peer) {
    if (peer->out == peer->base) peer->out = NULL;
    out_sa_free(peer->base);
    peer->base = NULL;
  }
  unlock_both(fp);
  return make_undefined(env);
}

// fpDropSas(fp, hit): association closed or failed: every SA of the peer (base and further) and
// its spare go. The peer (and its counters) stay.
static napi_value fp_drop_sas(napi_env env, napi_callback_info info) {
  ARGS(2);
  const uint8_t *hit;
  if (argc < 2 || !get_hit(env, argv[1], &hit)) return throw_type(env, "fpDropSas(fp, hit)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  if (peer) {
    peer_drop_outbound_all(peer);
    for (int i = 0; i < fp->nin; i++)
      if (fp->in_sas[i]->peer == peer) remove_in_at(fp, i--);
  }
  unlock_both(fp);
  return make_undefined(env);
}

// fpRetireInbound(fp, spi, afterMs) -> boolean (whether the fast path holds that SPI)
static napi_value fp_retire_inbound(napi_env env, napi_callback_info info) {
  ARGS(3);
  uint32_t spi;
  double after;
  if (argc < 3 || !get_u32(env, argv[1], &spi) || !get_amount(env, argv[2], &after))
    return throw_type(env, "fpRetireInbound(fp, spi, afterMs)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  pthread_mutex_lock(&fp->in_lock);
  fp_in_sa *s = find_in(fp, spi);
  if (s) s->retire_at_ms = now_ms() + (int64_t)(after < 0 ? 0 : after);
  pthread_mutex_unlock(&fp->in_lock);
  return make_bool(env, s != NULL);
}

// fpTick(fp): frees inbound SAs whose grace period is over.
static napi_value fp_tick(napi_env env, napi_callback_info info) {
  ARGS(1);
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  int64_t now = now_ms();
  lock_both(fp);
  for (int i = 0; i < fp->nin; i++)
    if (fp->in_sas[i]->retire_at_ms <= now) remove_in_at(fp, i--);
  unlock_both(fp);
  return make_undefined(env);
}

static int same_destination(const fp_spare *sp, const fp_out_sa *o) {
  return sp->sock == o->sock && sp->remote_len == o->remote_len && memcmp(&sp->remote, &o->remote, o->remote_len) == 0;
}

// fpSetPath(fp, hit, remote16, port, socketIndex, outboundSpi?): mobility moved the peer. With
// outboundSpi, that one of the peer's outbound SAs carries its traffic from now on (an SPI the
// peer has no SA for switches nothing). Moving onto the spare's destination ends the spare.
static napi_value fp_set_path(napi_env env, napi_callback_info info) {
  ARGS(6);
  const uint8_t *hit, *remote16;
  size_t rn;
  uint32_t port, spi = 0;
  int32_t sock;
  napi_valuetype t = napi_undefined;
  if (argc < 5 || !get_hit(env, argv[1], &hit) || !get_typed(env, argv[2], 1, (void **)&remote16, &rn) || rn != 16 ||
      !get_port(env, argv[3], &port) || !get_i32(env, argv[4], &sock) ||
      (argc > 5 && (napi_typeof(env, argv[5], &t) != napi_ok || (t != napi_undefined && !get_u32(env, argv[5], &spi)))))
    return throw_type(env, "fpSetPath(fp, hit, remote16, port, sock, outboundSpi?)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  int has_spi = argc > 5 && t != napi_undefined;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  if (peer && has_spi) {
    fp_out_sa *o = peer_out_by_spi(peer, spi);
    if (o) peer->out = o;
  }
  if (peer && peer->out) {
    set_remote(fp, peer->out, remote16, (uint16_t)port, sock);
    if (peer->spare.until_ms && same_destination(&peer->spare, peer->out)) peer->spare.until_ms = 0;
  }
  unlock_both(fp);
  return make_undefined(env);
}

// fpSetSpare(fp, hit, remote16 | null, port, socketIndex, forMs): for forMs from now every
// datagram sealed for the peer also goes to this destination (0 ms or null: no more copies).
static napi_value fp_set_spare(napi_env env, napi_callback_info info) {
  ARGS(6);
  const uint8_t *hit, *remote16 = NULL;
  size_t rn = 0;
  uint32_t port;
  int32_t sock;
  double for_ms;
  napi_valuetype t;
  if (argc < 6 || !get_hit(env, argv[1], &hit) || napi_typeof(env, argv[2], &t) != napi_ok ||
      (t != napi_null && (!get_typed(env, argv[2], 1, (void **)&remote16, &rn) || rn != 16)) ||
      !get_port(env, argv[3], &port) || !get_i32(env, argv[4], &sock) || !get_amount(env, argv[5], &for_ms))
    return throw_type(env, "fpSetSpare(fp, hit, remote16 | null, port, sock, forMs)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  if (peer) {
    fp_spare *sp = &peer->spare;
    sp->until_ms = 0;
    if (remote16 && for_ms >= 1) {
      sp->sock = pick_socket(fp, sock, remote16);
      int family = sp->sock >= 0 ? fp->socks[sp->sock].family : AF_INET6;
      sp->remote_len = sockaddr_from16(family, remote16, (uint16_t)port, &sp->remote);
      // A copy to where the datagram goes anyway would only be dropped by the receiver.
      if (!peer->out || !same_destination(sp, peer->out)) sp->until_ms = now_ms() + (int64_t)for_ms;
    }
  }
  unlock_both(fp);
  return make_undefined(env);
}

// fpSetHeld(fp, hit, on): while on, a copy of every datagram sealed for the peer is queued for
// fpTakeStranded (flagged FP_STRANDED_HELD) after it is sent: its path is in doubt, and JS
// re-sends the copies on the pair the peer moves to.
static napi_value fp_set_held(napi_env env, napi_callback_info info) {
  ARGS(3);
  const uint8_t *hit;
  bool on;
  if (argc < 3 || !get_hit(env, argv[1], &hit) || napi_get_value_bool(env, argv[2], &on) != napi_ok)
    return throw_type(env, "fpSetHeld(fp, hit, on)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  if (peer) peer->held = on ? 1 : 0;
  unlock_both(fp);
  return make_undefined(env);
}

// fpAddOutbound(fp, hit, spi, icvLength, key, salt, lifetimeMs, seqRekeyThreshold, nextSeq) -> boolean
// A further outbound SA of a peer the fast path has an install() for; it carries the peer's
// traffic once fpSetPath names it. One with the SPI of a further SA replaces it (keeping its path
// and whether it is the active one). False for the base SA's SPI or an unknown peer.
static napi_value fp_add_outbound(napi_env env, napi_callback_info info) {
  ARGS(9);
  const uint8_t *hit, *key, *salt;
  size_t key_len, salt_len;
  uint32_t spi, icv;
  double lifetime, threshold, next_seq;
  if (argc < 9 || !get_hit(env, argv[1], &hit) || !get_u32(env, argv[2], &spi) || !get_u32(env, argv[3], &icv) ||
      !get_typed(env, argv[4], 1, (void **)&key, &key_len) || !get_typed(env, argv[5], 1, (void **)&salt, &salt_len) ||
      !get_amount(env, argv[6], &lifetime) || !get_amount(env, argv[7], &threshold) || !get_amount(env, argv[8], &next_seq))
    return throw_type(env, "fpAddOutbound(fp, hit, spi, icv, key, salt, lifetimeMs, seqRekeyThreshold, nextSeq)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (fp->stopped || salt_len != 4 || !next_seq_ok(next_seq)) return make_bool(env, 0);
  fp_out_sa *o = new_out_sa(spi, icv, key, key_len, salt, lifetime, threshold, next_seq);
  if (!o) return make_bool(env, 0);
  int placed = 0;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  fp_out_sa *same = peer ? peer_out_by_spi(peer, spi) : NULL;
  if (peer && same && same != peer->base) {
    for (int i = 0; i < peer->nextra; i++) {
      if (peer->extra[i] != same) continue;
      o->sock = same->sock;
      o->remote = same->remote;
      o->remote_len = same->remote_len;
      peer->extra[i] = o;
      if (peer->out == same) peer->out = o;
      out_sa_free(same);
      placed = 1;
      break;
    }
  } else if (peer && !same) {
    if (peer->nextra == peer->extra_cap) {
      int cap = peer->extra_cap ? peer->extra_cap * 2 : 2;
      fp_out_sa **grown = realloc(peer->extra, (size_t)cap * sizeof *grown);
      if (grown) {
        peer->extra = grown;
        peer->extra_cap = cap;
      }
    }
    if (peer->nextra < peer->extra_cap) {
      peer->extra[peer->nextra++] = o;
      placed = 1;
    }
  }
  unlock_both(fp);
  if (!placed) out_sa_free(o);
  return make_bool(env, placed);
}

// fpAddInbound(fp, hit, spi, icvLength, key, salt) -> boolean: a further inbound SA, opening
// packets for the peer at once (it is retired with fpRetireInbound like any other).
static napi_value fp_add_inbound(napi_env env, napi_callback_info info) {
  ARGS(6);
  const uint8_t *hit, *key, *salt;
  size_t key_len, salt_len;
  uint32_t spi, icv;
  if (argc < 6 || !get_hit(env, argv[1], &hit) || !get_u32(env, argv[2], &spi) || !get_u32(env, argv[3], &icv) ||
      !get_typed(env, argv[4], 1, (void **)&key, &key_len) || !get_typed(env, argv[5], 1, (void **)&salt, &salt_len))
    return throw_type(env, "fpAddInbound(fp, hit, spi, icv, key, salt)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (fp->stopped || salt_len != 4) return make_bool(env, 0);
  fp_in_sa *s = new_in_sa(spi, icv, key, key_len, salt);
  if (!s) return make_bool(env, 0);
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  int placed = peer && place_inbound(fp, peer, s);
  unlock_both(fp);
  if (!placed) in_sa_free(s);
  return make_bool(env, placed);
}

// fpRemoveOutbound(fp, hit, spi): forgets a further outbound SA; when it carried the traffic,
// the base SA takes over on the path it last had. The base SA's SPI is left alone (install
// and fpDropOutbound own it).
static napi_value fp_remove_outbound(napi_env env, napi_callback_info info) {
  ARGS(3);
  const uint8_t *hit;
  uint32_t spi;
  if (argc < 3 || !get_hit(env, argv[1], &hit) || !get_u32(env, argv[2], &spi))
    return throw_type(env, "fpRemoveOutbound(fp, hit, spi)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  for (int i = 0; peer && i < peer->nextra; i++) {
    fp_out_sa *o = peer->extra[i];
    if (o->spi != spi) continue;
    if (peer->out == o) peer->out = peer->base;
    peer->extra[i] = peer->extra[--peer->nextra];
    out_sa_free(o);
    break;
  }
  unlock_both(fp);
  return make_undefined(env);
}

// fpPromoteBase(fp, hit, spi) -> boolean: the further outbound SA `spi` becomes the peer's base
// SA (the base pair's rekey answered by us, promoted once the peer holds the new pair); the old
// base SA goes, and the new one takes its path. When the old base SA carried the traffic, the
// new one does. False (nothing changes) when the peer has no further SA with that SPI.
static napi_value fp_promote_base(napi_env env, napi_callback_info info) {
  ARGS(3);
  const uint8_t *hit;
  uint32_t spi;
  if (argc < 3 || !get_hit(env, argv[1], &hit) || !get_u32(env, argv[2], &spi))
    return throw_type(env, "fpPromoteBase(fp, hit, spi)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  int promoted = 0;
  lock_both(fp);
  fp_peer *peer = find_peer_hit(fp, hit);
  for (int i = 0; peer && i < peer->nextra; i++) {
    fp_out_sa *o = peer->extra[i];
    if (o->spi != spi) continue;
    peer->extra[i] = peer->extra[--peer->nextra];
    fp_out_sa *old = peer->base;
    if (old) {
      // The base SA's path, as the fallback removeOutbound takes, is the old one's.
      o->sock = old->sock;
      o->remote = old->remote;
      o->remote_len = old->remote_len;
      if (peer->out == old) peer->out = o;
    }
    out_sa_free(old);
    peer->base = o;
    promoted = 1;
    break;
  }
  unlock_both(fp);
  return make_bool(env, promoted);
}

// fpSetNextSeq(fp, hit, spi, nextSeq) -> boolean: the peer's outbound SA `spi` (base or further)
// seals its next packet with sequence number nextSeq (1 .. 2^32). A test hook: it starts one SA
// near the end of its sequence space to force its rekey; nothing else may move a sequence number
// back (RFC 4303 §3.3.3). Its rekey trigger is left as it was. False for an unknown SA.
static napi_value fp_set_next_seq(napi_env env, napi_callback_info info) {
  ARGS(4);
  const uint8_t *hit;
  uint32_t spi;
  double next_seq;
  if (argc < 4 || !get_hit(env, argv[1], &hit) || !get_u32(env, argv[2], &spi) || !get_amount(env, argv[3], &next_seq))
    return throw_type(env, "fpSetNextSeq(fp, hit, spi, nextSeq)");
  fastpath *fp = unwrap_fp(env, argv[0]);
  if (!fp) return NULL;
  if (!next_seq_ok(next_seq)) return make_bool(env, 0);
  pthread_mutex_lock(&fp->out_lock);
  fp_peer *peer = find_peer_hit(fp, hit);
  fp_out_sa *o = peer ? peer_out_by_spi(peer, spi) : NULL;
  if (o) o->seq = (uint64_t)next_seq - 1;
  pthread_mutex_unlock(&fp->out_lock);
  return make_bool(env, o != NULL);
}

void fastpath_peer_register(napi_env env, napi_value exports) {
  static const addon_fn fns[] = {
      {"fpInstall", fp_install},           {"fpDropOutbound", fp_drop_outbound}, {"fpDropSas", fp_drop_sas},
      {"fpRetireInbound", fp_retire_inbound}, {"fpTick", fp_tick},            {"fpAddOutbound", fp_add_outbound},
      {"fpAddInbound", fp_add_inbound},    {"fpRemoveOutbound", fp_remove_outbound},
      {"fpPromoteBase", fp_promote_base},  {"fpSetNextSeq", fp_set_next_seq}, {"fpSetPath", fp_set_path},
      {"fpSetSpare", fp_set_spare},        {"fpSetHeld", fp_set_held},
  };
  export_functions(env, exports, fns, sizeof fns / sizeof fns[0]);
}
