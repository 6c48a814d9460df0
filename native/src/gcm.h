// AES-GCM for ESP (RFC 4106) through the host's libcrypto, loaded at run time: the addon never
// links against OpenSSL symbols, so it also loads in Electron, whose process exports BoringSSL.

#ifndef HIPVPN_GCM_H
#define HIPVPN_GCM_H

#include <stddef.h>
#include <stdint.h>

typedef struct gcm_key gcm_key;

// Loads libcrypto once (HIPVPN_LIBCRYPTO: a path to use instead, or "none" to act as if it is
// missing). Returns 1 when AES-GCM is usable; otherwise *reason says why.
int gcm_available(const char **library, const char **reason);

// A key schedule for one direction of one SA; not thread-safe (callers serialize per key).
gcm_key *gcm_key_new(const uint8_t *key, size_t key_len, const uint8_t salt[4], size_t icv_len, int encrypt);
void gcm_key_free(gcm_key *k);

// In place: ct[0, len) is encrypted, the ICV written to ct + len. iv8 is the packet's explicit IV.
int gcm_seal(gcm_key *k, const uint8_t iv8[8], const uint8_t *aad, size_t aad_len, uint8_t *ct, size_t len);
// In place: ct[0, len) decrypted when the ICV at ct + len verifies; 0 otherwise (plaintext junk).
int gcm_open(gcm_key *k, const uint8_t iv8[8], const uint8_t *aad, size_t aad_len, uint8_t *ct, size_t len);

#endif
