package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/sandbox"
	"github.com/portex/portex/scenarios"
)

// refusals checks every plan against the runtime before the first one
// runs. What the runtime refuses comes back as scenarios.Problems, each at
// the key of the scenario or of the variant it concerns and naming the
// variants it stops; another refusal (an external target) as itself.
func refusals(rt sandbox.Runtime, sc *scenarios.Scenario, plans []*loadgen.Plan) error {
	var ps scenarios.Problems
	var variants [][]string
	for _, p := range plans {
		err := rt.CheckPlan(p)
		if err == nil {
			continue
		}
		var u *sandbox.Unsupported
		if !errors.As(err, &u) {
			return fmt.Errorf("%s, variant %s: %w", sc.Name, p.Variant, err)
		}
		pr := sc.Locate(p.Variant, u.Pool, u.Key, fmt.Sprintf("the %s runtime cannot run this: %s", u.Runtime, u.Reason))
		i := 0
		for i < len(ps) && (ps[i].Line != pr.Line || ps[i].Col != pr.Col || ps[i].Key != pr.Key || ps[i].Msg != pr.Msg) {
			i++
		}
		if i == len(ps) {
			ps, variants = append(ps, pr), append(variants, nil)
		}
		variants[i] = append(variants[i], p.Variant)
	}
	if len(ps) == 0 {
		return nil
	}
	for i := range ps {
		if len(sc.Variants) == 0 {
			break // one run: no variant to name
		}
		word := "variant"
		if len(variants[i]) > 1 {
			word = "variants"
		}
		ps[i].Msg += fmt.Sprintf(" (%s %s)", word, strings.Join(variants[i], ", "))
	}
	return ps
}
