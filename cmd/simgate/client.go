package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/simgate/simgate/gateway"
)

// client talks to a running daemon's HTTP API.
type client struct {
	base string // http://host:port
	key  string
	http *http.Client
}

// clientFlags adds -addr and -key (defaults from SIMGATE_ADDR and SIMGATE_KEY).
func clientFlags(fs *flag.FlagSet) (addr, key *string, asJSON *bool) {
	addr = fs.String("addr", envOr("SIMGATE_ADDR", "http://127.0.0.1:8080"), "daemon address (env SIMGATE_ADDR)")
	key = fs.String("key", "", "API key (default: env SIMGATE_KEY)")
	asJSON = fs.Bool("json", false, "print the daemon's JSON instead of a table")
	return
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func newClient(addr, key string) (*client, error) {
	if key == "" {
		key = os.Getenv("SIMGATE_KEY")
	}
	if key == "" {
		return nil, errors.New("no API key: pass -key or set SIMGATE_KEY (create one with: simgate keys create -owner NAME -scopes send,read)")
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return &client{base: strings.TrimRight(addr, "/"), key: key, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// apiError is a problem document (RFC 9457) answered by the daemon.
type apiError struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
	Type   string `json:"type"`
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("HTTP %d", e.Status)
	if e.Title != "" {
		s += ": " + e.Title
	}
	if e.Detail != "" && e.Detail != e.Title {
		s += ": " + e.Detail
	}
	return s
}

// do sends a request with body (nil for none) and returns the raw JSON answer.
func (c *client) do(ctx context.Context, method, path string, body any, hdr http.Header) (json.RawMessage, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is the daemon running at %s? %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		_ = json.Unmarshal(data, e)
		e.Status = resp.StatusCode
		if e.Title == "" {
			e.Title = http.StatusText(resp.StatusCode)
		}
		return nil, e
	}
	return data, nil
}

// obj is a JSON object as decoded generically, so that the CLI prints what
// the daemon says without duplicating the API's response types.
type obj = map[string]any

// str returns the first of keys that is present in o, formatted.
func str(o obj, keys ...string) string {
	for _, k := range keys {
		v, ok := o[k]
		if !ok || v == nil {
			continue
		}
		switch v := v.(type) {
		case string:
			if v == "" {
				continue
			}
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t.Local().Format("2006-01-02 15:04:05")
			}
			return v
		case float64:
			return fmt.Sprint(v)
		case bool:
			return fmt.Sprint(v)
		default:
			b, _ := json.Marshal(v)
			return string(b)
		}
	}
	return "-"
}

// items finds the list in a list answer: the answer itself if it is an
// array, else its first array-valued field; next is a cursor if one is given.
func items(raw json.RawMessage) (list []obj, next string, err error) {
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, "", nil
	}
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, "", fmt.Errorf("unexpected answer: %s", truncate(string(raw), 200))
	}
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if json.Unmarshal(o[k], &list) == nil && list != nil {
			break
		}
	}
	for _, k := range []string{"next", "next_cursor", "cursor"} {
		if v, ok := o[k]; ok {
			_ = json.Unmarshal(v, &next)
		}
	}
	return list, next, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// column is one column of a list table: its title and how to print an item's cell.
type column struct {
	title string
	cell  func(obj) string
}

// field is a column that shows the first of keys present in an item.
func field(title string, keys ...string) column {
	return column{title, func(o obj) string { return str(o, keys...) }}
}

// printList gets the list at path and prints it as a table of cols (or the
// daemon's JSON with -json). If the daemon gives a cursor for the next
// page, it prints the command that fetches it: more, with the cursor at %s.
func printList(ctx context.Context, c *client, w io.Writer, path string, asJSON bool, cols []column, more string) error {
	raw, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(w, raw)
	}
	list, next, err := items(raw)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cells := make([]string, len(cols))
	for i, col := range cols {
		cells[i] = col.title
	}
	fmt.Fprintln(tw, strings.Join(cells, "\t"))
	for _, it := range list {
		for i, col := range cols {
			cells[i] = col.cell(it)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != "" && more != "" {
		fmt.Fprintf(w, "\nmore: "+more+"\n", next)
	}
	return nil
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		_, err = w.Write(raw)
		return err
	}
	buf.WriteByte('\n')
	_, err := buf.WriteTo(w)
	return err
}

func cmdSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("send", "[flags] -to NUMBER -body TEXT", `  export SIMGATE_KEY=sg_...   # from simgate keys create
  simgate send -to +15551234567 -body "Hi, this is Ana from the campaign"
  simgate send -to 5551234567 -body "Reminder: polls open at 7" -from east -idempotency-key rem-42
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	to := fs.String("to", "", "recipient (E.164, or national in the daemon's default region)")
	body := fs.String("body", "", "message text (\"-\" reads standard input)")
	from := fs.String("from", "", "modem or group to send from")
	agent := fs.String("agent", "", "who initiated it (default: the key's owner)")
	idem := fs.String("idempotency-key", "", "Idempotency-Key header: a retry with the same key sends nothing twice")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" || *body == "" {
		fmt.Fprintln(stderr, "simgate send: -to and -body are required")
		fs.Usage()
		return errUsage
	}
	text := *body
	if text == "-" {
		b, err := io.ReadAll(os.Stdin)
		if err != nil {
			return err
		}
		text = strings.TrimRight(string(b), "\n")
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	req := obj{"to": *to, "body": text}
	if *from != "" {
		req["from"] = *from
	}
	if *agent != "" {
		req["agent"] = *agent
	}
	var hdr http.Header
	if *idem != "" {
		hdr = http.Header{"Idempotency-Key": {*idem}}
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/messages", req, hdr)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, raw)
	}
	var m obj
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tENCODING\tSEGMENTS")
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", str(m, "id"), str(m, "status"), str(m, "encoding"), str(m, "segments"))
	return tw.Flush()
}

func cmdMessages(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("messages", "[flags] [ID]", `  simgate messages                           newest messages, both directions
  simgate messages -direction in             inbound only
  simgate messages -contact +15551234567     one contact
  simgate messages -status unknown -json
  simgate messages -since 24h                  created in the last day
  simgate messages -since 2026-12-01 -until 2026-12-02
  simgate messages 01JD3Y8Q6V8M3ZKX7ZQ5H2W1AB   one message with its parts
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	direction := fs.String("direction", "", "in or out")
	status := fs.String("status", "", statusList())
	contact := fs.String("contact", "", "the other party")
	modem := fs.String("modem", "", "modem name")
	agent := fs.String("agent", "", "agent")
	limit := fs.Int("limit", 50, "how many")
	cursor := fs.String("cursor", "", "continue after a previous page")
	since := fs.String("since", "", "created at or after: a time (RFC 3339), a date, or how long ago (36h, 7d)")
	until := fs.String("until", "", "created before (same forms as -since)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *status != "" && !gateway.Status(*status).Known() {
		return fmt.Errorf("-status %q is not a message status: use one of %s", *status, statusList())
	}
	if *direction != "" && *direction != "in" && *direction != "out" {
		return fmt.Errorf("-direction %q: use in or out", *direction)
	}
	times := map[string]string{}
	now := time.Now()
	for name, v := range map[string]string{"since": *since, "until": *until} {
		if v == "" {
			continue
		}
		t, err := parseWhen(name, v, now)
		if err != nil {
			return err
		}
		times[name] = t.UTC().Format(time.RFC3339)
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		raw, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(fs.Arg(0)), nil, nil)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, raw)
		}
		return printMessage(stdout, raw)
	}
	q := url.Values{}
	for k, v := range map[string]string{"direction": *direction, "status": *status, "contact": *contact, "modem": *modem, "agent": *agent, "cursor": *cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range times {
		q.Set(k, v)
	}
	q.Set("limit", fmt.Sprint(*limit))
	return printList(ctx, c, stdout, "/v1/messages?"+q.Encode(), *asJSON, []column{
		field("ID", "id"), field("DIR", "direction"), field("STATUS", "status"), field("CONTACT", "contact", "to", "from"),
		field("MODEM", "modem"), field("PARTS", "segments"), field("CREATED", "created_at"),
		{"BODY", func(m obj) string { return truncate(oneLine(str(m, "body")), 40) }},
	}, "simgate messages -cursor %s")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func printMessage(w io.Writer, raw json.RawMessage) error {
	var m obj
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, k := range []string{"id", "direction", "status", "contact", "to", "from", "modem", "agent", "encoding", "segments", "error_code", "error", "created_at", "updated_at", "body"} {
		if v := str(m, k); v != "-" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	parts, _ := m["parts"].([]any)
	if len(parts) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PART\tSTATE\tMODEM\tMR\tATTEMPTS\tERROR\tSUBMITTED\tDELIVERED")
	for _, p := range parts {
		po, _ := p.(obj)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", str(po, "seq"), str(po, "state"), str(po, "modem"), str(po, "mr"),
			str(po, "attempts"), str(po, "error_class", "error"), str(po, "submitted_at"), str(po, "delivered_at"))
	}
	return tw.Flush()
}

// runUSSD is simgate modems -ussd NAME -code CODE: the network's answer, as text.
func runUSSD(ctx context.Context, addr, key, name, code string, asJSON bool, stdout io.Writer) error {
	c, err := newClient(addr, key)
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/modems/"+url.PathEscape(name)+"/ussd", obj{"code": code}, nil)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, raw)
	}
	var a obj
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	// str would read a date-like answer as a time: print the text as it came
	text, _ := a["text"].(string)
	fmt.Fprintln(stdout, text)
	return nil
}

