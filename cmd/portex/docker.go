package main

import (
	"fmt"

	"github.com/portex/portex/docker"
)

// cmdDocker groups the docker runtime's housekeeping: docker prune.
func cmdDocker(e *env, args []string) int {
	fs := newFlags(e, "docker", "prune [--images]",
		"Remove the containers and networks portex runs left behind (a crash, a\n"+
			"kill -9), found by their io.portex.run label; nothing else is touched.\n"+
			"Runs still going lose theirs too. With --images, also remove the images\n"+
			"the docker runtime built (they are otherwise kept for reuse).")
	images := fs.Bool("images", false, "also remove the portex images")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 || fs.Arg(0) != "prune" {
		fs.Usage()
		return exitUsage
	}
	eng, err := docker.Connect(e.ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex docker prune: %v\n", err)
		return exitRuntime
	}
	defer eng.Close()
	n, err := eng.Prune(e.ctx, *images)
	msg := "removed " + count(n.Containers, "container") + ", " + count(n.Networks, "network")
	if *images {
		msg += ", " + count(n.Images, "image")
	}
	fmt.Fprintln(e.stdout, msg)
	if err != nil {
		fmt.Fprintf(e.stderr, "portex docker prune: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

// count says "1 network", "2 networks".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
