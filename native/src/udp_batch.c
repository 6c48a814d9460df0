// The sendmmsg loop and the error-queue drain of udp_batch.h.

#include "udp_batch.h"

#include <errno.h>
#include <poll.h>

int udp_wait_writable(int fd, int ms) {
  if (ms <= 0) return 0;
  struct pollfd p = {fd, POLLOUT, 0};
  int r;
  do r = poll(&p, 1, ms); while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & POLLOUT);
}

static int cannot_segment(int err) {
  return err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP;
}

udp_send_end udp_msgs_send(int fd, udp_msgs *b, int wait_ms, uint32_t *at, int *last_err,
                           const udp_send_report *r, void *ctx) {
  uint32_t done = 0;
  int retried = 0;
  while (done < b->nmsg) {
    int n = sendmmsg(fd, b->msgs + done, b->nmsg - done, MSG_DONTWAIT);
    if (n > 0) {
      for (int k = 0; k < n; k++) r->sent(ctx, done + (uint32_t)k);
      done += (uint32_t)n;
      retried = 0;
      continue;
    }
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      // Backpressure on the sending thread beats dropping a whole batch at once.
      if (udp_wait_writable(fd, wait_ms)) continue;
      *last_err = err;
      *at = done;
      return UDP_SEND_FULL;
    }
    if (b->npk[done] > 1 && cannot_segment(err)) {
      *at = done;
      return UDP_SEND_NO_GSO;
    }
    if (!retried) {
      retried = 1;
      continue;
    }
    *last_err = err;
    r->failed(ctx, done, err);
    done++;
    retried = 0;
  }
  *at = done;
  return UDP_SEND_DONE;
}

int udp_drain_errqueue(int fd, int max, void (*on_error)(void *ctx, const struct sockaddr_storage *dest,
                                                         const struct sock_extended_err *ee),
                       int (*stop)(void *ctx), void *ctx) {
  for (int guard = 0; guard < max; guard++) {
    if (stop && stop(ctx)) return -1;
    char data[64], control[512];
    struct sockaddr_storage name;
    struct iovec iov = {data, sizeof data};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    memset(&name, 0, sizeof name);
    msg.msg_name = &name;
    msg.msg_namelen = sizeof name;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    int reported = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
          (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
        struct sock_extended_err ee;
        memcpy(&ee, CMSG_DATA(c), sizeof ee);
        on_error(ctx, &name, &ee);
        reported = 1;
      }
    }
    if (!reported) on_error(ctx, &name, NULL);
  }
  if (stop && stop(ctx)) return -1;
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) return 0;
  return soerr;
}
