// The peer portex's connection holding is measured against: a plain C loop
// that opens N connections with blocking connect() over $PORTEX_PORTS
// destination ports (from $PORTEX_PORT up) and holds them.
// Usage: hold N PORTS. Prints "<opened> <seconds to open them all>".
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 1000, ports = argc > 2 ? atoi(argv[2]) : 1;
	struct rlimit lim;
	getrlimit(RLIMIT_NOFILE, &lim);
	lim.rlim_cur = lim.rlim_max;
	setrlimit(RLIMIT_NOFILE, &lim);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	inet_pton(AF_INET, getenv("PORTEX_TARGET"), &sa.sin_addr);
	int port = atoi(getenv("PORTEX_PORT")), opened = 0;
	double t0 = now();
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			perror("socket");
			break;
		}
		sa.sin_port = htons(port + i % ports);
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			opened++;
	}
	printf("%d %f\n", opened, now() - t0);
	return 0;
}
