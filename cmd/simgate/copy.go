package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/campaign"
)

// copyStore is what simgate store copy reads and writes: a store, plus
// enumeration of the records the store interfaces cannot list (both
// backends implement it).
type copyStore interface {
	storeDB
	ForEachSticky(ctx context.Context, fn func(contact string, s gateway.Sticky) error) error
	ForEachDelivery(ctx context.Context, fn func(gateway.Delivery) error) error
	ForEachUnmatchedReport(ctx context.Context, fn func(gateway.StatusReport) error) error
	ForEachSession(ctx context.Context, fn func(account.Session) error) error
	ForEachEvent(ctx context.Context, fn func(e gateway.Event, handedOn bool) error) error
	ForEachTexter(ctx context.Context, fn func(campaign.Texter) error) error
}

const storeCopyHelp = `  systemctl stop simgate
  simgate store copy -config /etc/simgate/simgate.yaml -to postgres
  (set store.driver: postgres in the config, then) systemctl start simgate

  simgate store copy -config /etc/simgate/simgate.yaml -to bbolt -store /var/lib/simgate/from-pg.db

-to postgres copies the bbolt file (-store, or store.path of -config) into
the database of store.postgres (dsn_env or dsn_file, schema), which must be
empty. -to bbolt copies that database into a new bbolt file (-store).
Every area (messages, fragments, sticky bindings, budgets, SIMs, opt-outs,
events and the outbox cursor, keys, webhooks, deliveries, unmatched
reports, users, sessions) is then counted and checksummed on both sides;
the copy fails unless they agree. Stop the daemons first: what they write
during the copy is not copied (and the check then fails).
`

func cmdStoreCopy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("store copy", "-to postgres|bbolt [-config FILE] [-store FILE]", storeCopyHelp, stderr)
	sf := addStoreFlags(fs)
	to := fs.String("to", "", "where to copy: postgres (from the bbolt file) or bbolt (into a new file)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to != driverPostgres && *to != driverBbolt {
		fmt.Fprintln(stderr, "simgate store copy: -to must be postgres or bbolt")
		fs.Usage()
		return errUsage
	}
	file, pg, err := copyEnds(sf)
	if err != nil {
		return err
	}
	if *to == driverBbolt {
		if _, err := os.Stat(file.Path); err == nil {
			return fmt.Errorf("%s exists: -to bbolt writes a new file (move it away or name another with -store)", file.Path)
		}
	} else if _, err := os.Stat(file.Path); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	bdb, err := openStore(ctx, file, nil, nil)
	if err != nil {
		return err
	}
	defer bdb.Close()
	pdb, err := openStore(ctx, pg, nil, nil)
	if err != nil {
		return err
	}
	defer pdb.Close()
	src, dst := bdb.(copyStore), pdb.(copyStore)
	from, into := file.Path, pg.describe()
	if *to == driverBbolt {
		src, dst = dst, src
		from, into = into, from
	}
	fmt.Fprintf(stderr, "simgate store copy: from %s into %s\n", from, into)
	if err := copyStores(ctx, src, dst, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %s into %s: every area's count and checksum agree\n", from, into)
	return nil
}

// copyEnds returns the bbolt file and the PostgreSQL database of the copy,
// from -store and -config.
func copyEnds(sf storeFlags) (file, pg StoreConfig, err error) {
	data, err := os.ReadFile(*sf.config)
	if err != nil {
		return file, pg, fmt.Errorf("%w (store copy needs -config FILE naming store.postgres)", err)
	}
	cfg := DefaultConfig()
	if err := decodeStrict(data, &cfg); err != nil {
		return file, pg, fmt.Errorf("config %s: %w", *sf.config, err)
	}
	file = StoreConfig{Driver: driverBbolt, Path: cfg.Store.Path, OpenTimeout: Duration(*sf.timeout)}
	if *sf.store != "" {
		file.Path = *sf.store
	}
	pg = cfg.Store
	pg.Driver, pg.OpenTimeout = driverPostgres, Duration(max(*sf.timeout, 10*time.Second))
	var errs []error
	pg.validate(func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	})
	if err := pg.resolve(os.Getenv, filepath.Dir(*sf.config)); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return file, pg, fmt.Errorf("config %s: %w", *sf.config, err)
	}
	return file, pg, nil
}

