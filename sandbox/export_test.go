package sandbox

// What the external tests (package sandbox_test, which may import packages
// that import sandbox, such as the conformance suite) use of the internal
// test helpers.
var (
	NeedsFullTier   = needsFullTier
	PrivateLoopback = privateLoopback
)
