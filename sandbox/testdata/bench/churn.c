// The peer portex's churn is measured against: a plain, single-threaded C
// loop of blocking connect() and RST close, as fast as the kernel goes.
// Usage: churn SECONDS; the target comes from $PORTEX_TARGET and
// $PORTEX_PORT. Prints "<connections> <seconds>".
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
	double secs = argc > 1 ? atof(argv[1]) : 2;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(getenv("PORTEX_PORT")))};
	inet_pton(AF_INET, getenv("PORTEX_TARGET"), &sa.sin_addr);
	struct linger lg = {1, 0};
	long n = 0, failed = 0;
	double t0 = now(), t = t0;
	for (long i = 1;; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			perror("socket");
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			n++;
		else
			failed++;
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(fd);
		if ((i & 255) == 0 && (t = now()) - t0 >= secs)
			break;
	}
	printf("%ld %f %ld\n", n, t - t0, failed);
	return 0;
}
