package docker

import (
	"errors"
	"testing"

	"github.com/portex/portex/loadgen"
	"github.com/portex/portex/sandbox"
)

// The docker runtime runs programs in the client's container; a server
// of the user's (server.exec) it refuses before anything starts.
func TestCheckPlanRefusesPrograms(t *testing.T) {
	p := &loadgen.Plan{Programs: []loadgen.Program{{Name: "c", Exec: []string{"./my-client"}}}}
	if err := CheckPlan(p); err != nil {
		t.Errorf("CheckPlan of a plan with a program: %v", err)
	}
	p.Server.Program = &loadgen.ServerProgram{Exec: []string{"nginx"}}
	err := CheckPlan(p)
	var u *sandbox.Unsupported
	if !errors.As(err, &u) || u.Key != "server.exec" || !errors.Is(err, sandbox.ErrUnrunnable) {
		t.Errorf("CheckPlan: %v; want an Unsupported server.exec", err)
	}
	if err := CheckPlan(&loadgen.Plan{}); err != nil {
		t.Errorf("CheckPlan of a plan without programs: %v", err)
	}
}
