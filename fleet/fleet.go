// Package fleet splits a scenario's load into shards that run on machines
// of their own (portex run --shard i/n) and merges the shards' results
// into one (portex merge), without loss: counters add, HDR histograms
// merge, time series align by the shards' wall clocks.
//
// A shard's load is cut the way the multi-process shards of one machine
// cut it (loadgen.Split): closed-model workers divided, open-model
// arrivals interleaved i, i+n, i+2n, ... Each shard runs in a sandbox of
// its own, with the full port range: n shards are n machines, not one
// machine's range divided.
package fleet

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

// MaxShards bounds a run's shard count.
const MaxShards = 1024

// Spec is one shard of Count: Index counts from 0, as a Kubernetes
// Indexed Job's $JOB_COMPLETION_INDEX does.
type Spec struct{ Index, Count int }

// ParseSpec reads "i/n", 0 <= i < n.
func ParseSpec(s string) (Spec, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(is))
	n, err2 := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Spec{}, fmt.Errorf("%q: want i/n, such as 0/4 (shard i of n, counted from 0)", s)
	case n < 1 || n > MaxShards:
		return Spec{}, fmt.Errorf("%q: the shard count %d is outside 1..%d", s, n, MaxShards)
	case i < 0 || i >= n:
		return Spec{}, fmt.Errorf("%q: the index %d is outside 0..%d (shards count from 0, as $JOB_COMPLETION_INDEX does)", s, i, n-1)
	}
	return Spec{Index: i, Count: n}, nil
}

func (s Spec) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// Split returns this shard's part of p. A closed-model pool with fewer
// workers (or connections in its keep-alive pool, or slots) than there are
// shards cannot be divided without adding to it, and is refused: the
// merged result would not be the scenario's.
func (s Spec) Split(p *loadgen.Plan) (*loadgen.Plan, error) {
	if s.Count <= 1 {
		return p, nil
	}
	for _, pl := range p.Pools {
		for _, c := range []struct {
			key string
			n   int
		}{{"workers", pl.Workers}, {"max_in_flight", pl.MaxInFlight}, {"pool_size", pl.PoolSize}} {
			if c.n > 0 && c.n < s.Count {
				return nil, fmt.Errorf("variant %s, pool %q: %s %d cannot be split over %d shards (each shard needs at least one); use at most %d shards",
					p.Variant, pl.Name, c.key, c.n, s.Count, c.n)
			}
		}
	}
	if len(p.Programs) > 0 {
		return nil, fmt.Errorf("variant %s: a scenario with programs cannot be split into shards: each shard would run every program", p.Variant)
	}
	return loadgen.Split(p, s.Count)[s.Index], nil
}

// Describe returns what a shard's result records of where it ran.
func (s Spec) Describe() result.Shard {
	host, _ := os.Hostname()
	return result.Shard{Index: s.Index, Count: s.Count, Host: host, Clock: ReadClock()}
}

// ReadClock reads the kernel's view of the wall clock's accuracy with
// adjtimex(2) in read-only mode; nil when the call fails.
func ReadClock() *result.Clock {
	var tx unix.Timex // Modes 0: read, change nothing
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return nil
	}
	return &result.Clock{
		Synced:     state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0,
		MaxErrorUs: int64(tx.Maxerror),
		EstErrorUs: int64(tx.Esterror),
	}
}

// ErrMismatch is wrapped by Merge's refusals of results that are not
// shards of one run.
var ErrMismatch = errors.New("not shards of one run")
