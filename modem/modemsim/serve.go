package modemsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	Modems        int           // number of modems, default 1
	LinkDir       string        // where the per-modem symlinks go, default $TMPDIR/simgate-modems
	Control       string        // loopback address of the control endpoint, "" = 127.0.0.1:0, "none" = no endpoint
	Latency       time.Duration // AT+CMGS answer delay
	Jitter        time.Duration // random extra AT+CMGS delay
	DeliveryDelay time.Duration // network delivery delay between simulated modems
	Echo          bool          // echo on after boot (ATE1), as real modems
	BootNoise     bool          // vendor boot chatter after reboots and replugs
	URCInAnswers  bool          // URCs inside answers
	Logger        *slog.Logger  // nil discards
	// Commands, when set (e.g. os.Stdin), is read line by line for simple
	// commands; see Serve. Answers go to out.
	Commands io.Reader
}

// Serve runs the standalone simulator behind `simgate sim`: it serves
// opts.Modems modems on PTYs with symlinks LinkDir/modemN, prints each
// modem's name, link, tty and MSISDN and the control URL to out, and serves
// until ctx ends. The control endpoint (JSON over HTTP, loopback only) is
// described by Network.Handler. When opts.Commands is set, these lines are
// accepted too:
//
//	inject <modem name or msisdn> <from> <text...>
//	faults <modem> <partial Faults JSON>
//	unplug <modem>
//	replug <modem>
//	list
//	outside
func Serve(ctx context.Context, opts ServeOptions, out io.Writer) error {
	if opts.Modems <= 0 {
		opts.Modems = 1
	}
	if opts.LinkDir == "" {
		opts.LinkDir = filepath.Join(os.TempDir(), "simgate-modems")
	}
	if opts.Control == "" {
		opts.Control = "127.0.0.1:0"
	}
	noControl := opts.Control == "none"
	if noControl {
		opts.Control = "127.0.0.1:0"
	}
	if err := checkLoopback(opts.Control); err != nil {
		return err
	}
	if err := os.MkdirAll(opts.LinkDir, 0o755); err != nil {
		return fmt.Errorf("modemsim: link dir: %w", err)
	}
	n := NewNetwork(NetworkOptions{DeliveryDelay: opts.DeliveryDelay, Logger: opts.Logger})
	defer n.Close()
	for i := 1; i <= opts.Modems; i++ {
		m := n.AddModem(ModemConfig{Name: fmt.Sprintf("modem%d", i)})
		m.SetFaults(Faults{Echo: opts.Echo, BootNoise: opts.BootNoise, URCInAnswers: opts.URCInAnswers,
			SendLatency: opts.Latency, SendJitter: opts.Jitter})
		link := filepath.Join(opts.LinkDir, m.Name())
		tty, err := m.ServePTY(link)
		if err != nil {
			return err
		}
		imei, _, _ := m.Info()
		fmt.Fprintf(out, "%s link=%s tty=%s msisdn=%s imei=%s\n", m.Name(), link, tty, m.MSISDN(), imei)
	}
	errc := make(chan error, 1)
	var srv *http.Server
	if !noControl {
		ln, err := net.Listen("tcp", opts.Control)
		if err != nil {
			return fmt.Errorf("modemsim: control listen: %w", err)
		}
		srv = &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { errc <- srv.Serve(ln) }()
		fmt.Fprintf(out, "control http://%s\n", ln.Addr())
	}
	cmdDone := make(chan struct{})
	if opts.Commands != nil {
		go func() {
			defer close(cmdDone)
			n.serveCommands(opts.Commands, out)
		}()
		if d, ok := opts.Commands.(interface{ SetReadDeadline(time.Time) error }); ok {
			stop := context.AfterFunc(ctx, func() { d.SetReadDeadline(time.Now()) })
			defer func() {
				stop()
				<-cmdDone
			}()
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("modemsim: control: %w", err)
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		<-errc
	}
	return nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("modemsim: control address: %w", err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("modemsim: control address %q is not loopback", addr)
	}
	return nil
}

// ModemInfo is a modem as the control endpoint lists it.
type ModemInfo struct {
	Name    string      `json:"name"`
	MSISDN  string      `json:"msisdn"`
	IMEI    string      `json:"imei"`
	IMSI    string      `json:"imsi"`
	ICCID   string      `json:"iccid"`
	Link    string      `json:"link,omitempty"`
	TTY     string      `json:"tty,omitempty"`
	Plugged bool        `json:"plugged"`
	Faults  Faults      `json:"faults"`
	Stored  []StoredSMS `json:"stored"`
}

// ModemInfo describes the modem (identity, port, faults, storage).
func (m *Modem) ModemInfo() ModemInfo {
	m.mu.Lock()
	info := ModemInfo{Name: m.cfg.Name, MSISDN: m.cfg.MSISDN, IMEI: m.cfg.IMEI, IMSI: m.cfg.IMSI,
		ICCID: m.cfg.ICCID, Link: m.lastLink, Faults: m.faults}
	if m.port != nil {
		info.TTY = m.port.tty
		info.Plugged = true
	}
	m.mu.Unlock()
	info.Stored = m.Stored()
	if info.Stored == nil {
		info.Stored = []StoredSMS{}
	}
	return info
}

// Handler is the control endpoint (JSON):
//
//	POST /inject                 {"to": msisdn or modem name, "from": "+1555...", "text": "..."}
//	POST /modems/{name}/faults   Faults, partial (absent fields keep their value; durations as "2s" or ns)
//	POST /modems/{name}/unplug
//	POST /modems/{name}/replug   -> {"tty": "/dev/pts/N"}
//	POST /modems/{name}/sim/remove  -> SIMCard (kept aside, by ICCID)
//	POST /modems/{name}/sim/insert  {"iccid": a card kept aside} or {} for a new card -> SIMCard
//	POST /sims/move              {"from": modem, "to": modem (without a SIM)} -> SIMCard
//	GET  /modems                 -> []ModemInfo
//	GET  /submissions            -> []Submission
//	GET  /outside                -> []Submission to numbers outside the simulation
func (n *Network) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /inject", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ To, From, Text string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, "bad json: "+err.Error())
			return
		}
		to := req.To
		if m := n.Modem(to); m != nil {
			to = m.MSISDN()
		}
		if req.From == "" {
			req.From = "+15550009999"
		}
		err := n.InjectSMS(to, req.From, req.Text)
		switch {
		case errors.Is(err, ErrUnknownNumber):
			httpError(w, http.StatusNotFound, err.Error())
		case err != nil:
			httpError(w, http.StatusBadRequest, err.Error())
		default:
			writeJSON(w, map[string]string{"status": "injected"})
		}
	})
	withModem := func(f func(w http.ResponseWriter, r *http.Request, m *Modem)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			m := n.Modem(r.PathValue("name"))
			if m == nil {
				httpError(w, http.StatusNotFound, "no such modem")
				return
			}
			f(w, r, m)
		}
	}
	mux.HandleFunc("POST /modems/{name}/faults", withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		f, err := mergeFaults(m.Faults(), body)
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		m.SetFaults(f)
		writeJSON(w, m.Faults())
	}))
	mux.HandleFunc("POST /modems/{name}/unplug", withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		if err := m.Unplug(); err != nil {
			httpError(w, http.StatusConflict, err.Error())
			return
		}
		writeJSON(w, map[string]string{"status": "unplugged"})
	}))
	mux.HandleFunc("POST /modems/{name}/replug", withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		tty, err := m.Replug()
		if err != nil {
			httpError(w, http.StatusConflict, err.Error())
			return
		}
		writeJSON(w, map[string]string{"tty": tty})
	}))
	mux.HandleFunc("POST /modems/{name}/sim/remove", withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		card, err := m.TakeSIM()
		if err != nil {
			httpError(w, http.StatusConflict, err.Error())
			return
		}
		n.mu.Lock()
		if n.tray == nil {
			n.tray = map[string]SIMCard{}
		}
		n.tray[card.ICCID] = card
		n.mu.Unlock()
		writeJSON(w, card)
	}))
	mux.HandleFunc("POST /modems/{name}/sim/insert", withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		var req struct{ ICCID string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			httpError(w, http.StatusBadRequest, "bad json: "+err.Error())
			return
		}
		card := n.NewSIM()
		if req.ICCID != "" {
			n.mu.Lock()
			c, ok := n.tray[req.ICCID]
			n.mu.Unlock()
			if !ok {
				httpError(w, http.StatusNotFound, "no card with that ICCID was taken out")
				return
			}
			card = c
		}
		if err := m.InsertSIM(card); err != nil {
			httpError(w, http.StatusConflict, err.Error())
			return
		}
		n.mu.Lock()
		delete(n.tray, card.ICCID)
		n.mu.Unlock()
		writeJSON(w, card)
	}))
	mux.HandleFunc("POST /sims/move", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ From, To string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			httpError(w, http.StatusBadRequest, "bad json: "+err.Error())
			return
		}
		card, err := n.MoveSIM(req.From, req.To)
		if err != nil {
			httpError(w, http.StatusConflict, err.Error())
			return
		}
		writeJSON(w, card)
	})
	mux.HandleFunc("GET /modems", func(w http.ResponseWriter, r *http.Request) {
		out := []ModemInfo{}
		for _, m := range n.Modems() {
			out = append(out, m.ModemInfo())
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /submissions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, nonNil(n.Submissions()))
	})
	mux.HandleFunc("GET /outside", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, nonNil(n.Outside()))
	})
	return mux
}

