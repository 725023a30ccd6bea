package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/store"
)

const keysExamples = `  simgate keys create -config /etc/simgate/simgate.yaml -owner ana -scopes send,read
  simgate keys create -store ./simgate.db -owner ops -scopes admin
  simgate keys list -config /etc/simgate/simgate.yaml
  simgate keys revoke -config /etc/simgate/simgate.yaml key_3f9a2c1b7d4e
  SIMGATE_KEY=sg_... simgate keys revoke key_3f9a2c1b7d4e     (the daemon is running)

keys works on the store file when the daemon is stopped. While the daemon
runs it holds the file; keys then goes through the daemon's API
(/v1/keys), which needs an admin key (-key or SIMGATE_KEY) and the
daemon's address (-addr or SIMGATE_ADDR). A key revoked either way is
refused at its next request.
`

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		help := len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
		w := stderr
		if help {
			w = stdout
		}
		fmt.Fprintf(w, "Usage: simgate keys create|list|revoke [flags]\n\nExamples:\n%s", keysExamples)
		if help {
			return flag.ErrHelp
		}
		return errUsage
	}
	switch args[0] {
	case "create":
		return keysCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return keysList(ctx, args[1:], stdout, stderr)
	case "revoke":
		return keysRevoke(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "simgate keys: unknown command %q (create, list, revoke)\n", args[0])
	return errUsage
}

// storeFlags adds -config, -store and -timeout.
type storeFlags struct {
	fs            *flag.FlagSet
	config, store *string
	timeout       *time.Duration
}

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		fs:      fs,
		config:  fs.String("config", "/etc/simgate/simgate.yaml", "configuration file naming the store (store.path)"),
		store:   fs.String("store", "", "store file (overrides -config)"),
		timeout: fs.Duration("timeout", time.Second, "how long to wait for the store's lock (postgres: to connect and migrate; default store.open_timeout)"),
	}
}

// timeoutSet reports whether -timeout was given.
func (f storeFlags) timeoutSet() bool {
	set := false
	f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "timeout" })
	return set
}

// storeConfig returns the store to open: the file -store, or store.* of
// -config (of the secrets only driver postgres's connection string is
// resolved).
func (f storeFlags) storeConfig() (StoreConfig, error) {
	if *f.store != "" {
		return StoreConfig{Driver: driverBbolt, Path: *f.store, OpenTimeout: Duration(*f.timeout)}, nil
	}
	data, err := os.ReadFile(*f.config)
	if err != nil {
		return StoreConfig{}, fmt.Errorf("%w (pass -store FILE or -config FILE)", err)
	}
	cfg := DefaultConfig()
	if err := decodeStrict(data, &cfg); err != nil {
		return StoreConfig{}, fmt.Errorf("config %s: %w", *f.config, err)
	}
	s := cfg.Store
	// A bbolt lock held by the daemon should fail fast; connecting to
	// PostgreSQL and migrating a new schema takes what the config allows.
	if s.Driver != driverPostgres || f.timeoutSet() {
		s.OpenTimeout = Duration(*f.timeout)
	}
	var errs []error
	s.validate(func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	})
	if err := s.resolve(os.Getenv, filepath.Dir(*f.config)); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return StoreConfig{}, fmt.Errorf("config %s: %w", *f.config, err)
	}
	return s, nil
}

// onlineFlags are -addr and -key, used when a running daemon holds the store.
type onlineFlags struct{ addr, key *string }

func addOnlineFlags(fs *flag.FlagSet) onlineFlags {
	return onlineFlags{
		addr: fs.String("addr", envOr("SIMGATE_ADDR", "http://127.0.0.1:8080"), "daemon address, used when the daemon holds the store (env SIMGATE_ADDR)"),
		key:  fs.String("key", "", "admin API key, used when the daemon holds the store (default: env SIMGATE_KEY)"),
	}
}

// withKeys runs local on the store file or, when a running daemon holds
// the file and an admin key is given, online through the daemon's API.
// (A PostgreSQL store is never held: it is always used directly.)
func (f storeFlags) withKeys(of onlineFlags, local func(storeDB) error, online func(*client) error) error {
	s, err := f.storeConfig()
	if err != nil {
		return err
	}
	p := s.Path
	db, err := f.open()
	switch {
	case err == nil:
		defer db.Close()
		return local(db)
	case errors.Is(err, gateway.ErrStoreLocked):
		if *of.key == "" && os.Getenv("SIMGATE_KEY") == "" {
			return fmt.Errorf("%s is held by a running simgate: pass an admin key (-key or SIMGATE_KEY) to do this through it, or stop the daemon first (%w)", p, err)
		}
		c, err := newClient(*of.addr, *of.key)
		if err != nil {
			return err
		}
		return online(c)
	}
	return err
}

