package docker

import (
	"errors"
	"testing"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/sandbox"
)

// The docker runtime refuses programs before anything starts: they run
// on the netns runtime only.
func TestCheckPlanRefusesPrograms(t *testing.T) {
	p := &loadgen.Plan{Programs: []loadgen.Program{{Name: "c", Exec: []string{"./my-client"}}}}
	err := CheckPlan(p)
	var u *sandbox.Unsupported
	if !errors.As(err, &u) || u.Key != "programs" || !errors.Is(err, sandbox.ErrUnrunnable) {
		t.Errorf("CheckPlan: %v; want an Unsupported programs", err)
	}
	if err := CheckPlan(&loadgen.Plan{}); err != nil {
		t.Errorf("CheckPlan of a plan without programs: %v", err)
	}
}
