// See esp_packet.h. Nothing here reads past the lengths it is given.

#include "esp_packet.h"

#include <string.h>

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define REBUILT_HOP_LIMIT 64
#define RING_BITS (REPLAY_WORDS * 32)

static inline uint16_t rd16(const uint8_t *b) { return (uint16_t)((b[0] << 8) | b[1]); }

static inline void wr16(uint8_t *b, uint16_t v) {
  b[0] = (uint8_t)(v >> 8);
  b[1] = (uint8_t)v;
}

// ---------------------------------------------------------------------------------------------
// anti-replay window: a ring of bits, one spare word (RFC 6479 layout), as replay-window.ts

replay_verdict replay_check(const replay_window *w, uint32_t seq) {
  if (seq == 0) return REPLAY_TOO_OLD;
  if (seq > w->top) return REPLAY_OK;
  if (w->top - seq >= REPLAY_WINDOW_BITS) return REPLAY_TOO_OLD;
  uint32_t bit = seq % RING_BITS;
  return (w->words[bit >> 5] & (1u << (bit & 31))) ? REPLAY_SEEN : REPLAY_OK;
}

void replay_accept(replay_window *w, uint32_t seq) {
  if (seq == 0) return;
  if (seq > w->top) {
    uint32_t top_word = (w->top % RING_BITS) / 32;
    // Words the right edge passes over hold bits a whole ring older: clear them.
    uint32_t jump = seq / 32 - w->top / 32;
    if (jump >= REPLAY_WORDS) {
      memset(w->words, 0, sizeof w->words);
    } else {
      for (uint32_t k = 0, i = top_word; k < jump; k++) {
        i = i + 1 == REPLAY_WORDS ? 0 : i + 1;
        w->words[i] = 0;
      }
    }
    w->top = seq;
  } else if (w->top - seq >= REPLAY_WINDOW_BITS) {
    return;
  }
  uint32_t bit = seq % RING_BITS;
  w->words[bit >> 5] |= 1u << (bit & 31);
}

// ---------------------------------------------------------------------------------------------
// outbound

static int is_hit(const uint8_t *a) { return a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x00 && (a[3] & 0xf0) == 0x20; }

dest_kind inner_destination(const uint8_t *p, size_t len, uint32_t *lsi) {
  if (len < 1) return DEST_TRUNCATED;
  int version = p[0] >> 4;
  if (version == 6) {
    if (len < IPV6_HEADER_LEN) return DEST_TRUNCATED;
    return is_hit(p + 24) ? DEST_HIT : DEST_NOT_HIP;
  }
  if (version == 4) {
    if (len < 20) return DEST_TRUNCATED;
    uint32_t dst = rd32(p + 16);
    if (dst >> 24 != 1) return DEST_NOT_HIP;
    *lsi = dst;
    return DEST_LSI;
  }
  return DEST_NOT_IP;
}

size_t ipv4_packet_length(const uint8_t *p, size_t len) {
  if (len < 20 || p[0] >> 4 != 4) return 0;
  size_t ihl = (size_t)(p[0] & 0x0f) * 4;
  size_t total = rd16(p + 2);
  if (ihl < 20 || total < ihl || total > len) return 0;
  return total;
}

int esp_payload_of(dest_kind kind, uint8_t *p, size_t len, uint8_t **payload, size_t *payload_len, uint8_t *nh) {
  if (kind == DEST_HIT) {
    size_t pl = rd16(p + 4);
    if (len < IPV6_HEADER_LEN || IPV6_HEADER_LEN + pl > len) return 0;
    *payload = p + IPV6_HEADER_LEN;
    *payload_len = pl;
    *nh = p[6];
    return 1;
  }
  size_t total = ipv4_packet_length(p, len);
  if (!total) return 0;
  *payload = p;
  *payload_len = total;
  *nh = IPPROTO_IPIP_;
  return 1;
}

size_t esp_seal(gcm_key *k, size_t icv_len, uint32_t spi, uint32_t seq, uint8_t *payload, size_t payload_len,
                uint8_t nh) {
  uint8_t *esp = payload - ESP_GCM_OVERHEAD_HEAD;
  wr32(esp, spi);
  wr32(esp + 4, seq);
  // RFC 4106 asks only for a unique IV per key: the sequence number, zero-extended (sa.ts).
  memset(esp + 8, 0, 4);
  wr32(esp + 12, seq);
  // AES-GCM's ESP block size is 4 (RFC 4106 §3.2); default padding 1, 2, 3 (RFC 4303 §2.4).
  size_t pad = (4 - ((payload_len + 2) % 4)) % 4;
  uint8_t *t = payload + payload_len;
  for (size_t i = 1; i <= pad; i++) *t++ = (uint8_t)i;
  *t++ = (uint8_t)pad;
  *t++ = nh;
  size_t ct_len = payload_len + pad + 2;
  if (!gcm_seal(k, esp + 8, esp, ESP_HEADER_LEN, payload, ct_len)) return 0;
  return ESP_GCM_OVERHEAD_HEAD + ct_len + icv_len;
}

