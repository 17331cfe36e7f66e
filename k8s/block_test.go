package k8s

import (
	"bytes"
	"strings"
	"testing"
)

func block(t *testing.T, shard string, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteBlock(&b, shard, data); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A block comes back byte for byte from a log that holds more than the
// block, plain, with kubectl logs' --prefix, with its --timestamps, and
// several pods' logs one after the other.
func TestBlocksRoundTripThroughLogs(t *testing.T) {
	a := []byte(`{"schema":"portex/result/v1","shard":{"index":0,"count":2}}` + strings.Repeat(" ", 300))
	b := []byte(`{"schema":"portex/result/v1","shard":{"index":1,"count":2}}`)
	prefix := func(p, s string) string {
		var out strings.Builder
		for _, line := range strings.SplitAfter(s, "\n") {
			if line != "" {
				out.WriteString(p + line)
			}
		}
		return out.String()
	}
	for _, tc := range []struct{ name, log string }{
		{"plain", "summary line\n" + block(t, "0/2", a) + "after\n" + block(t, "1/2", b)},
		{"prefix", prefix("[pod/portex-x-shards-0-abcde/shard] ", block(t, "0/2", a)) + prefix("[pod/portex-x-shards-1-fghij/shard] ", block(t, "1/2", b))},
		{"timestamps", prefix("2026-12-04T01:02:03.123456789Z ", block(t, "0/2", a)) + prefix("2026-12-04T01:02:03.1Z ", block(t, "1/2", b))},
	} {
		blocks, err := ReadBlocks(strings.NewReader(tc.log), "log")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(blocks) != 2 || blocks[0].Shard != "0/2" || !bytes.Equal(blocks[0].Data, a) || blocks[1].Shard != "1/2" || !bytes.Equal(blocks[1].Data, b) {
			t.Errorf("%s: got %d blocks: %+v", tc.name, len(blocks), blocks)
		}
	}
}

// A block whose content changed, lost a line, or lost its end is
// refused with its line; a good block beside it still comes back.
func TestDamagedBlocksAreRefused(t *testing.T) {
	data := []byte(strings.Repeat(`{"k":"v"}`, 200))
	good := block(t, "1/2", data)
	lines := strings.Split(block(t, "0/2", bytes.Repeat([]byte("0123456789"), 500)), "\n")
	for _, tc := range []struct{ name, log, want string }{
		{"a line lost", strings.Join(append(lines[:2:2], lines[3:]...), "\n"), "the block of shard 0/2"},
		{"a stderr line inside", strings.Join(append(lines[:2:2], append([]string{"portex: warning"}, lines[2:]...)...), "\n"), "the block of shard 0/2"},
		{"no end", strings.Join(lines[:len(lines)-2], "\n") + "\n", "no end line"},
		{"another shard's begin", strings.Join(lines[:2], "\n") + "\n", "no end line"},
	} {
		blocks, err := ReadBlocks(strings.NewReader(tc.log+good), "pod.log")
		if err == nil || !strings.Contains(err.Error(), "pod.log:") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming pod.log and %q", tc.name, err, tc.want)
		}
		if len(blocks) != 1 || !bytes.Equal(blocks[0].Data, data) {
			t.Errorf("%s: the good block did not come back: %d blocks", tc.name, len(blocks))
		}
	}
	// The checksum, not only the encoding, is checked: swap a payload
	// that still decodes.
	other := block(t, "0/2", []byte("another result"))
	begin := strings.SplitN(block(t, "0/2", []byte("the result")), "\n", 2)[0]
	forged := begin + "\n" + strings.SplitN(other, "\n", 2)[1]
	if _, err := ReadBlocks(strings.NewReader(forged), "x"); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("forged block: %v", err)
	}
}