// copyArea is one kind of record: how to copy it and how to digest it.
type copyArea struct {
	name string
	// copy reads every record of src and writes it to dst, calling tick
	// once per record.
	copy func(ctx context.Context, src, dst copyStore, tick func()) error
	// digest feeds every record, in an order both backends share, to add.
	digest func(ctx context.Context, s copyStore, add func(v any) error) error
}

// areaDigest is the count and SHA-256 of one area's records.
type areaDigest struct {
	n   int
	sum string
}

func digestArea(ctx context.Context, a copyArea, s copyStore) (areaDigest, error) {
	h := sha256.New()
	n := 0
	err := a.digest(ctx, s, func(v any) error {
		n++
		return writeJSON(h, v)
	})
	return areaDigest{n: n, sum: hex.EncodeToString(h.Sum(nil))}, err
}

func writeJSON(h hash.Hash, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h.Write(b)
	h.Write([]byte{'\n'})
	return nil
}

// copyStores copies every area of src into dst, which must be empty, then
// checks each area's count and checksum on both sides.
func copyStores(ctx context.Context, src, dst copyStore, progress io.Writer) error {
	areas := copyAreas()
	for _, a := range areas {
		d, err := digestArea(ctx, a, dst)
		if err != nil {
			return fmt.Errorf("check the target is empty (%s): %w", a.name, err)
		}
		if d.n > 0 {
			return fmt.Errorf("the target is not empty (%d %s): copy only into a new store", d.n, a.name)
		}
	}
	for _, a := range areas {
		if err := copyOne(ctx, a, src, dst, progress); err != nil {
			return fmt.Errorf("copy %s: %w", a.name, err)
		}
	}
	var bad []string
	for _, a := range areas {
		ds, err := digestArea(ctx, a, src)
		if err != nil {
			return fmt.Errorf("check %s: %w", a.name, err)
		}
		dd, err := digestArea(ctx, a, dst)
		if err != nil {
			return fmt.Errorf("check %s: %w", a.name, err)
		}
		ok := ds == dd
		fmt.Fprintf(progress, "check %-17s %8d → %8d  %s…  %s\n", a.name, ds.n, dd.n, ds.sum[:12], map[bool]string{true: "ok", false: "DIFFERENT (target " + dd.sum[:12] + "…)"}[ok])
		if !ok {
			bad = append(bad, a.name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("the copy differs from its source in: %v (was a daemon still writing to the source?)", bad)
	}
	return nil
}

// copyOne copies one area, printing a progress line at most once a second.
func copyOne(ctx context.Context, a copyArea, src, dst copyStore, progress io.Writer) error {
	var n atomic.Int64
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(progress, "copy  %-17s %8d …\n", a.name, n.Load())
			}
		}
	}()
	err := a.copy(ctx, src, dst, func() { n.Add(1) })
	close(done)
	wg.Wait()
	if err == nil {
		fmt.Fprintf(progress, "copy  %-17s %8d in %s\n", a.name, n.Load(), time.Since(start).Round(time.Millisecond))
	}
	return err
}

// farFuture is after every stored time (StaleFragments(farFuture) lists all).
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// copyWorkers is how many messages are written at once (both backends
// group concurrent commits).
const copyWorkers = 16

