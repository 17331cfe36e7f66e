//go:build race

package main

// raceEnabled: the tests run under the race detector, whose shadow memory
// and slower code distort what some of them measure.
const raceEnabled = true