func nonNil(s []Submission) []Submission {
	if s == nil {
		return []Submission{}
	}
	return s
}

// mergeFaults applies a partial JSON object to f. Keys match Faults' field
// names case-insensitively; durations are Go duration strings or nanoseconds.
func mergeFaults(f Faults, body []byte) (Faults, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return f, fmt.Errorf("bad json: %w", err)
	}
	for k, v := range raw {
		var err error
		switch strings.ToLower(strings.ReplaceAll(k, "_", "")) {
		case "echo":
			err = json.Unmarshal(v, &f.Echo)
		case "urcinanswers":
			err = json.Unmarshal(v, &f.URCInAnswers)
		case "bootnoise":
			err = json.Unmarshal(v, &f.BootNoise)
		case "sendlatency":
			f.SendLatency, err = jsonDuration(v)
		case "sendjitter":
			f.SendJitter, err = jsonDuration(v)
		case "cmserrorrate":
			err = json.Unmarshal(v, &f.CMSErrorRate)
		case "cmserrorcode":
			err = json.Unmarshal(v, &f.CMSErrorCode)
		case "storagefull":
			err = json.Unmarshal(v, &f.StorageFull)
		case "notregistered":
			err = json.Unmarshal(v, &f.NotRegistered)
		case "roaming":
			err = json.Unmarshal(v, &f.Roaming)
		case "hang":
			err = json.Unmarshal(v, &f.Hang)
		case "hanghard":
			err = json.Unmarshal(v, &f.HangHard)
		case "hangafterpdu":
			err = json.Unmarshal(v, &f.HangAfterPDU)
		case "garbage":
			err = json.Unmarshal(v, &f.Garbage)
		case "reportslost":
			err = json.Unmarshal(v, &f.ReportsLost)
		case "reportstatus":
			err = json.Unmarshal(v, &f.ReportStatus)
		case "replieslost":
			err = json.Unmarshal(v, &f.RepliesLost)
		case "cpinnofinal":
			err = json.Unmarshal(v, &f.CPINNoFinal)
		case "commandnotsupport":
			err = json.Unmarshal(v, &f.CommandNotSupport)
		case "busyafterboot":
			f.BusyAfterBoot, err = jsonDuration(v)
		case "charsetucs2":
			err = json.Unmarshal(v, &f.CharsetUCS2)
		case "ussdpacked":
			err = json.Unmarshal(v, &f.USSDPacked)
		case "ussducs2":
			err = json.Unmarshal(v, &f.USSDUCS2)
		case "ussdmultiline":
			err = json.Unmarshal(v, &f.USSDMultiline)
		case "ussddelay":
			f.USSDDelay, err = jsonDuration(v)
		case "ussdsilent":
			err = json.Unmarshal(v, &f.USSDSilent)
		case "cpmstwomemories":
			err = json.Unmarshal(v, &f.CPMSTwoMemories)
		case "cpmsunquoted":
			err = json.Unmarshal(v, &f.CPMSUnquoted)
		case "cmgloddframing":
			err = json.Unmarshal(v, &f.CMGLOddFraming)
		case "cmgsnofinal":
			err = json.Unmarshal(v, &f.CMGSNoFinal)
		case "cmgsfinallater":
			err = json.Unmarshal(v, &f.CMGSFinalLater)
		case "promptbare":
			err = json.Unmarshal(v, &f.PromptBare)
		case "promptcrlf":
			err = json.Unmarshal(v, &f.PromptCRLF)
		case "promptsplit":
			err = json.Unmarshal(v, &f.PromptSplit)
		default:
			return f, fmt.Errorf("unknown fault %q", k)
		}
		if err != nil {
			return f, fmt.Errorf("fault %q: %w", k, err)
		}
	}
	return f, nil
}

