// Package result is portex's result contract: the plain data one run
// produces (counters, latency summaries, events, the time series, the
// environment read back) and result.json's layout. The engine (package
// loadgen) fills a Result; analysis, report, the runtimes and the command
// only read it. The JSON tags are the wire format: changing one changes
// result.json (see Schema).
package result
