// A paced packet sender for attack measurements, compiled at run time by lab/flood.ts.
// Node cannot send spoofed IPv4 (no raw sockets) and cannot hold 20,000 packets/s steadily on a
// small machine, so the packets are built in TypeScript and only sent from here.
//
//   flood --packets FILE (--raw | --bind ADDR:PORT --to ADDR:PORT)
//         --burst COUNT:RATE [--burst COUNT:RATE ...] [--gap-ms MS] [--linger-ms MS] [--max-seconds S]
//
// FILE holds records of a 2-octet big-endian length and that many octets, sent in turn and
// round again. With --raw each record is a whole IPv4 packet (any source: the attacker's
// spoofed addresses) sent on an IPPROTO_RAW socket; otherwise each record is a UDP payload sent
// from a socket bound to --bind, and every datagram that socket receives is counted (what the
// target sent back to the attacker). RATE 0 sends as fast as the socket takes them.
//
// Prints, flushed, one line per burst and one at the end:
//   burst {"index":N,"sent":N,"errors":N,"bytes":N,"seconds":S}
//   done {"sent":N,"errors":N,"bytes":N,"received":N,"receivedBytes":N}
// Every loop is bounded by its count and by --max-seconds (default 120). SIGTERM or SIGINT ends
// the current burst early; its line and the last one are still printed.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BURSTS 16
#define BATCH 64
#define MAX_RECORD 65535

struct record {
  const uint8_t *data;
  size_t length;
  struct sockaddr_in to; // raw mode: the packet's own destination
};

struct burst {
  long count;
  long rate;
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double seconds) {
  if (seconds <= 0) return;
  struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&ts, NULL);
}

static int parse_endpoint(const char *text, struct sockaddr_in *out) {
  char host[64];
  const char *colon = strrchr(text, ':');
  if (!colon || (size_t)(colon - text) >= sizeof host) return -1;
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = 0;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons((uint16_t)atoi(colon + 1));
  return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static uint8_t *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long length = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *bytes = malloc(length > 0 ? (size_t)length : 1);
  if (bytes && fread(bytes, 1, (size_t)length, f) != (size_t)length) {
    free(bytes);
    bytes = NULL;
  }
  fclose(f);
  *size = (size_t)length;
  return bytes;
}

static long received = 0, received_bytes = 0;
static volatile sig_atomic_t stopping = 0;

static void on_stop(int signal) {
  (void)signal;
  stopping = 1;
}

// Counts what arrived on the (non-blocking) socket, without waiting.
static void drain(int fd) {
  static uint8_t buffer[MAX_RECORD];
  for (int i = 0; i < 1024; i++) {
    ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0) return;
    received++;
    received_bytes += n;
  }
}

