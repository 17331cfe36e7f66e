// Command goclient is an HTTP client written the way many Go services are:
// http.Client with the default transport, sending requests in rounds of
// -concurrency at once (a handler fanning out to a backend). With Go's default MaxIdleConnsPerHost of 2, a
// concurrency of 10 keeps only 2 connections between rounds and closes
// the other 8, which the next round dials anew (golang/go#13801): every
// closed one sits in TIME_WAIT on the client for a minute, and a narrowed
// port range runs out. Closing a response body before reading it to EOF
// (-drain=false) loses the connection too (it cannot be reused). Setting
// -max-idle-per-host to the concurrency fixes the first; draining the
// second.
//
// It prints each failed request's error (the first 20, then a count) and
// a summary, and exits 1 if any request failed.
//
// Usage:
//
//	goclient [-url URL] [-concurrency 10] [-requests 2000] [-max-idle-per-host 0] [-drain=true]
//
// The URL defaults to http://$PORTEX_SERVER/ (the address portex gives a
// program it runs), or http://127.0.0.1:7000/.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// maxPrinted is how many errors are printed one by one.
const maxPrinted = 20

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("goclient", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := "http://127.0.0.1:7000/"
	if s := os.Getenv("PORTEX_SERVER"); s != "" {
		def = "http://" + s + "/"
	}
	url := fs.String("url", def, "the URL to GET")
	concurrency := fs.Int("concurrency", 10, "requests in flight at once, in rounds")
	requests := fs.Int("requests", 2000, "requests in all")
	maxIdle := fs.Int("max-idle-per-host", 0, "Transport.MaxIdleConnsPerHost; 0: Go's default (2)")
	drain := fs.Bool("drain", true, "read each response body to EOF before closing it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *concurrency < 1 || *requests < 0 || *maxIdle < 0 {
		fmt.Fprintln(stderr, "goclient: -concurrency must be at least 1, -requests and -max-idle-per-host not negative")
		return 2
	}
	var dials atomic.Int64
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = *maxIdle
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err == nil {
			dials.Add(1)
		}
		return c, err
	}
	client := &http.Client{Transport: tr}

	var failed atomic.Int64
	var mu sync.Mutex // guards the printing of errors
	printed := 0
	// Rounds of concurrency requests at once, each round waiting for all
	// of its requests, as a handler fanning out to a backend does: the
	// requests of a round are in flight together however fast the server
	// answers, so each round needs concurrency connections.
	for sent := 0; sent < *requests; {
		var wg sync.WaitGroup
		for range min(*concurrency, *requests-sent) {
			sent++
			n := sent
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := get(client, *url, *drain)
				if err == nil {
					return
				}
				failed.Add(1)
				mu.Lock()
				if printed < maxPrinted {
					fmt.Fprintf(stdout, "request %d: %v\n", n, err)
					printed++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	tr.CloseIdleConnections()
	f := failed.Load()
	if f > maxPrinted {
		fmt.Fprintf(stdout, "... and %d more failed requests\n", f-maxPrinted)
	}
	per := 0.0
	if *requests > 0 {
		per = float64(dials.Load()) / float64(*requests)
	}
	fmt.Fprintf(stdout, "goclient: %d requests, %d ok, %d failed; %d connections opened (%.2f per request); max-idle-per-host %d, drain %v\n",
		*requests, int64(*requests)-f, f, dials.Load(), per, tr.MaxIdleConnsPerHost, *drain)
	if f > 0 {
		return 1
	}
	return 0
}

// get sends one request and closes its body, reading it to EOF first if
// drain says so.
func get(c *http.Client, url string, drain bool) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	if drain {
		_, err = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return err
}