func jsonDuration(v json.RawMessage) (time.Duration, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return time.ParseDuration(s)
	}
	var ns int64
	if err := json.Unmarshal(v, &ns); err != nil {
		return 0, err
	}
	return time.Duration(ns), nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// serveCommands runs the line commands of Serve until r ends.
func (n *Network) serveCommands(r io.Reader, out io.Writer) {
	sc := bufio.NewScanner(r)
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		mu.Unlock()
	}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var m *Modem
		if len(f) > 1 {
			m = n.Modem(f[1])
		}
		switch {
		case f[0] == "list":
			for _, m := range n.Modems() {
				i := m.ModemInfo()
				say("%s msisdn=%s tty=%s plugged=%v stored=%d", i.Name, i.MSISDN, i.TTY, i.Plugged, len(i.Stored))
			}
		case f[0] == "outside":
			for _, s := range n.Outside() {
				say("#%d %s -> %s mr=%d part=%d/%d %q", s.Seq, s.Modem, s.To, s.MR, s.Part, s.Parts, s.Text)
			}
		case f[0] == "inject" && len(f) >= 4:
			to := f[1]
			if m != nil {
				to = m.MSISDN()
			}
			text := strings.Join(f[3:], " ")
			if err := n.InjectSMS(to, f[2], text); err != nil {
				say("error: %v", err)
			} else {
				say("injected")
			}
		case f[0] == "faults" && m != nil && len(f) >= 3:
			nf, err := mergeFaults(m.Faults(), []byte(strings.Join(f[2:], " ")))
			if err != nil {
				say("error: %v", err)
				continue
			}
			m.SetFaults(nf)
			say("%s faults %+v", m.Name(), m.Faults())
		case f[0] == "unplug" && m != nil:
			if err := m.Unplug(); err != nil {
				say("error: %v", err)
			} else {
				say("%s unplugged", m.Name())
			}
		case f[0] == "replug" && m != nil:
			tty, err := m.Replug()
			if err != nil {
				say("error: %v", err)
			} else {
				say("%s replugged tty=%s", m.Name(), tty)
			}
		default:
			say("commands: inject <modem|msisdn> <from> <text...> | faults <modem> <json> | unplug <modem> | replug <modem> | list | outside")
		}
	}
}
