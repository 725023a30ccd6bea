package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/simgate/simgate/gateway"
)

// checkModemPorts looks at each configured modem's port as the daemon will
// find it: errs are ports that are missing or are no serial device (serve
// -check fails on them; serve logs them and waits for the modem to appear),
// warnings are globs that match nothing yet.
func checkModemPorts(cfg Config) (errs, warnings []string) {
	for i, m := range cfg.Modems {
		field := fmt.Sprintf("modems[%d] (%s)", i, m.Name)
		if m.Port != "" {
			if err := checkPort(m.Port); err != nil {
				if len(m.Globs) > 0 {
					warnings = append(warnings, fmt.Sprintf("%s.port: %v; its globs are tried instead", field, err))
				} else {
					errs = append(errs, fmt.Sprintf("%s.port: %v", field, err))
				}
			}
			continue
		}
		if !anyMatch(m.Globs) {
			warnings = append(warnings, fmt.Sprintf("%s.globs: %s match no port yet", field, strings.Join(m.Globs, ", ")))
		}
	}
	if cfg.Discovery.Enabled && !anyMatch(cfg.Discovery.Globs) {
		warnings = append(warnings, fmt.Sprintf("discovery.globs: %s match no port yet", strings.Join(cfg.Discovery.Globs, ", ")))
	}
	return errs, warnings
}

// checkPort says what is wrong with a modem's port path, or nil.
func checkPort(p string) error {
	fi, err := os.Stat(p) // follows a /dev/serial/by-id or udev symlink
	switch {
	case errorsIsNotExist(err):
		hint := "is the modem plugged in? ls -l /dev/serial/by-id/ lists the ports"
		if strings.HasPrefix(p, "/dev/simgate/") {
			hint = "is the modem plugged in and systemd/99-simgate.rules installed? ls -l /dev/simgate/"
		}
		return fmt.Errorf("%s does not exist (%s)", p, hint)
	case err != nil:
		return fmt.Errorf("%s: %w", p, err)
	case fi.Mode()&fs.ModeCharDevice == 0:
		return fmt.Errorf("%s is not a serial device (a %s)", p, fileKind(fi))
	}
	if err := syscall.Access(p, 0x4|0x2); err != nil { // R_OK|W_OK for this user
		return fmt.Errorf("%s: this user cannot open it (%v): run simgate as a member of the tty's group, usually dialout", p, err)
	}
	return nil
}

func errorsIsNotExist(err error) bool { return err != nil && os.IsNotExist(err) }

func fileKind(fi fs.FileInfo) string {
	switch {
	case fi.IsDir():
		return "directory"
	case fi.Mode().IsRegular():
		return "regular file"
	}
	return "special file"
}

func anyMatch(globs []string) bool {
	for _, g := range globs {
		if m, _ := filepath.Glob(g); len(m) > 0 {
			return true
		}
	}
	return false
}

// notReadyReason says why no modem can send ("" when one can): each
// modem's name and state, with detail also what it last reported (which
// may name a port path: the log shows that, /readyz does not). It carries
// no phone number.
func notReadyReason(modems []gateway.ModemView, detail bool) string {
	if len(modems) == 0 {
		return "no modem is configured or discovered (add modems to the configuration and send SIGHUP)"
	}
	var why []string
	for _, m := range modems {
		if m.Status.Usable() {
			return ""
		}
		s := m.Name + ": " + string(m.Status.State)
		if m.Status.State == gateway.ModemUp {
			s += ", not registered (" + m.Status.Registration.String() + ")"
		}
		if detail && m.Status.LastError != "" {
			s += " (" + m.Status.LastError + ")"
		}
		why = append(why, s)
	}
	return fmt.Sprintf("no modem can send: %s", strings.Join(why, "; "))
}

// readinessGrace is how long after start the daemon waits for a modem to
// come up before it warns that it is not ready.
const readinessGrace = 30 * time.Second

// loadExtend is how much longer systemd is asked to wait for READY=1 each
// time the queue's loading made progress (EXTEND_TIMEOUT_USEC=): a big
// queue on a slow host is not killed by TimeoutStartSec while it loads, a
// loading that stalls is.
const loadExtend = 30 * time.Second

// reportReadiness tells systemd READY=1 once the queue is loaded, and until
// then says on STATUS= how far it got (at most once a second, asking for
// more time while it progresses); then it logs "simgate ready" once
// /readyz's condition holds, and a warning saying what is missing if it
// does not within readinessGrace (then again each time the reason changes,
// at most every readinessGrace); under systemd the same goes to STATUS=
// (systemctl status shows it).
func (d *daemon) reportReadiness(ctx context.Context) {
	grace := d.opts.readyGrace
	if grace <= 0 {
		grace = readinessGrace
	}
	start := time.Now()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var warned string
	var warnedAt, statusAt time.Time
	loaded := false
	markLoaded := func() {
		loaded = true
		_, n := d.disp.Loading()
		d.log.Info("queue loaded", "entries", n, "after", time.Since(start).Round(time.Millisecond).String())
		_ = d.opts.notify.Notify("READY=1\nSTATUS=serving on " + d.apiAddr + ", queue loaded")
	}
	lastSeen := -1
	for {
		if !loaded {
			select {
			case <-d.disp.Loaded():
				markLoaded()
			default:
				if _, n := d.disp.Loading(); n != lastSeen && time.Since(statusAt) >= time.Second {
					lastSeen, statusAt = n, time.Now()
					qs, _ := d.queueStatus()
					_ = d.opts.notify.Notify(fmt.Sprintf("STATUS=serving on %s, %s\nEXTEND_TIMEOUT_USEC=%d",
						d.apiAddr, qs, loadExtend.Microseconds()))
				}
			}
		}
		_, why := d.readiness(ctx)
		if why == "" {
			if !loaded { // it loaded since the check above
				markLoaded()
			}
			d.mu.Lock()
			n := len(d.modems)
			d.mu.Unlock()
			d.log.Info("simgate ready", "listen", d.apiAddr, "modems", n, "after", time.Since(start).Round(time.Millisecond).String())
			_ = d.opts.notify.Notify(fmt.Sprintf("STATUS=ready on %s (%d modems)", d.apiAddr, n))
			return
		}
		if loaded && time.Since(start) >= grace && why != warned && time.Since(warnedAt) >= grace {
			d.log.Warn("simgate not ready: messages are accepted and wait", "reason", why)
			// systemctl status shows it too.
			_ = d.opts.notify.Notify("STATUS=serving on " + d.apiAddr + ", not ready: " + why)
			warned, warnedAt = why, time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
