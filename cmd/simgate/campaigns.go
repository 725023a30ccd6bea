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
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
)

// CampaignsConfig tunes the P2P campaigns.
type CampaignsConfig struct {
	// Hours is the widest texting window, in each contact's time zone
	// (campaigns may only narrow it); its time_zone is a new campaign's zone.
	Hours HoursConfig `yaml:"hours"`
	// OptOutPhrases: a first message must contain one (case-insensitive) to start.
	OptOutPhrases []string `yaml:"opt_out_phrases"`
	// OptOutReply confirms an opt-out made from a conversation.
	OptOutReply string `yaml:"opt_out_reply"`
	// ImportLimit bounds an uploaded contact file, in bytes.
	ImportLimit int64 `yaml:"import_limit"`
}

// HoursConfig is a daily window "HH:MM"–"HH:MM" in a zone.
type HoursConfig struct {
	Start    string `yaml:"start"`
	End      string `yaml:"end"`
	TimeZone string `yaml:"time_zone"`
}

func defaultCampaignsConfig() CampaignsConfig {
	return CampaignsConfig{
		Hours:         HoursConfig{Start: campaign.DefaultHours.Start, End: campaign.DefaultHours.End, TimeZone: campaign.DefaultHours.TimeZone},
		OptOutPhrases: append([]string(nil), campaign.DefaultOptOutPhrases...),
		ImportLimit:   200 << 20,
	}
}

func (c CampaignsConfig) service() campaign.Config {
	return campaign.Config{
		Hours:         campaign.Hours{Start: c.Hours.Start, End: c.Hours.End, TimeZone: c.Hours.TimeZone},
		OptOutPhrases: c.OptOutPhrases,
		OptOutReply:   c.OptOutReply,
	}
}

func (c CampaignsConfig) validate(bad func(field, format string, args ...any)) {
	if err := c.service().Hours.Validate(); err != nil {
		bad("campaigns."+errField(err), "%s", errReason(err))
	}
	if len(c.OptOutPhrases) == 0 {
		bad("campaigns.opt_out_phrases", "at least one phrase")
	}
	if c.ImportLimit < 1<<10 {
		bad("campaigns.import_limit", "at least 1024 bytes")
	}
}

func errField(err error) string {
	var ve *gateway.ValidationError
	if errors.As(err, &ve) {
		return ve.Field
	}
	return "hours"
}

func errReason(err error) string {
	var ve *gateway.ValidationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return err.Error()
}

// startCampaigns builds the campaign service and subscribes it to the
// gateway's events (received messages, opt-outs, delivery status), before
// anything can be received or sent.
func (d *daemon) startCampaigns() error {
	st := campaign.Store(d.db) // both drivers keep campaigns
	cc := d.cfg.Campaigns.service()
	cc.DefaultRegion = d.cfg.DefaultRegion
	cc.Logger = d.log.With("component", "campaigns")
	svc, err := campaign.New(cc, campaign.Deps{
		Store: st, Sender: d.disp, Messages: d.db, OptOuts: d.db, Events: d.events, Fleet: d.disp,
	})
	if err != nil {
		return err
	}
	d.events.Subscribe(svc)
	d.camp = svc
	return nil
}

