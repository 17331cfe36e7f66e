package result

// EventOutput is a line a program printed (Event.Program says whose).
const EventOutput = "output"

// ProgramResult is what one program the scenario ran did: how it ended,
// what it printed (bounded), and when its output first reported a failed
// connect in its runtime's words.
type ProgramResult struct {
	Name string   `json:"name"`
	Argv []string `json:"argv"`
	// ExitCode is the program's exit status; -1 when a signal ended it.
	ExitCode int `json:"exit_code"`
	// Signal names the signal that ended it ("killed", "terminated"), if
	// one did; StoppedByPortex is set when portex sent it (the run's
	// duration, or an interrupt).
	Signal          string `json:"signal,omitempty"`
	StoppedByPortex bool   `json:"stopped_by_portex,omitempty"`
	// ElapsedSeconds is how long it ran.
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// OutputHead is the first lines of its stdout and stderr, OutputTail
	// the last bytes; OutputBytes counts all it printed.
	OutputHead  string `json:"output_head,omitempty"`
	OutputTail  string `json:"output_tail,omitempty"`
	OutputBytes int64  `json:"output_bytes"`
	// FirstErrorLine is the first line that reports a failed connect (see
	// loadgen.ClassifyOutput), FirstErrorClass its class, and
	// FirstErrorAtSeconds when it came, from the run's start.
	FirstErrorLine      string   `json:"first_error_line,omitempty"`
	FirstErrorClass     string   `json:"first_error_class,omitempty"`
	FirstErrorRuntime   string   `json:"first_error_runtime,omitempty"`
	FirstErrorAtSeconds *float64 `json:"first_error_at_seconds,omitempty"`
}
