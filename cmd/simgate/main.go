package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// version is set with -ldflags "-X main.version=v1.2.3"; otherwise the
// module version from the build info is used.
var version = ""

func main() {
	os.Exit(realMain())
}

func realMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal the next one is not caught: a second
		// Ctrl-C ends a shutdown that takes too long.
		<-ctx.Done()
		stop()
	}()
	return run(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// errUsage is returned for bad command lines; the usage was printed already.
var errUsage = errors.New("usage")

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the gateway daemon", cmdServe},
		{"demo", "run the whole gateway on simulated modems, with a printed key and curl examples", cmdDemo},
		{"sim", "run the standalone modem simulator on pseudo-terminals", cmdSim},
		{"keys", "create, list and revoke API keys in the store", cmdKeys},
		{"users", "create, list, disable web app accounts and set their passwords", cmdUsers},
		{"send", "send a message through a running daemon", cmdSend},
		{"messages", "list messages or show one, from a running daemon", cmdMessages},
		{"modems", "list modems or pause/resume/drain one, on a running daemon", cmdModems},
		{"backup", "write a consistent copy of the store", cmdBackup},
		{"version", "print the version", cmdVersion},
	}
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "simgate %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "simgate: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `simgate is a self-hosted SMS gateway for USB GSM modems.

Usage:
  simgate <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Try it without hardware:
  go run ./cmd/simgate demo

Run "simgate <command> -h" for the flags and examples of a command.
`)
}

// newFlags returns a FlagSet whose -h prints summary, the flags and examples.
func newFlags(name, synopsis, examples string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("simgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: simgate %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(stderr, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// parseFlags parses args, mapping bad flags to errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// buildVersion is the version from -ldflags or the build info.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			return "devel-" + rev + dirty
		}
	}
	return "devel"
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "", "  simgate version\n", stderr)
	verbose := fs.Bool("v", false, "also print the module versions built in")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	goVersion := "unknown"
	if ok {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(stdout, "simgate %s (%s)\n", buildVersion(), goVersion)
	if *verbose && ok {
		deps := make([]string, 0, len(bi.Deps))
		for _, d := range bi.Deps {
			deps = append(deps, d.Path+" "+d.Version)
		}
		sort.Strings(deps)
		fmt.Fprintln(stdout, "  "+strings.Join(deps, "\n  "))
	}
	return nil
}
