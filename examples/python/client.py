"""An HTTP client written the way many Python scripts are: requests.get()
for each request. Each call makes a Session of its own, and with it a new
connection, closed when the call returns: the client closes first, so
every request leaves a port in TIME_WAIT for a minute, and a narrowed port
range runs out ([Errno 99] Cannot assign requested address). --session
shares one requests.Session (per thread), whose pool keeps the connection
alive: one connection per thread for the whole run.

It prints each failed request's error (the first 20, then a count) and a
summary, and exits 1 if any request failed. The URL defaults to
http://$PORTEX_SERVER/ or http://127.0.0.1:7000/.
"""

import argparse
import os
import sys
import threading

try:
    import requests
except ImportError:
    print("client.py: needs the requests package (pip install requests)", file=sys.stderr)
    sys.exit(3)

MAX_PRINTED = 20


def main():
    server = os.environ.get("PORTEX_SERVER", "127.0.0.1:7000")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://%s/" % server)
    ap.add_argument("--requests", type=int, default=600, help="requests in all")
    ap.add_argument("--threads", type=int, default=4, help="threads sending requests")
    ap.add_argument("--session", action="store_true", help="share a requests.Session per thread")
    args = ap.parse_args()

    lock = threading.Lock()  # guards the counters below
    state = {"next": 0, "failed": 0, "printed": 0}

    def worker():
        get = requests.Session().get if args.session else requests.get
        while True:
            with lock:
                if state["next"] >= args.requests:
                    return
                state["next"] += 1
                n = state["next"]
            try:
                r = get(args.url, timeout=5)
                r.raise_for_status()
            except Exception as e:  # any failure is counted and shown
                with lock:
                    state["failed"] += 1
                    if state["printed"] < MAX_PRINTED:
                        state["printed"] += 1
                        print("request %d: %s" % (n, e), flush=True)

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    failed = state["failed"]
    if failed > MAX_PRINTED:
        print("... and %d more failed requests" % (failed - MAX_PRINTED))
    print("client.py: %d requests, %d ok, %d failed; session %s"
          % (args.requests, args.requests - failed, failed, args.session))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
