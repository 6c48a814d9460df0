// Run-time binding to libcrypto's EVP AES-GCM. dlopen with RTLD_DEEPBIND so libcrypto's own
// internal calls resolve inside itself, not to same-named symbols Node or Electron export.

#include "gcm.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct evp_cipher_ctx EVP_CIPHER_CTX;
typedef struct evp_cipher EVP_CIPHER;

// Stable EVP_CTRL_* values (identical in OpenSSL 1.1 and 3).
#define CTRL_GCM_GET_TAG 0x10
#define CTRL_GCM_SET_TAG 0x11

static struct {
  EVP_CIPHER_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_CIPHER_CTX *);
  const EVP_CIPHER *(*aes128)(void);
  const EVP_CIPHER *(*aes256)(void);
  int (*enc_init)(EVP_CIPHER_CTX *, const EVP_CIPHER *, void *, const uint8_t *, const uint8_t *);
  int (*enc_update)(EVP_CIPHER_CTX *, uint8_t *, int *, const uint8_t *, int);
  int (*enc_final)(EVP_CIPHER_CTX *, uint8_t *, int *);
  int (*dec_init)(EVP_CIPHER_CTX *, const EVP_CIPHER *, void *, const uint8_t *, const uint8_t *);
  int (*dec_update)(EVP_CIPHER_CTX *, uint8_t *, int *, const uint8_t *, int);
  int (*dec_final)(EVP_CIPHER_CTX *, uint8_t *, int *);
  int (*ctrl)(EVP_CIPHER_CTX *, int, int, void *);
} evp;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static const char *load_reason = "not loaded";
static char load_library[256];
static char reason_buf[512];

struct gcm_key {
  EVP_CIPHER_CTX *ctx;
  uint8_t salt[4];
  size_t icv_len;
  int encrypt;
};

static void *resolve(void *lib, const char *name, int *missing) {
  void *p = dlsym(lib, name);
  if (!p) *missing = 1;
  return p;
}

static void load(void) {
  const char *override = getenv("HIPVPN_LIBCRYPTO");
  if (override && strcmp(override, "none") == 0) {
    load_reason = "disabled by HIPVPN_LIBCRYPTO=none";
    return;
  }
  const char *candidates[] = {override && override[0] ? override : "libcrypto.so.3", "libcrypto.so.1.1"};
  size_t ncand = override && override[0] ? 1 : 2;
  void *lib = NULL;
  for (size_t i = 0; i < ncand && !lib; i++) {
    lib = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (lib) snprintf(load_library, sizeof load_library, "%s", candidates[i]);
  }
  if (!lib) {
    const char *err = dlerror();
    snprintf(reason_buf, sizeof reason_buf, "libcrypto not found (%s)", err ? err : "dlopen failed");
    load_reason = reason_buf;
    return;
  }
  int missing = 0;
  *(void **)&evp.ctx_new = resolve(lib, "EVP_CIPHER_CTX_new", &missing);
  *(void **)&evp.ctx_free = resolve(lib, "EVP_CIPHER_CTX_free", &missing);
  *(void **)&evp.aes128 = resolve(lib, "EVP_aes_128_gcm", &missing);
  *(void **)&evp.aes256 = resolve(lib, "EVP_aes_256_gcm", &missing);
  *(void **)&evp.enc_init = resolve(lib, "EVP_EncryptInit_ex", &missing);
  *(void **)&evp.enc_update = resolve(lib, "EVP_EncryptUpdate", &missing);
  *(void **)&evp.enc_final = resolve(lib, "EVP_EncryptFinal_ex", &missing);
  *(void **)&evp.dec_init = resolve(lib, "EVP_DecryptInit_ex", &missing);
  *(void **)&evp.dec_update = resolve(lib, "EVP_DecryptUpdate", &missing);
  *(void **)&evp.dec_final = resolve(lib, "EVP_DecryptFinal_ex", &missing);
  *(void **)&evp.ctrl = resolve(lib, "EVP_CIPHER_CTX_ctrl", &missing);
  if (missing) {
    snprintf(reason_buf, sizeof reason_buf, "%s lacks the EVP AES-GCM functions", load_library);
    load_reason = reason_buf;
    dlclose(lib);
    return;
  }
  // Deliberately never dlclosed: keys may outlive any one user of this module.
  loaded = 1;
  load_reason = "";
}

int gcm_available(const char **library, const char **reason) {
  pthread_once(&load_once, load);
  if (library) *library = loaded ? load_library : "";
  if (reason) *reason = load_reason;
  return loaded;
}

gcm_key *gcm_key_new(const uint8_t *key, size_t key_len, const uint8_t salt[4], size_t icv_len, int encrypt) {
  if (!gcm_available(NULL, NULL)) return NULL;
  if ((key_len != 16 && key_len != 32) || icv_len < 4 || icv_len > 16) return NULL;
  gcm_key *k = calloc(1, sizeof *k);
  if (!k) return NULL;
  k->ctx = evp.ctx_new();
  if (!k->ctx) {
    free(k);
    return NULL;
  }
  const EVP_CIPHER *c = key_len == 16 ? evp.aes128() : evp.aes256();
  // The default GCM IV length is 12 octets, exactly salt ‖ explicit IV.
  int ok = encrypt ? evp.enc_init(k->ctx, c, NULL, key, NULL) : evp.dec_init(k->ctx, c, NULL, key, NULL);
  if (ok != 1) {
    evp.ctx_free(k->ctx);
    free(k);
    return NULL;
  }
  memcpy(k->salt, salt, 4);
  k->icv_len = icv_len;
  k->encrypt = encrypt;
  return k;
}

void gcm_key_free(gcm_key *k) {
  if (!k) return;
  evp.ctx_free(k->ctx);
  free(k);
}

static void nonce_of(const gcm_key *k, const uint8_t iv8[8], uint8_t nonce[12]) {
  memcpy(nonce, k->salt, 4);
  memcpy(nonce + 4, iv8, 8);
}

int gcm_seal(gcm_key *k, const uint8_t iv8[8], const uint8_t *aad, size_t aad_len, uint8_t *ct, size_t len) {
  uint8_t nonce[12];
  int outl = 0;
  nonce_of(k, iv8, nonce);
  if (!k->encrypt || evp.enc_init(k->ctx, NULL, NULL, NULL, nonce) != 1) return 0;
  if (evp.enc_update(k->ctx, NULL, &outl, aad, (int)aad_len) != 1) return 0;
  if (evp.enc_update(k->ctx, ct, &outl, ct, (int)len) != 1) return 0;
  if (evp.enc_final(k->ctx, ct + outl, &outl) != 1) return 0;
  return evp.ctrl(k->ctx, CTRL_GCM_GET_TAG, (int)k->icv_len, ct + len) == 1;
}

int gcm_open(gcm_key *k, const uint8_t iv8[8], const uint8_t *aad, size_t aad_len, uint8_t *ct, size_t len) {
  uint8_t nonce[12];
  int outl = 0;
  nonce_of(k, iv8, nonce);
  if (k->encrypt || evp.dec_init(k->ctx, NULL, NULL, NULL, nonce) != 1) return 0;
  if (evp.ctrl(k->ctx, CTRL_GCM_SET_TAG, (int)k->icv_len, ct + len) != 1) return 0;
  if (evp.dec_update(k->ctx, NULL, &outl, aad, (int)aad_len) != 1) return 0;
  if (evp.dec_update(k->ctx, ct, &outl, ct, (int)len) != 1) return 0;
  return evp.dec_final(k->ctx, ct + outl, &outl) == 1;
}
