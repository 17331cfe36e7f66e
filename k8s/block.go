package k8s

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// A shard's result leaves its pod on stdout, in its log, as a marked
// block: a begin line with the shard, the size and the SHA-256 of the
// result.json it holds; that file gzipped and base64-encoded, 76
// characters a line; an end line. Base64 lines have no spaces, so a line
// is read as its last field: what kubectl logs puts before it (--prefix,
// --timestamps) is skipped, and the checksum tells whether the block
// came through whole.
const (
	BeginMarker = "--- portex result.json begin"
	EndMarker   = "--- portex result.json end ---"
	lineWidth   = 76
	// maxBlock bounds one block's result.json, decoded.
	maxBlock = 256 << 20
)

// WriteBlock writes data, the result.json of shard ("2/4"), as a
// marked block.
func WriteBlock(w io.Writer, shard string, data []byte) error {
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	enc := base64.StdEncoding.EncodeToString(z.Bytes())
	var b strings.Builder
	fmt.Fprintf(&b, "%s shard=%s bytes=%d sha256=%s encoding=gzip+base64 ---\n", BeginMarker, shard, len(data), hex.EncodeToString(sum[:]))
	for len(enc) > 0 {
		n := min(lineWidth, len(enc))
		b.WriteString(enc[:n])
		b.WriteByte('\n')
		enc = enc[n:]
	}
	b.WriteString(EndMarker + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Block is one result found in a log.
type Block struct {
	Shard  string // as the begin line names it: "2/4"
	Data   []byte // the result.json, checked against its size and SHA-256
	Source string // the log it came from
	Line   int    // the begin line's number there
}

// ReadBlocks finds every marked block in the log r (named source in
// errors). Lines outside blocks are skipped: a pod's log holds the run's
// summary and whatever else it printed. A block cut short, or whose
// content does not match its checksum, is an error naming its line; the
// good blocks are returned beside it.
func ReadBlocks(r io.Reader, source string) ([]Block, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var blocks []Block
	var errs []error
	var cur *Block
	var body strings.Builder
	var size int
	var sum string
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if i := strings.Index(line, BeginMarker); i >= 0 {
			if cur != nil {
				errs = append(errs, fmt.Errorf("%s:%d: the block of shard %s has no end line (a new block begins at line %d)", source, cur.Line, cur.Shard, lineNo))
			}
			cur = &Block{Source: source, Line: lineNo}
			body.Reset()
			var err error
			if cur.Shard, size, sum, err = parseBegin(line[i+len(BeginMarker):]); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %v", source, lineNo, err))
				cur = nil
			}
			continue
		}
		if cur == nil {
			continue
		}
		if strings.Contains(line, EndMarker) {
			data, err := decodeBlock(body.String(), size, sum)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: the block of shard %s: %v", source, cur.Line, cur.Shard, err))
			} else {
				cur.Data = data
				blocks = append(blocks, *cur)
			}
			cur = nil
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if body.Len() > maxBlock*2 {
			errs = append(errs, fmt.Errorf("%s:%d: the block of shard %s is larger than %d bytes", source, cur.Line, cur.Shard, maxBlock))
			cur = nil
			continue
		}
		body.WriteString(f[len(f)-1])
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", source, err))
	}
	if cur != nil {
		errs = append(errs, fmt.Errorf("%s:%d: the block of shard %s has no end line: the log was cut short (kubectl logs keeps only what the node still holds)", source, cur.Line, cur.Shard))
	}
	return blocks, errors.Join(errs...)
}

// parseBegin reads the begin line's fields after the marker.
func parseBegin(s string) (shard string, size int, sum string, err error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "---"))
	enc := ""
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "shard":
			shard = v
		case "bytes":
			size, err = strconv.Atoi(v)
		case "sha256":
			sum = v
		case "encoding":
			enc = v
		}
	}
	switch {
	case err != nil || size < 0 || size > maxBlock:
		return "", 0, "", fmt.Errorf("the begin line's bytes= is not a size up to %d", maxBlock)
	case shard == "" || len(sum) != 2*sha256.Size:
		return "", 0, "", errors.New("the begin line lacks its shard= or sha256=")
	case enc != "gzip+base64":
		return "", 0, "", fmt.Errorf("the begin line's encoding %q is not gzip+base64", enc)
	}
	return shard, size, sum, nil
}

func decodeBlock(body string, size int, sum string) ([]byte, error) {
	z, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("not base64 (%v): a line of the log broke into it", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("not gzip: %v", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, int64(size)+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %v", err)
	}
	got := sha256.Sum256(data)
	if len(data) != size || hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("%d bytes whose SHA-256 is not the begin line's (%d bytes promised): the block did not come through whole", len(data), size)
	}
	return data, nil
}
