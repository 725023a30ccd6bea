package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/configs"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/modem/modemsim"
	"github.com/simgate/simgate/store"
	"github.com/simgate/simgate/store/postgres"
)

// demoContact is the number the demo's examples text: 555 is the North
// American range for fiction; the simulated network accepts it.
const demoContact = "+15551234567"

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", "[flags]", `  go run ./cmd/simgate demo
  simgate demo -modems 8 -listen 127.0.0.1:9000
  simgate demo -v           with the gateway's logs

The demo runs the whole gateway (configs/demo.yaml) on simulated modems
served over pseudo-terminals, with a temporary store and a fresh API key,
and prints curl examples. Webhooks to this machine (127.0.0.1, ::1) are
allowed, so a receiver on localhost can be tried. Ctrl-C stops it, says how
many messages were still waiting, and deletes the temporary files (-keep
keeps them, store included).
`, stderr)
	n := fs.Int("modems", 3, "number of simulated modems")
	listen := fs.String("listen", "", "API address (default: demo.yaml's, or a free port if that is taken)")
	control := fs.String("control", "127.0.0.1:0", "address of the simulator's control endpoint (inject replies)")
	latency := fs.Duration("latency", 400*time.Millisecond, "simulated time a send takes")
	keep := fs.Bool("keep", false, "keep the temporary directory (store and ports) after exit")
	verbose := fs.Bool("v", false, "show the gateway's logs (info level)")
	pg := fs.Bool("postgres", false, "keep the store in PostgreSQL (connection string from $"+demoPostgresEnv+") in a new schema, dropped at exit unless -keep")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *n < 1 || *n > 64 {
		fmt.Fprintln(stderr, "simgate demo: -modems must be 1..64")
		return errUsage
	}
	cfg, err := ParseConfig(configs.Demo, os.Getenv, "")
	if err != nil {
		return fmt.Errorf("configs/demo.yaml: %w", err)
	}
	dir, err := os.MkdirTemp("", "simgate-demo-")
	if err != nil {
		return err
	}
	cfg.Store.Path = filepath.Join(dir, "simgate.db")
	if !*keep {
		defer os.RemoveAll(dir)
	}
	// Said last, after serve's own lines: what happens to what is still queued.
	served := false
	defer func() {
		if served && cfg.Store.Driver != driverPostgres {
			reportDemoLeftovers(stdout, cfg.Store.Path, dir, *keep)
		}
	}()
	wanted := cfg.Listen
	if *pg {
		drop, err := demoPostgres(&cfg.Store, *keep, stderr)
		if err != nil {
			return err
		}
		defer drop()
	}
	cfg.Listen = demoListen(*listen, cfg.Listen)
	// Campaigns may text the whole day in the demo, so that it works at
	// any hour (a campaign can still narrow its own window).
	cfg.Campaigns.Hours.Start, cfg.Campaigns.Hours.End = "00:00", "24:00"

	level := new(slog.LevelVar)
	if !*verbose {
		cfg.Log.Level = "warn"
	}
	log := newLogger(cfg.Log, level, stderr)

	sim, err := startDemoSim(*n, dir, *latency, *control, log)
	if err != nil {
		return err
	}
	defer sim.Close()
	for _, m := range sim.modems {
		// The simulated operator answers *100# with the SIM's balance: the
		// demo shows it on each modem (and pauses a SIM below 1.00).
		cfg.Modems = append(cfg.Modems, ModemConfig{Name: m.name, Port: m.link,
			Balance: &BalanceConfig{Code: "*100#", Every: Duration(time.Hour), Amount: `balance is ([0-9.,]+)`, Low: 1}})
	}

	db, err := openStore(ctx, cfg.Store, nil, nil)
	if err != nil {
		return err
	}
	key, err := createKey(ctx, db, "demo", []string{"admin", "send", "read"})
	var logins []demoLogin
	if err == nil {
		logins, err = createDemoUsers(ctx, db)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	served = true
	return serve(ctx, cfg, serveOptions{
		log:   log,
		level: level,
		ready: func(addr string) {
			if cfg.Listen != wanted && *listen == "" {
				moved := fmt.Sprintf("%s is in use by another program, so the demo listens on %s instead (choose with -listen)", wanted, addr)
				log.Warn("demo: " + moved)
				fmt.Fprintf(stdout, "\nNote: %s.\n", moved)
			}
			printDemoBanner(stdout, demoBanner{api: "http://" + addr, key: key.secret, logins: logins, control: sim.url, dir: dir, modems: sim.modems, metricsPath: cfg.Metrics.Path})
		},
	})
}

// demoListen returns the API address: the flag, else the config's if it is
// free, else a free loopback port (a fresh machine may run something on 8080).
func demoListen(flagVal, cfgVal string) string {
	if flagVal != "" {
		return flagVal
	}
	ln, err := net.Listen("tcp", cfgVal)
	if err != nil {
		return "127.0.0.1:0"
	}
	ln.Close()
	return cfgVal
}

// reportDemoLeftovers says, once the demo has stopped, how many outbound
// messages had not been sent yet and whether they are gone with the
// temporary store or kept.
func reportDemoLeftovers(w io.Writer, storePath, dir string, keep bool) {
	waiting, err := countUnsent(storePath)
	switch {
	case err != nil:
		fmt.Fprintf(w, "\nThe demo stopped; its store %s could not be read (%v).\n", storePath, err)
	case keep:
		fmt.Fprintf(w, "\nThe demo stopped. Kept (-keep): %s, with %d %s not sent yet; serve it again with a config whose store.path is that file.\n",
			storePath, waiting, plural(waiting, "message", "messages"))
	case waiting > 0:
		fmt.Fprintf(w, "\nThe demo stopped with %d %s not sent yet (queued or sending) in %s; they are deleted with it. Run the demo with -keep to keep the store.\n",
			waiting, plural(waiting, "message", "messages"), storePath)
	default:
		fmt.Fprintf(w, "\nThe demo stopped; every message had been sent. Deleted %s.\n", dir)
	}
}

// countUnsent counts the outbound messages of the store at path that are
// queued or sending.
func countUnsent(path string) (int, error) {
	db, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n := 0
	err = db.ActiveMessages(context.Background(), func(m *gateway.Message) error {
		if m.Status == gateway.StatusQueued || m.Status == gateway.StatusSending {
			n++
		}
		return nil
	})
	return n, err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// demoSim is the demo's simulated network, its modems and its control endpoint.
type demoSim struct {
	net    *modemsim.Network
	modems []demoModem
	srv    *http.Server
	url    string
}

type demoModem struct {
	name, link, msisdn string
}

func startDemoSim(n int, dir string, latency time.Duration, control string, log *slog.Logger) (*demoSim, error) {
	nw := modemsim.NewNetwork(modemsim.NetworkOptions{
		DeliveryDelay: time.Second,
		ReportDelay:   time.Second,
		Logger:        log.With("component", "sim"),
	})
	s := &demoSim{net: nw}
	for i := 1; i <= n; i++ {
		m := nw.AddModem(modemsim.ModemConfig{Name: fmt.Sprintf("sim%d", i)})
		m.SetFaults(modemsim.Faults{SendLatency: latency, SendJitter: latency / 2})
		link := filepath.Join(dir, m.Name())
		if _, err := m.ServePTY(link); err != nil {
			nw.Close()
			return nil, fmt.Errorf("simulated modem %s: %w", m.Name(), err)
		}
		s.modems = append(s.modems, demoModem{name: m.Name(), link: link, msisdn: m.MSISDN()})
	}
	ln, err := net.Listen("tcp", control)
	if err != nil {
		nw.Close()
		return nil, fmt.Errorf("simulator control: %w", err)
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = api.NewHTTPServer(s.handler(), log)
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *demoSim) Close() {
	_ = s.srv.Close()
	_ = s.net.Close()
}

// handler is the demo simulator's control endpoint: modemsim's
// (Network.Handler: /inject, /modems, /modems/{name}/faults, /submissions ...)
// plus
//
//	POST /sms {"from": "+15551234567", "text": "Yes!", "modem": "sim1"}
//	    a contact texts a simulated modem; without "modem", the modem that
//	    last texted that contact (so a reply lands in the conversation)
func (s *demoSim) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sms", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			From  string `json:"from"`
			Text  string `json:"text"`
			Modem string `json:"modem"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.From == "" || req.Text == "" {
			http.Error(w, `want {"from": "+15551234567", "text": "...", "modem": "sim1" (optional)}`, http.StatusBadRequest)
			return
		}
		to := s.modemFor(req.From, req.Modem)
		if to == nil {
			http.Error(w, "no such modem", http.StatusNotFound)
			return
		}
		if err := s.net.InjectSMS(to.msisdn, req.From, req.Text); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"delivered_to": to.name, "msisdn": to.msisdn})
	})
	mux.Handle("/", s.net.Handler())
	return mux
}