// ---------------------------------------------------------------------------------------------
// inbound

open_status esp_open(gcm_key *k, size_t icv_len, replay_window *w, uint8_t *packet, size_t len, size_t *payload_len,
                     uint8_t *nh) {
  // Smallest GCM ciphertext is pad length ‖ next header (sa.ts does not insist on alignment).
  if (len < ESP_GCM_OVERHEAD_HEAD + 2 + icv_len) return OPEN_TRUNCATED;
  uint32_t seq = rd32(packet + 4);
  // Before the costly ICV, so floods of replays are cheap to drop.
  replay_verdict v = replay_check(w, seq);
  if (v != REPLAY_OK) return v == REPLAY_SEEN ? OPEN_REPLAY : OPEN_TOO_OLD;
  uint8_t *ct = packet + ESP_GCM_OVERHEAD_HEAD;
  size_t ct_len = len - ESP_GCM_OVERHEAD_HEAD - icv_len;
  if (!gcm_open(k, packet + 8, packet, ESP_HEADER_LEN, ct, ct_len)) return OPEN_AUTH_FAILED;
  size_t pad = ct[ct_len - 2];
  if (pad + 2 > ct_len) return OPEN_BAD_PADDING;
  size_t pl = ct_len - 2 - pad;
  for (size_t i = 0; i < pad; i++)
    if (ct[pl + i] != (uint8_t)(i + 1)) return OPEN_BAD_PADDING;
  replay_accept(w, seq);
  *payload_len = pl;
  *nh = ct[ct_len - 1];
  return OPEN_OK;
}

static uint32_t fold(uint32_t s) {
  while (s > 0xffff) s = (s & 0xffff) + (s >> 16);
  return s;
}

static uint16_t ipv4_header_checksum(const uint8_t *p) {
  size_t ihl = (size_t)(p[0] & 0x0f) * 4;
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < ihl; i += 2)
    if (i != 10) s += rd16(p + i);
  return (uint16_t)(~fold(s) & 0xffff);
}

// RFC 1624 eqn. 3 over the four 16-bit words of two changed 32-bit addresses.
static uint16_t adjust_checksum(uint16_t hc, uint32_t old_src, uint32_t old_dst, uint32_t new_src, uint32_t new_dst) {
  uint32_t s = ~hc & 0xffff;
  const uint32_t pairs[2][2] = {{old_src, new_src}, {old_dst, new_dst}};
  for (int i = 0; i < 2; i++) {
    uint32_t m = pairs[i][0], m2 = pairs[i][1];
    s += (~(m >> 16) & 0xffff) + (m2 >> 16);
    s += (~m & 0xffff) + (m2 & 0xffff);
  }
  return (uint16_t)(~fold(s) & 0xffff);
}

void rewrite_ipv4_addresses(uint8_t *p, uint32_t new_src, uint32_t new_dst) {
  size_t ihl = (size_t)(p[0] & 0x0f) * 4;
  uint32_t old_src = rd32(p + 12), old_dst = rd32(p + 16);
  wr32(p + 12, new_src);
  wr32(p + 16, new_dst);
  wr16(p + 10, ipv4_header_checksum(p));
  // Only the first fragment carries the transport header.
  if ((((p[6] & 0x1f) << 8) | p[7]) != 0) return;
  size_t total = rd16(p + 2);
  if (p[9] == IPPROTO_TCP_ && total >= ihl + 18) {
    uint8_t *c = p + ihl + 16;
    wr16(c, adjust_checksum(rd16(c), old_src, old_dst, new_src, new_dst));
  } else if (p[9] == IPPROTO_UDP_ && total >= ihl + 8) {
    uint8_t *c = p + ihl + 6;
    uint16_t hc = rd16(c);
    if (hc == 0) return;  // "no checksum" stays so
    uint16_t next = adjust_checksum(hc, old_src, old_dst, new_src, new_dst);
    wr16(c, next == 0 ? 0xffff : next);
  }
}

void write_beet_header(uint8_t *out, const uint8_t src[16], const uint8_t dst[16], uint8_t nh, size_t payload_len) {
  out[0] = 0x60;
  out[1] = out[2] = out[3] = 0;
  wr16(out + 4, (uint16_t)payload_len);
  out[6] = nh;
  out[7] = REBUILT_HOP_LIMIT;
  memcpy(out + 8, src, 16);
  memcpy(out + 24, dst, 16);
}