int main(int argc, char **argv) {
  const char *packets_path = NULL, *bind_text = NULL, *to_text = NULL;
  int raw = 0;
  struct burst bursts[MAX_BURSTS];
  int burst_count = 0;
  long gap_ms = 0, linger_ms = 0;
  double max_seconds = 120;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    const char *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(arg, "--raw")) { raw = 1; continue; }
    if (!value) { fprintf(stderr, "flood: %s needs a value\n", arg); return 2; }
    i++;
    if (!strcmp(arg, "--packets")) packets_path = value;
    else if (!strcmp(arg, "--bind")) bind_text = value;
    else if (!strcmp(arg, "--to")) to_text = value;
    else if (!strcmp(arg, "--gap-ms")) gap_ms = atol(value);
    else if (!strcmp(arg, "--linger-ms")) linger_ms = atol(value);
    else if (!strcmp(arg, "--max-seconds")) max_seconds = atof(value);
    else if (!strcmp(arg, "--burst")) {
      if (burst_count == MAX_BURSTS || sscanf(value, "%ld:%ld", &bursts[burst_count].count, &bursts[burst_count].rate) != 2) {
        fprintf(stderr, "flood: bad --burst %s\n", value);
        return 2;
      }
      burst_count++;
    } else { fprintf(stderr, "flood: unknown option %s\n", arg); return 2; }
  }
  if (!packets_path || burst_count == 0 || (!raw && (!bind_text || !to_text))) {
    fprintf(stderr, "flood: needs --packets, --burst and either --raw or --bind and --to\n");
    return 2;
  }

  size_t size = 0;
  uint8_t *file = read_file(packets_path, &size);
  if (!file) { perror("flood: reading the packets"); return 1; }
  size_t capacity = 1024, count = 0;
  struct record *records = malloc(capacity * sizeof *records);
  for (size_t o = 0; o + 2 <= size;) {
    size_t length = ((size_t)file[o] << 8) | file[o + 1];
    if (o + 2 + length > size) { fprintf(stderr, "flood: record at %zu runs past the end\n", o); return 1; }
    if (count == capacity) records = realloc(records, (capacity *= 2) * sizeof *records);
    struct record *r = &records[count++];
    r->data = file + o + 2;
    r->length = length;
    memset(&r->to, 0, sizeof r->to);
    r->to.sin_family = AF_INET;
    if (raw) {
      if (length < 20 || (r->data[0] >> 4) != 4) { fprintf(stderr, "flood: record %zu is not IPv4\n", count - 1); return 1; }
      memcpy(&r->to.sin_addr, r->data + 16, 4);
    }
    o += 2 + length;
  }
  if (count == 0) { fprintf(stderr, "flood: no packets in %s\n", packets_path); return 1; }

  int fd;
  struct sockaddr_in to;
  if (raw) {
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); // IPPROTO_RAW implies IP_HDRINCL
    if (fd < 0) { perror("flood: raw socket (needs root)"); return 1; }
  } else {
    struct sockaddr_in local;
    if (parse_endpoint(bind_text, &local) || parse_endpoint(to_text, &to)) { fprintf(stderr, "flood: bad --bind/--to\n"); return 2; }
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof local) < 0) { perror("flood: bind"); return 1; }
    for (size_t i = 0; i < count; i++) records[i].to = to;
  }
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  struct sigaction stop_action;
  memset(&stop_action, 0, sizeof stop_action);
  stop_action.sa_handler = on_stop;
  sigaction(SIGTERM, &stop_action, NULL);
  sigaction(SIGINT, &stop_action, NULL);

  struct mmsghdr messages[BATCH];
  struct iovec iovecs[BATCH];
  const double started = now_seconds();
  const double hard_stop = started + max_seconds;
  long total_sent = 0, total_errors = 0, total_bytes = 0;
  size_t next = 0;

  for (int b = 0; b < burst_count && now_seconds() < hard_stop && !stopping; b++) {
    if (b > 0) sleep_seconds(gap_ms / 1000.0);
    const double burst_start = now_seconds();
    long sent = 0, errors = 0, bytes = 0;
    while (sent + errors < bursts[b].count && now_seconds() < hard_stop && !stopping) {
      long due = bursts[b].count - sent - errors;
      if (bursts[b].rate > 0) {
        long by_now = (long)((now_seconds() - burst_start) * (double)bursts[b].rate) + 1;
        if (by_now < bursts[b].count) due = by_now - sent - errors;
        if (due <= 0) {
          if (!raw) drain(fd);
          sleep_seconds(0.0005);
          continue;
        }
      }
      int n = due < BATCH ? (int)due : BATCH;
      for (int i = 0; i < n; i++) {
        const struct record *r = &records[(next + (size_t)i) % count];
        iovecs[i].iov_base = (void *)r->data;
        iovecs[i].iov_len = r->length;
        memset(&messages[i], 0, sizeof messages[i]);
        messages[i].msg_hdr.msg_iov = &iovecs[i];
        messages[i].msg_hdr.msg_iovlen = 1;
        messages[i].msg_hdr.msg_name = (void *)&r->to;
        messages[i].msg_hdr.msg_namelen = sizeof r->to;
      }
      int done = sendmmsg(fd, messages, (unsigned)n, 0);
      if (done <= 0) {
        // A full queue (ENOBUFS) or a refused destination: count the packet as not sent and go on.
        errors++;
        next = (next + 1) % count;
        if (errno == ENOBUFS) sleep_seconds(0.0002);
        continue;
      }
      for (int i = 0; i < done; i++) bytes += (long)records[(next + (size_t)i) % count].length;
      sent += done;
      next = (next + (size_t)done) % count;
      if (!raw) drain(fd);
    }
    total_sent += sent;
    total_errors += errors;
    total_bytes += bytes;
    printf("burst {\"index\":%d,\"sent\":%ld,\"errors\":%ld,\"bytes\":%ld,\"seconds\":%.4f}\n", b + 1, sent, errors, bytes, now_seconds() - burst_start);
    fflush(stdout);
  }

  if (!raw) {
    const double linger_end = now_seconds() + linger_ms / 1000.0;
    while (now_seconds() < linger_end && now_seconds() < hard_stop && !stopping) {
      struct pollfd p = {fd, POLLIN, 0};
      poll(&p, 1, 50);
      drain(fd);
    }
  }
  printf("done {\"sent\":%ld,\"errors\":%ld,\"bytes\":%ld,\"received\":%ld,\"receivedBytes\":%ld}\n", total_sent, total_errors, total_bytes, received, received_bytes);
  fflush(stdout);
  close(fd);
  return 0;
}
