package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
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
		{"sims", "list the SIMs seen (ICCID, modem, counters, budget, balance), on a running daemon", cmdSIMs},
		{"conversations", "both directions of the exchange with one contact, from a running daemon", cmdConversations},
		{"optouts", "list, add or remove opted-out numbers, on a running daemon", cmdOptOuts},
		{"webhooks", "list, add or remove webhook endpoints, on a running daemon", cmdWebhooks},
		{"backup", "write a consistent copy of the store", cmdBackup},
		{"store", "maintain the store file (compact)", cmdStore},
		{"campaigns", "P2P campaigns on a running daemon: create, import contacts, start, assign, stats, export", cmdCampaigns},
		{"version", "print the version", cmdVersion},
	}
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			return run(ctx, []string{args[1], "-h"}, stdout, stderr)
		}
		if len(args) == 0 {
			usage(stderr)
			return 2
		}
		usage(stdout) // help asked for goes to stdout (simgate help | less)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		var help *helpRequest
		switch {
		case err == nil:
			return 0
		case errors.As(err, &help):
			help.fs.SetOutput(stdout)
			help.fs.Usage()
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
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Try it without hardware:
  go run ./cmd/simgate demo

Run "simgate <command> -h" for the flags and examples of a command.
`)
}

// newFlags returns a FlagSet whose Usage prints the synopsis, the flags and
// the examples to its output: stderr for a bad command line, stdout when
// -h asked for it (see parseFlags).
func newFlags(name, synopsis, examples string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("simgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: simgate %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(w, "\nExamples:\n%s", examples)
		}
	}
	return fs
}

// helpRequest is parseFlags' answer to -h: run prints fs's usage to stdout.
// It matches flag.ErrHelp.
type helpRequest struct{ fs *flag.FlagSet }

func (h *helpRequest) Error() string        { return flag.ErrHelp.Error() }
func (h *helpRequest) Is(target error) bool { return target == flag.ErrHelp }

// parseFlags parses args: a bad flag prints its error and the usage to
// stderr (errUsage); -h returns a *helpRequest, so that run prints the
// usage to stdout.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {} // Parse calls it for -h and for errors; decided below
	err := fs.Parse(args)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		return &helpRequest{fs: fs}
	case err != nil:
		fs.Usage()
		return errUsage
	}
	return nil
}

// buildVersion is the version from -ldflags or the build info (the metrics'
// simgate_build_info and the API's /healthz show it).
func buildVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(version, bi).version
}

// versionInfo is what a binary knows of its own version.
type versionInfo struct {
	version  string // v1.2.3, devel-0123456789ab(-dirty) or devel
	revision string // the full VCS revision, if built from a checkout
	time     string // the revision's commit time (RFC 3339)
}

// versionOf reads the version: -ldflags "-X main.version=v1.2.3" first,
// then the module version (go install ...@v1.2.3), then the VCS revision
// and time that go build records in a git checkout (-buildvcs, on by
// default), else "devel".
func versionOf(ldflags string, bi *debug.BuildInfo) versionInfo {
	var v versionInfo
	var dirty bool
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.revision = s.Value
			case "vcs.time":
				v.time = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	switch {
	case ldflags != "":
		v.version = ldflags
	case bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)":
		v.version = bi.Main.Version
	case v.revision != "":
		v.version = "devel-" + v.revision[:min(12, len(v.revision))]
		if dirty {
			v.version += "-dirty"
		}
	default:
		v.version = "devel"
	}
	return v
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "", `  simgate version
  simgate version -v

Builds stamp the version with
  go build -ldflags "-X main.version=$(git describe --tags --always --dirty)" ./cmd/simgate
Without it, a build from a git checkout shows its commit (devel-<commit>)
and commit time; with -buildvcs=false or outside a checkout, "devel".
`, stderr)
	verbose := fs.Bool("v", false, "also print the module versions built in")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bi, ok := debug.ReadBuildInfo()
	goVersion := runtime.Version()
	if ok {
		goVersion = bi.GoVersion
	}
	v := versionOf(version, bi)
	var about []string
	if v.revision != "" && !strings.HasPrefix(v.version, "devel-") {
		about = append(about, "commit "+v.revision[:min(12, len(v.revision))])
	}
	if v.time != "" {
		about = append(about, "committed "+v.time)
	}
	about = append(about, goVersion)
	fmt.Fprintf(stdout, "simgate %s (%s)\n", v.version, strings.Join(about, ", "))
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
