package main

import (
	"errors"
	"time"

	"github.com/portex/portex/loadgen"
)

// durationValue is a duration flag that reads its value as a scenario's
// durations are read (loadgen.ParseDuration). Its type is pflag's
// "duration", so GetDuration reads it.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := loadgen.ParseDuration(s)
	if errors.Is(err, loadgen.ErrSyntax) {
		return errors.New("want a duration like 500ms or 2s")
	}
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Type() string { return "duration" }

// Duration defines a duration flag read like a scenario's durations.
func (fs *flagSet) Duration(name string, value time.Duration, usage string) *time.Duration {
	p := new(time.Duration)
	*p = value
	fs.Var((*durationValue)(p), name, usage)
	if value == 0 {
		fs.Lookup(name).DefValue = "0" // pflag's help leaves out a zero default
	}
	return p
}