// open opens the store; a daemon holding a bbolt file is reported plainly.
func (f storeFlags) open() (storeDB, error) {
	s, err := f.storeConfig()
	if err != nil {
		return nil, err
	}
	if s.Driver == driverPostgres {
		ctx, cancel := context.WithTimeout(context.Background(), max(*f.timeout, 10*time.Second))
		defer cancel()
		return openStore(ctx, s, nil, nil)
	}
	db, err := store.Open(s.Path, store.Options{Timeout: *f.timeout})
	if errors.Is(err, gateway.ErrStoreLocked) {
		return nil, fmt.Errorf("%s is held by a running simgate: stop the daemon first (%w)", s.Path, err)
	}
	return db, err
}

func keysCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys create", "-owner NAME -scopes send,read [-config FILE | -store FILE]", keysExamples, stderr)
	sf := addStoreFlags(fs)
	owner := fs.String("owner", "", "who the key belongs to: the agent of record for what it sends")
	scopes := fs.String("scopes", "send,read", "comma-separated: send, read, admin (admin implies the others)")
	quiet := fs.Bool("q", false, "print only the key")
	of := addOnlineFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *owner == "" {
		fmt.Fprintln(stderr, "simgate keys create: -owner is required")
		fs.Usage()
		return errUsage
	}
	var sc []string
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sc = append(sc, s)
		}
	}
	var secret newKey
	err := sf.withKeys(of, func(db storeDB) error {
		var err error
		secret, err = createKey(ctx, db, *owner, sc)
		return err
	}, func(c *client) error {
		raw, err := c.do(ctx, http.MethodPost, "/v1/keys", map[string]any{"owner": *owner, "scopes": sc}, nil)
		if err != nil {
			return err
		}
		var v api.KeyView
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		secret = newKey{id: v.ID, secret: v.Secret, scopes: v.Scopes}
		return nil
	})
	if err != nil {
		return err
	}
	if *quiet {
		fmt.Fprintln(stdout, secret.secret)
		return nil
	}
	fmt.Fprintf(stdout, "Created key %s for %s (scopes %s).\nThe key is shown only now; store it safely:\n\n  %s\n\n", secret.id, *owner, strings.Join(secret.scopes, ","), secret.secret)
	return nil
}

type newKey struct {
	id, secret string
	scopes     []string
}

// createKey makes and stores a key.
func createKey(ctx context.Context, ks gateway.KeyStore, owner string, scopes []string) (newKey, error) {
	secret, k, err := api.GenerateKey(owner, scopes, time.Now().UTC())
	if err != nil {
		return newKey{}, err
	}
	if err := ks.CreateKey(ctx, k); err != nil {
		return newKey{}, err
	}
	return newKey{id: k.ID, secret: secret, scopes: k.Scopes}, nil
}

func keysList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys list", "[-config FILE | -store FILE]", keysExamples, stderr)
	sf := addStoreFlags(fs)
	all := fs.Bool("all", false, "include revoked keys")
	of := addOnlineFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var keys []gateway.APIKey
	err := sf.withKeys(of, func(db storeDB) error {
		var err error
		keys, err = db.ListKeys(ctx)
		return err
	}, func(c *client) error {
		raw, err := c.do(ctx, http.MethodGet, "/v1/keys", nil, nil)
		if err != nil {
			return err
		}
		var list api.KeyList
		if err := json.Unmarshal(raw, &list); err != nil {
			return err
		}
		for _, v := range list.Data {
			k := gateway.APIKey{ID: v.ID, Owner: v.Owner, Scopes: v.Scopes, CreatedAt: v.CreatedAt}
			if v.LastUsed != nil {
				k.LastUsed = *v.LastUsed
			}
			if v.RevokedAt != nil {
				k.RevokedAt = *v.RevokedAt
			}
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(keys, func(a, b gateway.APIKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tSCOPES\tCREATED\tLAST USED\tREVOKED")
	for _, k := range keys {
		if !k.RevokedAt.IsZero() && !*all {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Owner, strings.Join(k.Scopes, ","), fmtTime(k.CreatedAt), fmtTime(k.LastUsed), fmtTime(k.RevokedAt))
	}
	return tw.Flush()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func keysRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys revoke", "[-config FILE | -store FILE] [-addr URL -key KEY] ID", keysExamples, stderr)
	sf := addStoreFlags(fs)
	of := addOnlineFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "simgate keys revoke: name one key ID (see simgate keys list)")
		return errUsage
	}
	id := fs.Arg(0)
	err := sf.withKeys(of, func(db storeDB) error {
		return db.RevokeKey(ctx, id, time.Now().UTC())
	}, func(c *client) error {
		_, err := c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(id), nil, nil)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return fmt.Errorf("key: %w", gateway.ErrNotFound)
		}
		return err
	})
	if err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return fmt.Errorf("no key %q (see simgate keys list)", id)
		}
		return err
	}
	fmt.Fprintf(stdout, "Revoked key %s.\n", fs.Arg(0))
	return nil
}