// modemFor picks the modem a contact's text goes to.
func (s *demoSim) modemFor(from, name string) *demoModem {
	if name == "" {
		subs := s.net.Submissions()
		digits := strings.TrimPrefix(from, "+")
		for i := len(subs) - 1; i >= 0; i-- {
			if strings.TrimPrefix(subs[i].To, "+") == digits {
				name = subs[i].Modem
				break
			}
		}
	}
	if name == "" {
		return &s.modems[0]
	}
	for i := range s.modems {
		if s.modems[i].name == name {
			return &s.modems[i]
		}
	}
	return nil
}

type demoBanner struct {
	api, key, control, dir, metricsPath string
	modems                              []demoModem
	logins                              []demoLogin
}

// demoLogin is a web app account the demo made.
type demoLogin struct {
	login, password string
	role            account.Role
}

// createDemoUsers makes the demo's organiser and texter with fresh passwords.
func createDemoUsers(ctx context.Context, st account.Store) ([]demoLogin, error) {
	svc := account.NewService(st, account.Config{})
	var out []demoLogin
	for _, u := range []struct {
		login, name string
		role        account.Role
	}{{"organiser", "Olu", account.RoleOrganiser}, {"texter", "Ana", account.RoleTexter}} {
		pw, err := randomPassword()
		if err != nil {
			return nil, err
		}
		if _, err := svc.Create(ctx, account.NewUser{Login: u.login, Name: u.name, Role: u.role, Password: pw}); err != nil {
			return nil, fmt.Errorf("demo user %s: %w", u.login, err)
		}
		out = append(out, demoLogin{login: u.login, password: pw, role: u.role})
	}
	return out, nil
}

