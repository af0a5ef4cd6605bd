package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"templatemanager.dev/lxc-template-manager/internal/preflight"
)

// doctor checks the host for the lxc backend — and, with --local-stack, for the demo and the
// tests — raising the kernel limits first where it runs as root, as the backend does at start.
// It prints one line per check and fails naming every missing package and setting.
func doctor(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("pvesim doctor", flag.ContinueOnError)
	fs.SetOutput(out)
	stack := fs.Bool("local-stack", false, "also check what the demo and the tests need: the OS template build, the local apt repository, SSH")
	verbose := fs.Bool("v", false, "list every check, not only those that did not pass")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		changed, err := preflight.Tune(preflight.Limits)
		if err != nil {
			return err
		}
		for _, c := range changed {
			fmt.Fprintf(out, "  raised  %s\n", c)
		}
	}
	checks := preflight.LXCBackend()
	if *stack {
		checks = append(checks, preflight.LocalStack()...)
	}
	results := preflight.Run(checks)
	for _, r := range results {
		if *verbose || !r.OK() {
			fmt.Fprintln(out, r.String())
		}
	}
	failed := preflight.Failed(results)
	if len(failed) == 0 {
		fmt.Fprintf(out, "doctor: the host has all %d prerequisites (cgroup layout %s)\n", len(results), preflight.CgroupLayout())
		return nil
	}
	var pkgs []string
	for _, r := range failed {
		if r.Package != "" && !slices.Contains(pkgs, r.Package) {
			pkgs = append(pkgs, r.Package)
		}
	}
	msg := fmt.Sprintf("doctor: %d prerequisites missing", len(failed))
	if len(pkgs) > 0 {
		msg += fmt.Sprintf("; install the Debian packages %s (make deps does)", strings.Join(pkgs, " "))
	}
	return fmt.Errorf("%s", msg)
}
