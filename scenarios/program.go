package scenarios

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portex/portex/loadgen"
)

// Program is a program of the user's, run in the client's sandbox:
//
//	programs:
//	  - name: client
//	    exec: [./my-client, --url, "http://{server}/"]
//	    env: {GODEBUG: "http2client=0"}
type Program struct {
	Name string
	Exec []string
	Env  map[string]string
}

// maxPrograms bounds the programs of one scenario.
const maxPrograms = 16

// envName is what a program's environment variable may be called.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// programs decodes the list of programs.
func (d *decoder) programs(path string, n *yaml.Node) ([]Program, bool) {
	if !d.plain(path, n) {
		return nil, false
	}
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(at(n), path, "want a list of programs (each item starting with \"- name: \"), got %s", describe(n))
		return nil, false
	}
	out := make([]Program, len(n.Content))
	for i, elem := range n.Content {
		p := item(path, i)
		d.values[p] = at(elem)
		pr := &out[i]
		d.mapping(p, "program", elem, []field{
			{"name", into(&pr.Name, str[string](d))},
			{"exec", into(&pr.Exec, d.argv)},
			{"env", into(&pr.Env, d.env)},
		})
	}
	return out, true
}

// argv decodes a list of strings.
func (d *decoder) argv(path string, n *yaml.Node) ([]string, bool) {
	if !d.plain(path, n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.addf(at(n), path, "want the command as a list of words, like [./my-client, --url, \"http://{server}/\"], got %s", describe(n))
		return nil, false
	}
	argv := make([]string, 0, len(n.Content))
	for i, elem := range n.Content {
		s, ok := d.scalar(item(path, i), elem, "a word of the command")
		if !ok {
			return nil, false
		}
		argv = append(argv, s)
	}
	return argv, true
}

// env decodes a mapping of variable names to values.
func (d *decoder) env(path string, n *yaml.Node) (map[string]string, bool) {
	entries, ok := d.entries(path, n)
	if !ok {
		return nil, false
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		p := child(path, e.name)
		s, ok := d.scalar(p, e.value, "a value")
		if !ok {
			continue
		}
		if !envName.MatchString(e.name) {
			d.addf(at(e.key), p, "%s is not a variable name: use letters, digits and '_', not starting with a digit", quote(e.name))
			continue
		}
		if strings.HasPrefix(e.name, "PORTEX_") {
			d.addf(at(e.key), p, "variables named PORTEX_* are portex's own (PORTEX_SERVER and friends); choose another name")
			continue
		}
		m[e.name] = s
	}
	return m, true
}

// programs checks the programs: names, commands, the runtime, and that
// they run alone (no pools beside them).
func (v validator) programs() {
	s := v.s
	if len(s.Programs) == 0 {
		if s.Expect != nil && s.Expect.ExitCode != nil {
			v.addf("expect.exit_code", "checks the exit status of the scenario's programs, and it runs none; add programs or remove exit_code")
		}
		return
	}
	if len(s.Programs) > maxPrograms {
		v.addf("programs", "has %d programs; a scenario may have at most %d", len(s.Programs), maxPrograms)
	}
	if len(s.Pools) > 0 && s.Sandbox.Processes > 1 {
		v.keyf("programs", "programs beside pools run in one client process; set sandbox.processes to 1 (or leave it out)")
	}
	if s.Runtime == "host" {
		v.keyf("programs", "programs run on the netns and docker runtimes, not on runtime: host")
	}
	names := make(map[string]int, len(s.Programs))
	for i, p := range s.Programs {
		path := item("programs", i)
		switch {
		case p.Name == "" && !v.given(path+".name"):
			v.addf(path, "missing required key \"name\"")
		case len(p.Name) > maxNameLen || !poolName.MatchString(p.Name):
			v.addf(path+".name", "%s is not a valid program name: use lowercase letters, digits, '_' and '-', starting with a letter or digit, at most %d characters", quote(p.Name), maxNameLen)
		default:
			if first, dup := names[p.Name]; dup {
				v.addf(path+".name", "program name %q is already used by programs[%d]", p.Name, first)
			}
			names[p.Name] = i
		}
		switch {
		case len(p.Exec) == 0 && !v.given(path+".exec"):
			v.addf(path, "missing required key \"exec\": the command to run, like [./my-client, --url, \"http://{server}/\"]")
		case len(p.Exec) == 0 || strings.TrimSpace(p.Exec[0]) == "":
			v.addf(path+".exec", "needs a command to run")
		}
	}
}

// compilePrograms turns valid programs into the plan's, nil when none.
func compilePrograms(ps []Program) []loadgen.Program {
	if len(ps) == 0 {
		return nil
	}
	out := make([]loadgen.Program, len(ps))
	for i, p := range ps {
		out[i] = loadgen.Program{Name: p.Name, Exec: append([]string(nil), p.Exec...)}
		if len(p.Env) > 0 {
			out[i].Env = make(map[string]string, len(p.Env))
			for k, val := range p.Env {
				out[i].Env[k] = val
			}
		}
	}
	return out
}
