package modem

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/warthog618/modem/at"

	"github.com/simgate/simgate/gateway"
)

// ErrPortBusy: the port is held by a Device (or another probe) of this process.
var ErrPortBusy = errors.New("port is in use")

// Found is a port that answered a probe.
type Found struct {
	Path string
	Info gateway.ModemInfo
}

// Probe opens path, checks that a modem answers AT there and reads its
// identity (manufacturer, model, firmware, IMEI and, when the SIM is
// unlocked, IMSI and ICCID). timeout bounds each AT command; ctx bounds the
// whole probe. A port held by a Device is not touched (ErrPortBusy). Probe
// never enters a PIN.
func Probe(ctx context.Context, path string, timeout time.Duration) (gateway.ModemInfo, error) {
	return probe(ctx, path, timeout, openSerial)
}

func probe(ctx context.Context, path string, timeout time.Duration, op opener) (gateway.ModemInfo, error) {
	var info gateway.ModemInfo
	if timeout <= 0 {
		timeout = time.Second
	}
	owner := "probe:" + path
	resolved, ok := claim(path, owner)
	if !ok {
		return info, fmt.Errorf("probe %s: %w", path, ErrPortBusy)
	}
	defer release(resolved, owner)
	if err := ctx.Err(); err != nil {
		return info, err
	}
	rw, err := op(path, 115200)
	if err != nil {
		return info, err
	}
	t := newTap(rw, discardLogger)
	a := at.New(t, at.WithTimeout(timeout))
	defer func() {
		_ = t.Close()
		select {
		case <-a.Closed():
		case <-time.After(closeWaitAT):
		}
	}()
	// Close the port when ctx ends so that a slow command returns at once.
	stop := context.AfterFunc(ctx, func() { _ = t.Close() })
	defer stop()

	cmd := func(c string) ([]string, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return a.Command(c, at.WithTimeout(timeout))
	}
	a.Escape([]byte("\r\n")...)
	var answered bool
	for range 3 {
		if _, err = cmd(""); err == nil {
			answered = true
			break
		}
		if ctx.Err() != nil || errors.Is(err, at.ErrClosed) {
			break
		}
	}
	if !answered {
		return info, fmt.Errorf("probe %s: no answer to AT: %w", path, err)
	}
	cmd("E0")
	cmd("+CMEE=1")
	lines, err := cmd("+CGSN")
	if err != nil {
		return info, fmt.Errorf("probe %s: read IMEI: %w", path, err)
	}
	if info.IMEI, ok = parseDigits(lines, 14, 17, false, "+CGSN:"); !ok {
		return info, fmt.Errorf("probe %s: no IMEI in answer", path)
	}
	if lines, err := cmd("+CGMI"); err == nil {
		info.Manufacturer, _ = parseText(lines, "+CGMI:")
	}
	if lines, err := cmd("+CGMM"); err == nil {
		info.Model, _ = parseText(lines, "+CGMM:")
	}
	if lines, err := cmd("+CGMR"); err == nil {
		info.Firmware, _ = parseText(lines, "+CGMR:")
	}
	if lines, err := cmd("+CIMI"); err == nil {
		info.IMSI, _ = parseDigits(lines, 6, 15, false, "+CIMI:")
	}
	for _, c := range []string{"+CCID", "+ICCID"} {
		if lines, err := cmd(c); err == nil {
			if v, ok := parseDigits(lines, 18, 22, true, "+CCID:", "+ICCID:"); ok {
				info.ICCID = v
				break
			}
		}
	}
	return info, ctx.Err()
}

// Discover expands globs (e.g. "/dev/serial/by-id/*", "/dev/ttyUSB*"), skips
// ports that a Device holds or that exclude rejects (exclude may be nil),
// probes the rest concurrently and returns those that answered with an IMEI,
// sorted by path. Ports reached through several names are probed once.
func Discover(ctx context.Context, globs []string, exclude func(path string) bool) ([]Found, error) {
	return discover(ctx, globs, exclude, 2*time.Second, openSerial)
}

func discover(ctx context.Context, globs []string, exclude func(string) bool, timeout time.Duration, op opener) ([]Found, error) {
	seen := map[string]bool{}
	var paths []string
	for _, g := range globs {
		m, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("discover: glob %q: %w", g, err)
		}
		sort.Strings(m)
		for _, p := range m {
			r := resolve(p)
			if seen[r] || claimed(p) || exclude != nil && exclude(p) {
				continue
			}
			seen[r] = true
			paths = append(paths, p)
		}
	}
	var (
		mu    sync.Mutex
		found []Found
		wg    sync.WaitGroup
		sem   = make(chan struct{}, 4)
	)
	for _, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			info, err := probe(ctx, p, timeout, op)
			if err != nil {
				return
			}
			mu.Lock()
			found = append(found, Found{Path: p, Info: info})
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(found, func(i, j int) bool { return found[i].Path < found[j].Path })
	return found, ctx.Err()
}