func cmdModems(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("modems", "[flags] [NAME]", `  simgate modems                       every modem: state, signal, budgets
  simgate modems sim1                  one modem
  simgate modems -pause sim1 -reason "carrier complaint" -for 2h
  simgate modems -resume sim1
  simgate modems -drain sim1           no new contacts; finish its queue
  simgate modems -ussd sim1 -code '*100#'   run a USSD code (a balance check)
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	pause := fs.String("pause", "", "pause modem NAME")
	reason := fs.String("reason", "paused by operator", "why (with -pause)")
	pauseFor := fs.Duration("for", 0, "pause for this long (with -pause; 0: until resumed)")
	resume := fs.String("resume", "", "resume modem NAME (lifts a pause or drain)")
	drain := fs.String("drain", "", "drain modem NAME")
	ussd := fs.String("ussd", "", "run the USSD code given with -code on modem NAME")
	code := fs.String("code", "", "the USSD code (with -ussd), e.g. *100#")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *ussd != "" {
		if *code == "" {
			fmt.Fprintln(stderr, "simgate modems: -ussd needs -code, e.g. -code '*100#'")
			fs.Usage()
			return errUsage
		}
		return runUSSD(ctx, *addr, *key, *ussd, *code, *asJSON, stdout)
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	switch {
	case *pause != "":
		body := obj{"reason": *reason}
		if *pauseFor > 0 {
			body["until"] = time.Now().Add(*pauseFor).UTC().Format(time.RFC3339)
		}
		raw, err = c.do(ctx, http.MethodPost, "/v1/modems/"+url.PathEscape(*pause)+"/pause", body, nil)
	case *resume != "":
		raw, err = c.do(ctx, http.MethodPost, "/v1/modems/"+url.PathEscape(*resume)+"/resume", nil, nil)
	case *drain != "":
		raw, err = c.do(ctx, http.MethodPost, "/v1/modems/"+url.PathEscape(*drain)+"/drain", nil, nil)
	case fs.NArg() > 0:
		raw, err = c.do(ctx, http.MethodGet, "/v1/modems/"+url.PathEscape(fs.Arg(0)), nil, nil)
	default:
		raw, err = c.do(ctx, http.MethodGet, "/v1/modems", nil, nil)
	}
	if err != nil {
		return err
	}
	if *asJSON || len(bytes.TrimSpace(raw)) == 0 {
		if len(bytes.TrimSpace(raw)) == 0 {
			fmt.Fprintln(stdout, "ok")
			return nil
		}
		return printJSON(stdout, raw)
	}
	list, _, err := items(raw)
	if err != nil || list == nil {
		var one obj
		if json.Unmarshal(raw, &one) != nil {
			return printJSON(stdout, raw)
		}
		list = []obj{one}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIM\tSTATE\tREG\tSIGNAL\tOPERATOR\tSENT\tFAILED\tRECEIVED\tLEFT TODAY\tNEW LEFT\tQUEUED\tBALANCE\tHEALTH\tPAUSED")
	for _, m := range list {
		st, _ := m["status"].(obj)
		b, _ := m["budget"].(obj)
		cn, _ := m["counters"].(obj)
		paused := "no"
		if p, _ := m["paused"].(bool); p {
			paused = "yes: " + str(m, "pause_reason")
		} else if d, _ := m["draining"].(bool); d {
			paused = "draining"
		}
		h, _ := m["health"].(obj)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", str(m, "name"), orDash(str(m, "sim")), str(st, "state"), regName(st),
			signalText(st), str(st, "operator"), str(cn, "sent"), str(cn, "failed"), str(cn, "received"),
			str(b, "left_today"), str(b, "new_contacts_left"), str(m, "queued"), balanceText(m), str(h, "score"), paused)
	}
	return tw.Flush()
}

// orDash is s, or "-" when empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdSIMs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("sims", "[flags] [ID]", `  simgate sims                         every SIM seen: where it is, its counters, budget, balance
  simgate sims 8901260000000000014     one SIM by ICCID (or imsi:IMSI), with its moves and balance readings
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	path := "/v1/sims"
	if fs.NArg() > 0 {
		path += "/" + url.PathEscape(fs.Arg(0))
	}
	raw, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, raw)
	}
	list, _, err := items(raw)
	one := fs.NArg() > 0
	if err != nil || list == nil {
		var o obj
		if json.Unmarshal(raw, &o) != nil {
			return printJSON(stdout, raw)
		}
		list = []obj{o}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMODEM\tSENT\tFAILED\tDELIVERED\tPARTS TODAY\tPARTS MONTH\tBALANCE\tHEALTH\tLAST SEEN\tPAUSED")
	for _, s := range list {
		cn, _ := s["counters"].(obj)
		b, _ := s["budget"].(obj)
		modem := str(s, "modem")
		if in, _ := s["in_modem"].(bool); !in {
			modem = "(out; last " + orDash(str(s, "last_modem")) + ")"
		}
		paused := "no"
		if p, _ := s["paused"].(bool); p {
			paused = "yes: " + str(s, "pause_reason")
		} else if h, _ := b["hold"].(obj); h != nil {
			if p, _ := h["paused"].(bool); p {
				paused = "yes: " + str(h, "reason")
			} else if d, _ := h["draining"].(bool); d {
				paused = "draining"
			}
		} else if d, _ := s["draining"].(bool); d {
			paused = "draining"
		}
		health := "-"
		if in, _ := s["in_modem"].(bool); in {
			h, _ := s["health"].(obj)
			health = str(h, "score")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", str(s, "id"), modem, str(cn, "sent"), str(cn, "failed"),
			str(cn, "delivered"), str(b, "parts"), str(cn, "month_parts"), lastBalance(s), health, str(s, "last_seen"), paused)
	}
	if err := tw.Flush(); err != nil || !one || len(list) != 1 {
		return err
	}
	s := list[0]
	if mv, _ := s["moves"].([]any); len(mv) > 0 {
		fmt.Fprintln(stdout, "\nMoves:")
		for _, x := range mv {
			m, _ := x.(obj)
			fmt.Fprintf(stdout, "  %s  %s -> %s\n", str(m, "at"), str(m, "from"), str(m, "to"))
		}
	}
	if bs, _ := s["balance"].([]any); len(bs) > 0 {
		fmt.Fprintln(stdout, "\nBalance readings:")
		for _, x := range bs {
			r, _ := x.(obj)
			fmt.Fprintf(stdout, "  %s  %s (through %s)\n", str(r, "at"), str(r, "amount"), str(r, "modem"))
		}
	}
	return nil
}

// lastBalance is a SIM's latest balance reading, or "-".
func lastBalance(s obj) string {
	bs, _ := s["balance"].([]any)
	if len(bs) == 0 {
		return "-"
	}
	r, _ := bs[len(bs)-1].(obj)
	return str(r, "amount")
}

// balanceText is a modem's last balance ("12.34", "0.5 low", "-").
func balanceText(m obj) string {
	b, _ := m["balance"].(obj)
	if known, _ := b["known"].(bool); !known {
		return "-"
	}
	v, _ := b["amount"].(float64)
	t := strconv.FormatFloat(v, 'f', -1, 64)
	if low, _ := b["low"].(bool); low {
		t += " low"
	}
	return t
}

func regName(st obj) string {
	v, ok := st["registration"].(float64)
	if !ok {
		return str(st, "registration")
	}
	return gatewayReg(int(v))
}

func signalText(st obj) string {
	v, ok := st["rssi"].(float64)
	if !ok || v < 0 || v > 31 {
		return "-"
	}
	return fmt.Sprintf("%d dBm", -113+2*int(v))
}

func gatewayReg(stat int) string { return gateway.RegStatus(stat).String() }
