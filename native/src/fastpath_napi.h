// What the fast path's N-API files share: argument checks, value makers, the handle and the
// table locks (fastpath_napi.c: lifetime, sockets, flows, packets, stats;
// fastpath_peer_napi.c: a peer's SAs and paths).

#ifndef FASTPATH_NAPI_H
#define FASTPATH_NAPI_H

#include <node_api.h>
#include <stdint.h>

#include "fastpath.h"

fastpath *unwrap_fp(napi_env env, napi_value v);
int get_hit(napi_env env, napi_value v, const uint8_t **hit);
/**
 * Every number passed as a double is a count, a sequence number or a duration: finite,
 * non-negative and exact (<= 2^53), or the call throws before it reaches an integer cast.
 */
int get_amount(napi_env env, napi_value v, double *out);
int get_port(napi_env env, napi_value v, uint32_t *out);
napi_value make_double(napi_env env, double v);
napi_value make_bool(napi_env env, int v);
napi_value make_string(napi_env env, const char *s);
napi_value make_bytes(napi_env env, const uint8_t *p, size_t n);
void wake_rx(fastpath *fp);
void lock_both(fastpath *fp);
void unlock_both(fastpath *fp);
/** The peer with this HIT (its LSI set), added when not known yet; both locks. NULL when out of memory. */
fp_peer *peer_for(fastpath *fp, const uint8_t *hit, uint32_t lsi);
/** The peer with this HIT, added (LSI 0 until install names it) when not known yet; both locks. */
fp_peer *peer_for_hit(fastpath *fp, const uint8_t *hit);

void fastpath_peer_register(napi_env env, napi_value exports);

#endif