func copyAreas() []copyArea {
	return append([]copyArea{
		{
			name: "messages",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				ch := make(chan *gateway.Message, 4*copyWorkers)
				errc := make(chan error, copyWorkers)
				var wg sync.WaitGroup
				wctx, cancel := context.WithCancel(ctx)
				defer cancel()
				for range copyWorkers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for m := range ch {
							if err := dst.CreateMessage(wctx, m); err != nil {
								errc <- fmt.Errorf("message %s: %w", m.ID, err)
								cancel()
								return
							}
							tick()
						}
					}()
				}
				err := eachMessage(wctx, src, func(m *gateway.Message) error {
					select {
					case ch <- m:
						return nil
					case <-wctx.Done():
						return wctx.Err()
					}
				})
				close(ch)
				wg.Wait()
				select {
				case werr := <-errc:
					return werr
				default:
				}
				return err
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return eachMessage(ctx, s, func(m *gateway.Message) error { return add(m) })
			},
		},
		{
			name: "fragments",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				return eachFragmentSet(ctx, src, func(key string, fs []gateway.Fragment) error {
					for _, f := range fs {
						if _, err := dst.AddFragment(ctx, key, f); err != nil {
							return err
						}
						tick()
					}
					return nil
				})
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return eachFragmentSet(ctx, s, func(key string, fs []gateway.Fragment) error {
					for _, f := range fs {
						if err := add([]any{key, f}); err != nil {
							return err
						}
					}
					return nil
				})
			},
		},
		{
			name: "sticky bindings",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				var all []stickyRec
				if err := src.ForEachSticky(ctx, func(c string, s gateway.Sticky) error { all = append(all, stickyRec{c, s}); return nil }); err != nil {
					return err
				}
				for _, r := range all {
					if err := dst.SetSticky(ctx, r.Contact, r.S); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return s.ForEachSticky(ctx, func(c string, st gateway.Sticky) error { return add(stickyRec{c, st}) })
			},
		},
		{
			name: "budgets and holds",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				bs, err := src.Budgets(ctx)
				if err != nil {
					return err
				}
				for m, u := range bs {
					if err := dst.SaveBudget(ctx, m, u); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				bs, err := s.Budgets(ctx)
				if err != nil {
					return err
				}
				for _, m := range slices.Sorted(mapKeys(bs)) {
					if err := add([]any{m, bs[m]}); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			name: "SIM inventory",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				sims, err := src.SIMs(ctx)
				if err != nil {
					return err
				}
				for _, x := range sims {
					if err := dst.SaveSIM(ctx, x); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				sims, err := s.SIMs(ctx) // by ID in both backends
				if err != nil {
					return err
				}
				for _, x := range sims {
					if err := add(x); err != nil {
						return err
					}
				}
				return nil
			},
		},
		{
			name: "opt-outs",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				return eachOptOut(ctx, src, func(o gateway.OptOut) error {
					tick()
					return dst.AddOptOut(ctx, o)
				})
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return eachOptOut(ctx, s, func(o gateway.OptOut) error { return add(o) })
			},
		},
		{
			name: "events",
			copy: copyEvents,
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return s.ForEachEvent(ctx, func(e gateway.Event, handedOn bool) error { return add([]any{e, handedOn}) })
			},
		},
		{
			name: "api keys",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				ks, err := src.ListKeys(ctx)
				if err != nil {
					return err
				}
				for _, k := range ks {
					if err := dst.CreateKey(ctx, k); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				ks, err := s.ListKeys(ctx)
				for _, k := range ks {
					if err := add(k); err != nil {
						return err
					}
				}
				return err
			},
		},
		{
			name: "webhooks",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				ws, err := src.ListWebhooks(ctx)
				if err != nil {
					return err
				}
				for _, w := range ws {
					if err := dst.PutWebhook(ctx, w); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				ws, err := s.ListWebhooks(ctx)
				for _, w := range ws {
					sum := sha256.Sum256([]byte(w.Secret)) // the secret is compared, not printed
					if err := add([]any{w, sum}); err != nil {
						return err
					}
				}
				return err
			},
		},
		{
			name: "deliveries",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				var batch []gateway.Delivery
				err := src.ForEachDelivery(ctx, func(d gateway.Delivery) error {
					batch = append(batch, d)
					return nil
				})
				for err == nil && len(batch) > 0 {
					n := min(len(batch), 500)
					if err = dst.EnqueueDeliveries(ctx, batch[:n]); err == nil {
						for range n {
							tick()
						}
					}
					batch = batch[n:]
				}
				return err
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return s.ForEachDelivery(ctx, func(d gateway.Delivery) error { return add(d) })
			},
		},
		{
			name: "unmatched reports",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				var all []gateway.StatusReport
				if err := src.ForEachUnmatchedReport(ctx, func(r gateway.StatusReport) error { all = append(all, r); return nil }); err != nil {
					return err
				}
				for _, r := range all {
					if err := dst.SaveUnmatchedReport(ctx, r); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return s.ForEachUnmatchedReport(ctx, func(r gateway.StatusReport) error { return add(r) })
			},
		},
		{
			name: "users",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				us, err := src.ListUsers(ctx)
				if err != nil {
					return err
				}
				for _, u := range us {
					if err := dst.CreateUser(ctx, u); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				us, err := s.ListUsers(ctx)
				for _, u := range us {
					if err := add(u); err != nil {
						return err
					}
				}
				return err
			},
		},
		{
			name: "sessions",
			copy: func(ctx context.Context, src, dst copyStore, tick func()) error {
				var all []account.Session
				if err := src.ForEachSession(ctx, func(s account.Session) error { all = append(all, s); return nil }); err != nil {
					return err
				}
				for _, s := range all {
					if err := dst.CreateSession(ctx, s); err != nil {
						return err
					}
					tick()
				}
				return nil
			},
			digest: func(ctx context.Context, s copyStore, add func(any) error) error {
				return s.ForEachSession(ctx, func(se account.Session) error { return add(se) })
			},
		},
	}, campaignAreas()...)
}

