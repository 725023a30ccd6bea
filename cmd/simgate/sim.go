package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/simgate/simgate/modem/modemsim"
)

func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sim", "[flags]", `  simgate sim -modems 4 -link-dir /tmp/simgate-sim
      serves /tmp/simgate-sim/<modem> as pseudo-terminals; point a config's
      modems[].port at them and run simgate serve
  simgate sim -modems 2 -link-dir /tmp/sim -latency 3s -jitter 2s
      sends take as long as on a real network
  simgate sim -modems 1 -link-dir /tmp/sim -control 127.0.0.1:8090
      the control endpoint injects inbound SMS, toggles faults and lists
      what the network accepted (see its output for the routes)
`, stderr)
	n := fs.Int("modems", 2, "number of simulated modems")
	linkDir := fs.String("link-dir", "", "directory for the modems' port symlinks (required)")
	control := fs.String("control", "127.0.0.1:0", "address of the loopback HTTP control endpoint (\"\" for none)")
	latency := fs.Duration("latency", 0, "time a send takes before +CMGS is answered")
	jitter := fs.Duration("jitter", 0, "random extra send time, 0..jitter")
	delivery := fs.Duration("delivery-delay", 0, "time from submission to delivery (and its status report)")
	echo := fs.Bool("echo", false, "modems start with echo on (ATE1), like real ones")
	boot := fs.Bool("boot-noise", false, "vendor noise (^BOOT, RDY, SMS Ready) after boot")
	urc := fs.Bool("urc-in-answers", false, "unsolicited lines inside command answers")
	verbose := fs.Bool("v", false, "log raw AT traffic")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *linkDir == "" {
		fs.Usage()
		return errUsage
	}
	if err := os.MkdirAll(*linkDir, 0o755); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	return modemsim.Serve(ctx, modemsim.ServeOptions{
		Modems:        *n,
		LinkDir:       *linkDir,
		Control:       *control,
		Latency:       *latency,
		Jitter:        *jitter,
		DeliveryDelay: *delivery,
		Echo:          *echo,
		BootNoise:     *boot,
		URCInAnswers:  *urc,
		Logger:        log,
	}, stdout)
}
