package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

// backupPath is the daemon's online backup endpoint (admin key).
const backupPath = api.BackupPath

func cmdBackup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", "-o FILE [-config FILE | -store FILE] [-addr URL -key KEY]", `  simgate backup -config /etc/simgate/simgate.yaml -o /var/backups/simgate.db
  simgate backup -store ./simgate.db -o copy.db

With the daemon stopped, backup reads the store file directly. While the
daemon runs it holds the file; backup then asks the daemon for a consistent
online copy (GET `+backupPath+`), which needs an admin key (-key or
SIMGATE_KEY) and the daemon's address (-addr or SIMGATE_ADDR).
The copy is a complete database: restore it by putting it at store.path
with the daemon stopped.
`, stderr)
	sf := addStoreFlags(fs)
	out := fs.String("o", "", "output file (must not exist)")
	addr := fs.String("addr", envOr("SIMGATE_ADDR", "http://127.0.0.1:8080"), "daemon address, used when the daemon holds the store (env SIMGATE_ADDR)")
	key := fs.String("key", "", "admin API key, used when the daemon holds the store (default: env SIMGATE_KEY)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		fmt.Fprintln(stderr, "simgate backup: -o is required")
		fs.Usage()
		return errUsage
	}
	sc, err := sf.storeConfig()
	if err != nil {
		return err
	}
	if sc.Driver != driverBbolt {
		return fmt.Errorf("simgate backup copies a bbolt store; back up PostgreSQL with pg_dump (store.postgres.schema %q)", sc.Postgres.Schema)
	}
	p := sc.Path
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(*out), ".simgate-backup-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	var n int64
	db, err := store.Open(p, store.Options{Timeout: *sf.timeout})
	switch {
	case err == nil:
		n, err = db.Backup(tmp)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case errors.Is(err, gateway.ErrStoreLocked):
		if *key == "" && os.Getenv("SIMGATE_KEY") == "" {
			return fmt.Errorf("a running daemon holds %s: pass an admin key (-key or SIMGATE_KEY) to back up through it, or stop it", p)
		}
		c, cerr := newClient(*addr, *key)
		if cerr != nil {
			return cerr
		}
		n, err = c.download(ctx, backupPath, tmp)
		if err != nil {
			return fmt.Errorf("online backup through %s: %w", c.base, err)
		}
	default:
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Verify the copy opens before calling it a backup.
	vdb, err := store.Open(tmp.Name(), store.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("the copy does not open: %w", err)
	}
	if err := vdb.Close(); err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists; choose another -o", *out)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Wrote %s (%d bytes).\n", *out, n)
	return nil
}

// download GETs path into w.
func (c *client) download(ctx context.Context, path string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	hc := *c.http
	hc.Timeout = 0 // a large store takes a while
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("short copy: %d of %d bytes", n, resp.ContentLength)
	}
	return n, err
}
