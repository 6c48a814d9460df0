// The per-packet ESP work of the fast path, without I/O or locking: classifying a TUN packet,
// BEET/IPv4-in-ESP encapsulation and sealing, opening with the anti-replay window, and
// rebuilding the inner packet for our TUN. It mirrors src-main/dataplane/packet.ts and
// src-main/esp (sa.ts, replay-window.ts) byte for byte; test/unit/dataplane-fastpath*.test.ts
// cross-checks the two.

#ifndef HIPVPN_ESP_PACKET_H
#define HIPVPN_ESP_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "gcm.h"

#define ESP_HEADER_LEN 8
#define GCM_IV_LEN 8
#define ESP_GCM_OVERHEAD_HEAD (ESP_HEADER_LEN + GCM_IV_LEN)
/** Worst-case octets sealing appends: 3 padding, pad length, next header, a 16-octet ICV. */
#define ESP_GCM_TAILROOM 24
#define IPV6_HEADER_LEN 40
#define IPPROTO_IPIP_ 4
#define IPPROTO_NONE_ 59
#define ESP_SEQ_MAX 0xffffffffULL

/** Bits of sequence-number history kept (replay-window.ts DEFAULT_REPLAY_WINDOW). */
#define REPLAY_WINDOW_BITS 2048
#define REPLAY_WORDS (REPLAY_WINDOW_BITS / 32 + 1)

typedef struct {
  uint32_t top;  // highest accepted sequence number; 0 before the first
  uint32_t words[REPLAY_WORDS];
} replay_window;

typedef enum { REPLAY_OK = 0, REPLAY_SEEN, REPLAY_TOO_OLD } replay_verdict;

replay_verdict replay_check(const replay_window *w, uint32_t seq);
void replay_accept(replay_window *w, uint32_t seq);

typedef enum { DEST_HIT, DEST_LSI, DEST_NOT_IP, DEST_TRUNCATED, DEST_NOT_HIP } dest_kind;

/** Where a TUN packet goes: a peer's HIT (at p + 24) or an LSI (*lsi). */
dest_kind inner_destination(const uint8_t *p, size_t len, uint32_t *lsi);

/**
 * What ESP carries for a TUN packet: for a HIT packet the octets after the IPv6 header
 * (*nh = its Next Header); for an LSI packet the whole IPv4 packet (*nh = 4). 0 if malformed.
 */
int esp_payload_of(dest_kind kind, uint8_t *p, size_t len, uint8_t **payload, size_t *payload_len, uint8_t *nh);

/**
 * Seals in place: the payload must have ESP_GCM_OVERHEAD_HEAD octets of room before it and
 * ESP_GCM_TAILROOM after. Returns the ESP packet's length (it starts at payload − 16); 0 on
 * a crypto failure.
 */
size_t esp_seal(gcm_key *k, size_t icv_len, uint32_t spi, uint32_t seq, uint8_t *payload, size_t payload_len,
                uint8_t nh);

typedef enum {
  OPEN_OK = 0, OPEN_TRUNCATED, OPEN_REPLAY, OPEN_TOO_OLD, OPEN_AUTH_FAILED, OPEN_BAD_PADDING
} open_status;

/**
 * Opens an ESP packet in place: checks the window, verifies and decrypts, checks the padding,
 * and only then moves the window (RFC 4303 §3.4.3). On OPEN_OK the payload is at
 * packet + 16, *payload_len octets, with next header *nh.
 */
open_status esp_open(gcm_key *k, size_t icv_len, replay_window *w, uint8_t *packet, size_t len, size_t *payload_len,
                     uint8_t *nh);

/** Length of a plausible IPv4 packet in p[0, len), or 0 (packet.ts ipv4PacketLength). */
size_t ipv4_packet_length(const uint8_t *p, size_t len);

/** Rewrites an IPv4 packet's addresses keeping header/TCP/UDP checksums valid (RFC 1624). */
void rewrite_ipv4_addresses(uint8_t *p, uint32_t new_src, uint32_t new_dst);

/** Writes the 40-octet IPv6 header of a BEET-rebuilt packet at out (payload follows it). */
void write_beet_header(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint8_t nh, size_t payload_len);

static inline uint32_t rd32(const uint8_t *b) {
  return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static inline void wr32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24);
  b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
}

#endif