type stickyRec struct {
	Contact string
	S       gateway.Sticky
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// eachMessage calls fn for every message, oldest first (the order both
// backends list in), a page at a time.
func eachMessage(ctx context.Context, s copyStore, fn func(*gateway.Message) error) error {
	f := gateway.MessageFilter{Ascending: true, Limit: 500}
	for {
		p, err := s.ListMessages(ctx, f)
		if err != nil {
			return err
		}
		for _, m := range p.Messages {
			if err := fn(m); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		f.Cursor = p.Next
	}
}

func eachFragmentSet(ctx context.Context, s copyStore, fn func(key string, fs []gateway.Fragment) error) error {
	sets, err := s.StaleFragments(ctx, farFuture)
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(k, sets[k]); err != nil {
			return err
		}
	}
	return nil
}

func eachOptOut(ctx context.Context, s copyStore, fn func(gateway.OptOut) error) error {
	after := ""
	for {
		page, err := s.ListOptOuts(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, o := range page {
			if err := fn(o); err != nil {
				return err
			}
		}
		if len(page) < 1000 {
			return nil
		}
		after = page[len(page)-1].Number
	}
}

// copyEvents appends the events in outbox order, then moves the target's
// outbox cursor past as many as the source had handed on, so that the
// webhook deliverer neither repeats nor skips any.
func copyEvents(ctx context.Context, src, dst copyStore, tick func()) error {
	var (
		all      []gateway.Event
		handedOn int
	)
	err := src.ForEachEvent(ctx, func(e gateway.Event, h bool) error {
		all = append(all, e)
		if h {
			handedOn = len(all)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := dst.AppendEvent(ctx, e); err != nil {
			return err
		}
		tick()
	}
	for left := handedOn; left > 0; {
		evs, pos, err := dst.NextEvents(ctx, min(left, 1000))
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("outbox: %d handed-on events not found in the target", left)
		}
		if err := dst.AdvanceEvents(ctx, pos, nil); err != nil {
			return err
		}
		left -= len(evs)
	}
	return nil
}