func cmdCampaigns(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := func(w io.Writer) error {
		fmt.Fprint(w, `Usage: simgate campaigns COMMAND [flags]

Commands:
  list                                  every campaign
  show ID                               one campaign (JSON)
  create -title T -org ORG -script S    a draft campaign (or -spec FILE.json)
  import -campaign ID FILE.csv          upload contacts (progress bar); prints the import report
  rejects -campaign ID -import IMP -o F the rows an import rejected, as CSV
  start|pause|resume|archive ID         change the campaign's state
  assign -campaign ID -texter T -count N   static assignment
  stats ID                              progress
  export -campaign ID [-messages] -o F.csv contacts (or messages) as CSV (progress bar)

Every command takes -addr and -key (env SIMGATE_ADDR, SIMGATE_KEY); organiser commands need an admin key.

Examples:
  id=$(simgate campaigns create -title GOTV -org "Vote Org" -fields event \
    -script "Hi {firstName|there}, it's {texterFirstName} with Vote Org about {event}. Reply STOP to opt out")
  simgate campaigns import -campaign $id contacts.csv
  simgate campaigns start $id
  simgate campaigns assign -campaign $id -texter ana -count 200
  simgate campaigns stats $id
  simgate campaigns export -campaign $id -o contacts.csv
`)
		return errUsage
	}
	if len(args) == 0 {
		return usage(stderr)
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "list":
		return campaignsList(ctx, rest, stdout, stderr)
	case "show", "stats":
		return campaignsShow(ctx, sub, rest, stdout, stderr)
	case "create":
		return campaignsCreate(ctx, rest, stdout, stderr)
	case "import":
		return campaignsImport(ctx, rest, stdout, stderr)
	case "rejects", "export":
		return campaignsDownload(ctx, sub, rest, stdout, stderr)
	case "start", "pause", "resume", "archive":
		return campaignsState(ctx, sub, rest, stdout, stderr)
	case "assign":
		return campaignsAssign(ctx, rest, stdout, stderr)
	case "-h", "-help", "--help", "help":
		_ = usage(stdout) // help asked for goes to stdout
		return flag.ErrHelp
	}
	fmt.Fprintf(stderr, "simgate campaigns: unknown command %q\n", sub)
	return usage(stderr)
}

func campaignsList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("campaigns list", "[flags]", "", stderr)
	addr, key, asJSON := clientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	return printList(ctx, c, stdout, "/v1/campaigns", *asJSON, []column{
		field("ID", "id"), {"TITLE", func(m obj) string { return truncate(str(m, "title"), 40) }}, field("STATE", "state"),
		field("ORG", "org_name"), field("SCRIPT V", "script_version"), field("CREATED", "created_at"),
	}, "")
}

func campaignsShow(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("campaigns "+sub, "[flags] ID", "", stderr)
	addr, key, _ := clientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	path := "/v1/campaigns/" + url.PathEscape(fs.Arg(0))
	if sub == "stats" {
		path += "/stats"
	}
	raw, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	return printJSON(stdout, raw)
}

func campaignsCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("campaigns create", "[flags]", `  simgate campaigns create -title "GOTV Nov" -org "Vote Org" \
    -script "Hi {firstName|there}, it's {texterFirstName} with Vote Org. Will you vote? Reply STOP to opt out"
  simgate campaigns create -spec campaign.json     (the body of POST /v1/campaigns)
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	title := fs.String("title", "", "title")
	org := fs.String("org", "", "the organisation's display name (the first message must name it)")
	script := fs.String("script", "", "the first message, with merge fields {firstName|fallback}")
	group := fs.String("group", "", "modem or group to send from")
	batch := fs.Int("batch", 0, "contacts per dynamic batch (0: 100)")
	fields := fs.String("fields", "", "custom merge fields, comma separated")
	spec := fs.String("spec", "", "a JSON file with the whole campaign (survey, canned responses, tags, hours)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	var body any
	if *spec != "" {
		b, err := os.ReadFile(*spec)
		if err != nil {
			return err
		}
		body = json.RawMessage(b)
	} else {
		o := obj{"title": *title, "org_name": *org, "script": *script}
		if *group != "" {
			o["modem_group"] = *group
		}
		if *batch > 0 {
			o["batch_size"] = *batch
		}
		if *fields != "" {
			o["fields"] = strings.Split(*fields, ",")
		}
		body = o
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/campaigns", body, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, raw)
	}
	var o obj
	_ = json.Unmarshal(raw, &o)
	fmt.Fprintln(stdout, str(o, "id"))
	return nil
}

func campaignsState(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("campaigns "+sub, "[flags] ID", "", stderr)
	addr, key, asJSON := clientFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/campaigns/"+url.PathEscape(fs.Arg(0))+"/"+sub, nil, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, raw)
	}
	var o obj
	_ = json.Unmarshal(raw, &o)
	fmt.Fprintf(stdout, "%s: %s\n", str(o, "id"), str(o, "state"))
	return nil
}

func campaignsAssign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("campaigns assign", "[flags]", "", stderr)
	addr, key, _ := clientFlags(fs)
	id := fs.String("campaign", "", "campaign ID")
	texter := fs.String("texter", "", "texter (an API key's owner)")
	count := fs.Int("count", 0, "how many contacts")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	raw, err := c.do(ctx, http.MethodPost, "/v1/campaigns/"+url.PathEscape(*id)+"/assignments", obj{"texter": *texter, "count": *count}, nil)
	if err != nil {
		return err
	}
	var o obj
	_ = json.Unmarshal(raw, &o)
	fmt.Fprintf(stdout, "assigned %s contacts to %s\n", str(o, "assigned"), *texter)
	return nil
}

// progress draws a one-line progress bar on w, at most every 200 ms.
type progress struct {
	w     io.Writer
	label string
	total int64 // 0 = unknown
	n     int64
	last  time.Time
	start time.Time
}

func newProgress(w io.Writer, label string, total int64) *progress {
	return &progress{w: w, label: label, total: total, start: time.Now()}
}

func (p *progress) add(n int) {
	p.n += int64(n)
	if time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.draw()
}

func (p *progress) draw() {
	const width = 30
	if p.total > 0 {
		frac := float64(p.n) / float64(p.total)
		frac = min(frac, 1)
		done := int(frac * width)
		fmt.Fprintf(p.w, "\r%s [%s%s] %3.0f%% %s/%s", p.label, strings.Repeat("#", done), strings.Repeat("-", width-done),
			frac*100, sizeText(p.n), sizeText(p.total))
		return
	}
	fmt.Fprintf(p.w, "\r%s %s", p.label, sizeText(p.n))
}

func (p *progress) done(extra string) {
	p.draw()
	fmt.Fprintf(p.w, " %s (%.1fs)\n", extra, time.Since(p.start).Seconds())
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progressReader counts what passes through it.
type progressReader struct {
	r io.Reader
	p *progress
}

func (r progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(n)
	return n, err
}

// stream sends one request whose body (if any) is streamed, with no
// overall timeout (large files), and returns the answer for the caller to read.
func (c *client) stream(ctx context.Context, method, path, contentType string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if size > 0 {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("is the daemon running at %s? %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		e := &apiError{Status: resp.StatusCode}
		_ = json.Unmarshal(data, e)
		e.Status = resp.StatusCode
		if e.Title == "" {
			e.Title = http.StatusText(resp.StatusCode)
		}
		var pe struct {
			Errors []struct{ Field, Reason string } `json:"errors"`
		}
		if json.Unmarshal(data, &pe) == nil {
			for _, f := range pe.Errors {
				if line := f.Field + ": " + f.Reason; !strings.Contains(e.Detail, line) {
					e.Detail += "\n  " + line
				}
			}
		}
		return nil, e
	}
	return resp, nil
}

func campaignsImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("campaigns import", "[flags] FILE.csv", `  simgate campaigns import -campaign 01J... contacts.csv
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	id := fs.String("campaign", "", "campaign ID")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *id == "" {
		fs.Usage()
		return errUsage
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	out := stderr
	if *quiet {
		out = io.Discard
	}
	p := newProgress(out, "uploading "+filepath.Base(fs.Arg(0)), st.Size())
	resp, err := c.stream(ctx, http.MethodPost, "/v1/campaigns/"+url.PathEscape(*id)+"/contacts", "text/csv", progressReader{r: f, p: p}, st.Size())
	if err != nil {
		fmt.Fprintln(out)
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	p.done("imported")
	if *asJSON {
		return printJSON(stdout, raw)
	}
	var r campaign.ImportReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return printJSON(stdout, raw)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "import\t%s\n", r.ID)
	fmt.Fprintf(tw, "rows\t%d\n", r.Rows)
	fmt.Fprintf(tw, "imported\t%d\n", r.Imported)
	fmt.Fprintf(tw, "already opted out (kept, never texted)\t%d\n", r.OptedOut)
	fmt.Fprintf(tw, "invalid number\t%d\n", r.InvalidNumber)
	fmt.Fprintf(tw, "duplicate in the file\t%d\n", r.DuplicateInFile)
	fmt.Fprintf(tw, "already in the campaign\t%d\n", r.DuplicateInCampaign)
	fmt.Fprintf(tw, "missing a field the script needs\t%d\n", r.MissingField)
	if err := tw.Flush(); err != nil {
		return err
	}
	if n := r.InvalidNumber + r.DuplicateInFile + r.DuplicateInCampaign + r.MissingField; n > 0 {
		fmt.Fprintf(stdout, "the %d rejected rows: simgate campaigns rejects -campaign %s -import %s -o rejects.csv\n", n, *id, r.ID)
	}
	return nil
}

func campaignsDownload(ctx context.Context, sub string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("campaigns "+sub, "[flags]", `  simgate campaigns export -campaign 01J... -o contacts.csv
  simgate campaigns export -campaign 01J... -messages -o messages.csv
  simgate campaigns rejects -campaign 01J... -import 01J... -o rejects.csv
`, stderr)
	addr, key, _ := clientFlags(fs)
	id := fs.String("campaign", "", "campaign ID")
	imp := fs.String("import", "", "import ID (rejects)")
	messages := fs.Bool("messages", false, "export messages instead of contacts")
	outPath := fs.String("o", "", "output file (default: stdout)")
	quiet := fs.Bool("q", false, "no progress bar")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *id == "" || (sub == "rejects" && *imp == "") {
		fs.Usage()
		return errUsage
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	path := "/v1/campaigns/" + url.PathEscape(*id)
	switch {
	case sub == "rejects":
		path += "/imports/" + url.PathEscape(*imp) + "/rejects"
	case *messages:
		path += "/export/messages"
	default:
		path += "/export/contacts"
	}
	resp, err := c.stream(ctx, http.MethodGet, path, "", nil, 0)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var w io.Writer = stdout
	var f *os.File
	if *outPath != "" {
		// Written next to the target, renamed when complete: a cut-off
		// download never looks like a finished export.
		f, err = os.CreateTemp(filepath.Dir(*outPath), ".simgate-export-*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		w = f
	}
	pr := io.Discard
	if !*quiet && *outPath != "" {
		pr = stderr
	}
	p := newProgress(pr, "downloading", 0)
	lines := &lineCounter{w: w, p: p}
	if _, err := io.Copy(lines, resp.Body); err != nil {
		return fmt.Errorf("download cut short after %d rows: %w", max(lines.n-1, 0), err)
	}
	if f != nil {
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), *outPath); err != nil {
			return err
		}
	}
	p.done(fmt.Sprintf("%d rows", max(lines.n-1, 0)))
	return nil
}

// lineCounter counts the newlines written through it (CSV rows; a quoted
// newline inside a cell counts too, so the count is an upper bound).
type lineCounter struct {
	w io.Writer
	p *progress
	n int
}

func (l *lineCounter) Write(b []byte) (int, error) {
	l.n += bytes.Count(b, []byte{'\n'})
	l.p.add(len(b))
	return l.w.Write(b)
}

// recoverCampaigns files, in the background, what the campaign service may
// have missed while the daemon was down (inbound messages of the last week
// and opt-outs stored but not yet notified; see campaign.Service.Recover).
func (d *daemon) recoverCampaigns(ctx context.Context) {
	if d.camp == nil {
		return
	}
	d.life.Go("campaigns-recover", func() {
		filed, closed, err := d.camp.Recover(ctx, d.db, time.Now().Add(-7*24*time.Hour))
		switch {
		case err != nil && ctx.Err() == nil:
			d.log.Error("campaigns: recovery stopped", "err", err, "filed", filed, "closed", closed)
		case filed+closed > 0:
			d.log.Info("campaigns: recovered", "filed", filed, "closed", closed)
		}
	})
}
