package fleet

import (
	"errors"
	"testing"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/result"
)

func TestParseSpec(t *testing.T) {
	for _, ok := range []string{"0/1", "0/4", "3/4"} {
		if _, err := ParseSpec(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "4/4", "-1/4", "1", "a/b", "0/0", "0/2000"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSplitRefusesTooFewWorkers(t *testing.T) {
	p := &loadgen.Plan{Variant: "v", Pools: []loadgen.Pool{{Name: "p", Workers: 3}}}
	if _, err := (Spec{Index: 0, Count: 4}).Split(p); err == nil {
		t.Fatal("3 workers split over 4 shards")
	}
	s, err := (Spec{Index: 1, Count: 3}).Split(p)
	if err != nil || s.Pools[0].Workers != 1 {
		t.Fatalf("got %v, %v", s, err)
	}
}

func TestMergeRefusesWhatIsNotOneRun(t *testing.T) {
	shard := func(i, n int, scenario string) *result.ResultFile {
		return &result.ResultFile{Schema: result.Schema, Scenario: scenario, Shard: &result.Shard{Index: i, Count: n},
			Runs: []*result.Result{{Variant: "v", Plan: []byte(`{"variant":"v"}`)}}}
	}
	for name, files := range map[string][]*result.ResultFile{
		"not a shard":    {{Schema: result.Schema, Scenario: "a"}},
		"two scenarios":  {shard(0, 2, "a"), shard(1, 2, "b")},
		"two counts":     {shard(0, 2, "a"), shard(1, 3, "a")},
		"a shard twice":  {shard(0, 2, "a"), shard(0, 2, "a")},
		"a shard absent": {shard(0, 2, "a")},
	} {
		if _, err := Merge(files, nil, Options{}); !errors.Is(err, ErrMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	other := shard(1, 2, "a")
	other.Runs[0].Plan = []byte(`{"variant":"v","duration":1}`)
	if _, err := Merge([]*result.ResultFile{shard(0, 2, "a"), other}, nil, Options{}); !errors.Is(err, ErrMismatch) {
		t.Errorf("different plans merged: %v", err)
	}
	m, err := Merge([]*result.ResultFile{shard(0, 2, "a")}, nil, Options{Partial: true})
	if err != nil || len(m.Runs) != 1 {
		t.Fatalf("partial merge: %v", err)
	}
}
