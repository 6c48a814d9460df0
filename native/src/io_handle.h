// The JS-driven I/O handle (a TUN device or a UDP socket on a uv_poll) shared by hipvpn_io.c,
// which owns its lifetime and reading, and udp_handle.c, which opens and sends on UDP ones.

#ifndef IO_HANDLE_H
#define IO_HANDLE_H

#include <stdint.h>

#include <node_api.h>
#include <uv.h>

#define KIND_TUN 1
#define KIND_UDP 2

typedef struct io_handle {
  napi_env env;
  int fd;
  int kind;
  int family;       // AF_INET / AF_INET6 for UDP
  int gso_ok;       // cleared when the kernel or device refuses UDP_SEGMENT
  int closed;
  int hook_added;
  int referenced;
  int in_callback;  // >0 while JS runs from our poll callback
  int finalized;    // the JS object is gone; free once the callback unwinds
  uv_poll_t *poll;  // allocated separately: it must outlive us until its close callback
  napi_async_context async_ctx;
  napi_ref on_batch;
  napi_ref on_error;
  napi_ref buf_ref, len_ref, addr_ref, port_ref;
  napi_ref self_ref;  // while reading, the JS handle must not be collected under the poll
  uint8_t *buf;
  uint32_t *lens;
  uint8_t *addrs;   // 16 bytes per slot (IPv4 as v4-mapped)
  uint16_t *ports;
  uint32_t slots;
  uint32_t slot_size;
} io_handle;

napi_value wrap_handle(napi_env env, int fd, int kind, int family);
io_handle *unwrap_open(napi_env env, napi_value v);
void udp_register(napi_env env, napi_value exports);

#endif
