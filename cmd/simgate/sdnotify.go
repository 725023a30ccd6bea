package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"
)

// notifier speaks systemd's sd_notify protocol: datagrams such as
// "READY=1" to the unix socket named by $NOTIFY_SOCKET. Without the
// variable (not started by systemd with Type=notify) it does nothing.
type notifier struct {
	socket string
}

func newNotifier(getenv func(string) string) *notifier {
	return &notifier{socket: getenv("NOTIFY_SOCKET")}
}

// Notify sends state ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...").
func (n *notifier) Notify(state string) error {
	if n == nil || n.socket == "" {
		return nil
	}
	name := n.socket
	if name[0] == '@' { // abstract namespace
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// watchdogInterval returns half of $WATCHDOG_USEC when systemd's watchdog
// is on for this process ($WATCHDOG_PID unset or ours), else 0.
func watchdogInterval(getenv func(string) string) time.Duration {
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// runWatchdog feeds the watchdog every interval, but only after check
// passes: a daemon whose store is not writable or whose event loop is
// stuck stops feeding, and systemd restarts it.
func runWatchdog(ctx context.Context, n *notifier, interval time.Duration, check func(context.Context) error, log *slog.Logger) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, interval)
		err := check(cctx)
		cancel()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				log.Warn("health check failed; not feeding the watchdog", "err", err)
			}
			continue
		}
		if err := n.Notify("WATCHDOG=1"); err != nil {
			log.Warn("sd_notify watchdog", "err", err)
		}
	}
}
