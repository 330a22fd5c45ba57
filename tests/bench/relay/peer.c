/* The container side of `make bench`'s relay section, in C so that no
 * path is capped by its peer: an echo server on :7000 (round trips, idle
 * connections) and a sink on :7002. The sink reads an 8-byte big-endian
 * length, then that many bytes, answers one byte, and waits for the next
 * length: the sender's clock stops when every byte has crossed the path.
 * One process per connection (fork), as a plain C server would. */
#include <endian.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[256 * 1024];

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void echo(int c) {
  ssize_t n;
  while ((n = read(c, buf, sizeof buf)) > 0)
    if (write_all(c, buf, (size_t)n) < 0) return;
}

static void sink(int c) {
  for (;;) {
    uint64_t len = 0;
    size_t got = 0;
    while (got < sizeof len) {
      ssize_t n = read(c, (char *)&len + got, sizeof len - got);
      if (n <= 0) return;
      got += (size_t)n;
    }
    len = be64toh(len);
    while (len > 0) {
      ssize_t n = read(c, buf, len < sizeof buf ? len : sizeof buf);
      if (n <= 0) return;
      len -= (uint64_t)n;
    }
    if (write_all(c, "k", 1) < 0) return;
  }
}

static void serve(int port, void (*handle)(int)) {
  int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 4096) < 0) {
    perror("listen");
    exit(1);
  }
  for (;;) {
    int c = accept(s, NULL, NULL);
    if (c < 0) continue;
    if (fork() == 0) {
      close(s);
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      handle(c);
      _exit(0);
    }
    close(c);
  }
}

int main(void) {
  signal(SIGCHLD, SIG_IGN);
  if (fork() == 0) serve(7000, echo);
  serve(7002, sink);
  return 0;
}
