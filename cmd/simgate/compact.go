package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// storeCommands are the subcommands of simgate store.
var storeCommands = []command{
	{"compact", "rewrite the store file without its free pages (daemon stopped)", cmdStoreCompact},
	{"copy", "copy a bbolt store into PostgreSQL, or back, and check the copy (daemons stopped)", cmdStoreCopy},
}

func cmdStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		for _, c := range storeCommands {
			if c.name == args[0] {
				return c.run(ctx, args[1:], stdout, stderr)
			}
		}
		fmt.Fprintf(stderr, "simgate store: unknown command %q\n", args[0])
	}
	help := len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
	w := stderr
	if help {
		w = stdout
	}
	fmt.Fprintln(w, "Usage: simgate store COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range storeCommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nExamples:\n  simgate store compact -config /etc/simgate/simgate.yaml\n  simgate store copy -config /etc/simgate/simgate.yaml -to postgres\n")
	if help {
		return flag.ErrHelp
	}
	return errUsage
}

func cmdStoreCompact(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("store compact", "[-config FILE | -store FILE]", `  systemctl stop simgate
  simgate store compact -config /etc/simgate/simgate.yaml
  systemctl start simgate

Retention deletes old records and bbolt reuses their pages, but the file
never shrinks by itself. compact copies everything into a new file with
full pages and renames it over the store. It needs the daemon stopped (it
refuses while the store is locked) and free disk space for the copy.
`, stderr)
	sf := addStoreFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	sc, err := sf.storeConfig()
	if err != nil {
		return err
	}
	if sc.Driver != driverBbolt {
		return errors.New("simgate store compact compacts a bbolt file; PostgreSQL reclaims space with its own VACUUM")
	}
	p := sc.Path
	res, err := store.Compact(p, *sf.timeout)
	if errors.Is(err, gateway.ErrStoreLocked) {
		return fmt.Errorf("%s is held by a running simgate: stop the daemon first (%w)", p, err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s → %s\n", p, humanBytes(res.Before), humanBytes(res.After))
	return nil
}

// humanBytes formats n as B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	const k = 1024
	switch {
	case n >= k*k*k:
		return fmt.Sprintf("%.1f GiB", float64(n)/(k*k*k))
	case n >= k*k:
		return fmt.Sprintf("%.1f MiB", float64(n)/(k*k))
	case n >= k:
		return fmt.Sprintf("%.1f KiB", float64(n)/k)
	}
	return fmt.Sprintf("%d B", n)
}
