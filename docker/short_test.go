package docker

import "testing"

// needsFullTier skips a test of the fast tier (go test -short): one that
// needs a Docker engine, or the static agent TestMain builds (under
// -short, TestMain builds nothing and connects to no engine).
func needsFullTier(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker and the test agent (full tier: go test ./...)")
	}
}