func printDemoBanner(w io.Writer, b demoBanner) {
	names := make([]string, len(b.modems))
	for i, m := range b.modems {
		names[i] = m.name + " " + m.msisdn
	}
	auth := `-H "Authorization: Bearer $SIMGATE_KEY"`
	contact := strings.Replace(demoContact, "+", "%2B", 1)
	fmt.Fprintf(w, `
simgate demo is running on %d simulated modems (%s).
Temporary store: %s

The web app: %s/app/  (logins shown only now)
%s
Your demo API key (scopes admin, send, read; shown only now):

  export SIMGATE_KEY=%s
  export SIMGATE_ADDR=%s

1. Send a message:
  curl -s %s -H 'Content-Type: application/json' \
    -d '{"to": "%s", "body": "Hi! Can you volunteer on Saturday?"}' $SIMGATE_ADDR/v1/messages

2. Its status (use the "id" from the answer; queued -> sending -> sent -> delivered):
  curl -s %s $SIMGATE_ADDR/v1/messages/ID

3. The contact replies (the simulator delivers an SMS to the modem that texted them):
  curl -s -d '{"from": "%s", "text": "Yes, count me in"}' %s/sms

4. Read the reply, then the whole conversation:
  curl -s %s "$SIMGATE_ADDR/v1/messages?direction=in"
  curl -s %s $SIMGATE_ADDR/v1/conversations/%s

5. The contact opts out, and a later send is refused (422 opted-out):
  curl -s -d '{"from": "%s", "text": "STOP"}' %s/sms
  curl -s %s $SIMGATE_ADDR/v1/optouts

6. Modems (state, signal, budgets) and metrics:
  curl -s %s $SIMGATE_ADDR/v1/modems
  curl -s $SIMGATE_ADDR%s

7. Webhooks (the demo allows receivers on this machine): listen in another
   terminal, e.g. with  python3 -m http.server 9999  (it answers POST with 501,
   so you see each delivery and its retries), then
  curl -s %s -H 'Content-Type: application/json' \
    -d '{"url": "http://127.0.0.1:9999/hook", "events": ["message.sent", "message.received"]}' $SIMGATE_ADDR/v1/webhooks

The same from the command line (another terminal, with the exports above):
  go run ./cmd/simgate send -to %s -body "Hello again"
  go run ./cmd/simgate messages
  go run ./cmd/simgate modems

The simulator: what the network accepted, and faults (e.g. a SIM that fails):
  curl -s %s/submissions
  curl -s -d '{"cms_error_rate": 1, "cms_error_code": 500}' %s/modems/sim1/faults
Ctrl-C stops the demo, says how many messages were not sent yet, and deletes
its temporary files (run it with -keep to keep them).
`, len(b.modems), strings.Join(names, ", "), b.dir, b.api, webLogins(b.logins), b.key, b.api,
		auth, demoContact, auth, demoContact, b.control, auth, auth, contact,
		demoContact, b.control, auth, auth, b.metricsPath, auth, demoContact, b.control, b.control)
}

func webLogins(ls []demoLogin) string {
	var sb strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&sb, "  %-9s login %-10s password %s\n", l.role, l.login, l.password)
	}
	return sb.String()
}

// demoPostgresEnv holds the demo's PostgreSQL connection string.
const demoPostgresEnv = "SIMGATE_POSTGRES_DSN"

// demoPostgres points s at a new schema of the database named by
// $SIMGATE_POSTGRES_DSN; drop removes the schema (unless keep).
func demoPostgres(s *StoreConfig, keep bool, stderr io.Writer) (drop func(), err error) {
	dsn := os.Getenv(demoPostgresEnv)
	if dsn == "" {
		return nil, fmt.Errorf("simgate demo -postgres: set %s to a connection string, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable", demoPostgresEnv)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	s.Driver = driverPostgres
	s.Postgres = PostgresConfig{DSNEnv: demoPostgresEnv, Schema: "simgate_demo_" + hex.EncodeToString(b[:]), dsn: dsn}
	return func() {
		if keep {
			fmt.Fprintf(stderr, "simgate demo: kept PostgreSQL schema %s\n", s.Postgres.Schema)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := postgres.DropSchema(ctx, dsn, s.Postgres.Schema); err != nil {
			fmt.Fprintf(stderr, "simgate demo: %v\n", err)
		}
	}, nil
}
