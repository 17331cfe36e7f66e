// The server wrk and portex are measured against side by side: one epoll
// loop per CPU, each a process with its own SO_REUSEPORT listener, as
// portex's echo server has. A request that starts with "GET " gets a
// 64-byte HTTP response and the connection is closed (Connection: close,
// one request per connection); anything else is echoed back until the
// peer closes. Usage: httpd PORT; runs until killed.
#define _GNU_SOURCE // accept4
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char response[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 64\r\nConnection: close\r\n\r\n"
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static int listener(int port) {
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
		perror("listen");
		exit(1);
	}
	return fd;
}

static void serve(int port) {
	int lfd = listener(port), ep = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, evs[256];
	char buf[4096];
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				int c;
				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof buf);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r <= 0) {
				close(fd);
			} else if (r >= 4 && memcmp(buf, "GET ", 4) == 0) {
				// wrk's request comes in one segment.
				write(fd, response, sizeof response - 1);
				close(fd);
			} else {
				write(fd, buf, r);
			}
		}
	}
}

int main(int argc, char **argv) {
	int port = argc > 1 ? atoi(argv[1]) : 7000;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	signal(SIGPIPE, SIG_IGN);
	for (long i = 1; i < cpus; i++) {
		if (fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			break;
		}
	}
	serve(port);
}
