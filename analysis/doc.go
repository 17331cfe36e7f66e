// Package analysis judges results: the capacity model's prediction for a
// plan (Predict, AttachModel), a run's verdict and what it rests on
// (Judge), and a scenario's expectations checked against a run (Check).
// It reads plans (package loadgen) and results (package result) and
// renders nothing: package report shows what it concludes, and portex
// plan and run act on it.
package analysis
