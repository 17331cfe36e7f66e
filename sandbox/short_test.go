package sandbox

import "testing"

// needsFullTier skips a test of the fast tier (go test -short): one that
// runs plans in network namespaces (as root, or where user namespaces are
// allowed).
func needsFullTier(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs network namespaces (full tier: go test ./...)")
	}
}
