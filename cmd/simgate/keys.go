package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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

keys works on the store file, which only one process may hold: stop the
daemon first (systemctl stop simgate), or it fails after -timeout with
"store is locked by another process".
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
	config, store *string
	timeout       *time.Duration
}

func addStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		config:  fs.String("config", "/etc/simgate/simgate.yaml", "configuration file naming the store (store.path)"),
		store:   fs.String("store", "", "store file (overrides -config)"),
		timeout: fs.Duration("timeout", time.Second, "how long to wait for the store's lock"),
	}
}

// path returns the store file: -store, or store.path of -config.
func (f storeFlags) path() (string, error) {
	if *f.store != "" {
		return *f.store, nil
	}
	data, err := os.ReadFile(*f.config)
	if err != nil {
		return "", fmt.Errorf("%w (pass -store FILE or -config FILE)", err)
	}
	// Only store.path matters: secrets are not resolved.
	cfg := DefaultConfig()
	if err := decodeStrict(data, &cfg); err != nil {
		return "", fmt.Errorf("config %s: %w", *f.config, err)
	}
	return cfg.Store.Path, nil
}

// open opens the store; a daemon holding it is reported plainly.
func (f storeFlags) open() (*store.DB, error) {
	p, err := f.path()
	if err != nil {
		return nil, err
	}
	db, err := store.Open(p, store.Options{Timeout: *f.timeout})
	if errors.Is(err, gateway.ErrStoreLocked) {
		return nil, fmt.Errorf("%s is held by a running simgate: stop the daemon first (%w)", p, err)
	}
	return db, err
}

func keysCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("keys create", "-owner NAME -scopes send,read [-config FILE | -store FILE]", keysExamples, stderr)
	sf := addStoreFlags(fs)
	owner := fs.String("owner", "", "who the key belongs to: the agent of record for what it sends")
	scopes := fs.String("scopes", "send,read", "comma-separated: send, read, admin (admin implies the others)")
	quiet := fs.Bool("q", false, "print only the key")
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
	db, err := sf.open()
	if err != nil {
		return err
	}
	defer db.Close()
	secret, err := createKey(ctx, db, *owner, sc)
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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := sf.open()
	if err != nil {
		return err
	}
	defer db.Close()
	keys, err := db.ListKeys(ctx)
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
	fs := newFlags("keys revoke", "[-config FILE | -store FILE] ID", keysExamples, stderr)
	sf := addStoreFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "simgate keys revoke: name one key ID (see simgate keys list)")
		return errUsage
	}
	db, err := sf.open()
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.RevokeKey(ctx, fs.Arg(0), time.Now().UTC()); err != nil {
		if errors.Is(err, gateway.ErrNotFound) {
			return fmt.Errorf("no key %q (see simgate keys list)", fs.Arg(0))
		}
		return err
	}
	fmt.Fprintf(stdout, "Revoked key %s.\n", fs.Arg(0))
	return nil
}
