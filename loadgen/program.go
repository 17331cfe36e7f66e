package loadgen

import (
	"fmt"
	"strings"
)

// Program is a program portex did not write, run in the client's sandbox
// instead of the pools: its argv, with "{server}" standing for
// the server's host:port, and the variables it gets beside the sandbox's.
type Program struct {
	Name string            `json:"name"`
	Exec []string          `json:"exec"`
	Env  map[string]string `json:"env,omitempty"`
}

// ServerToken in a program's argv stands for the server's host:port.
const ServerToken = "{server}"

// Argv is the program's argv with ServerToken replaced by server.
func (p Program) Argv(server string) []string {
	out := make([]string, len(p.Exec))
	for i, a := range p.Exec {
		out[i] = strings.ReplaceAll(a, ServerToken, server)
	}
	return out
}

// checkPrograms is Plan.Validate's part for programs.
func checkPrograms(p *Plan) error {
	seen := make(map[string]bool, len(p.Programs))
	for _, pr := range p.Programs {
		switch {
		case pr.Name == "":
			return fmt.Errorf("plan: a program has no name")
		case seen[pr.Name]:
			return fmt.Errorf("plan: program %q is named twice", pr.Name)
		case len(pr.Exec) == 0 || pr.Exec[0] == "":
			return fmt.Errorf("plan: program %q: no command to run", pr.Name)
		}
		seen[pr.Name] = true
	}
	if len(p.Programs) > 0 && len(p.Pools) > 0 && p.Sandbox.Processes > 1 {
		return fmt.Errorf("plan: programs beside pools run in one client process; sandbox.processes must be 1")
	}
	return nil
}
