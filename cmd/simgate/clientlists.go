package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/simgate/simgate/gateway"
)

// The clients of a running daemon's conversations, opt-outs and webhooks
// (client.go has send, messages and modems).

func cmdConversations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("conversations", "[flags] NUMBER", `  simgate conversations +15551234567         both directions, oldest first
  simgate conversations -json 5551234567      in the daemon's default region
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	limit := fs.Int("limit", 50, "how many")
	cursor := fs.String("cursor", "", "continue after a previous page")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "simgate conversations: name one contact (a phone number)")
		fs.Usage()
		return errUsage
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *cursor != "" {
		q.Set("cursor", *cursor)
	}
	raw, err := c.do(ctx, http.MethodGet, "/v1/conversations/"+url.PathEscape(fs.Arg(0))+"?"+q.Encode(), nil, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, raw)
	}
	var page struct {
		Contact string `json:"contact"`
		Data    []obj  `json:"data"`
		Next    string `json:"next_cursor"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return fmt.Errorf("unexpected answer: %s", truncate(string(raw), 200))
	}
	fmt.Fprintf(stdout, "Conversation with %s (%d messages)\n\n", page.Contact, len(page.Data))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tDIR\tSTATUS\tMODEM\tAGENT\tBODY")
	for _, m := range page.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", str(m, "created_at"), str(m, "direction"), str(m, "status"),
			str(m, "modem"), str(m, "agent"), truncate(oneLine(str(m, "body")), 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(stdout, "\nmore: simgate conversations -cursor %s %s\n", page.Next, fs.Arg(0))
	}
	return nil
}

func cmdOptOuts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("optouts", "[flags] [-add NUMBER,... | -remove NUMBER]", `  simgate optouts                              the suppression list
  simgate optouts -add +15551234567,+15557654321 -keyword STOP   (admin key)
  simgate optouts -remove +15551234567         the contact opted back in elsewhere (admin key)
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	add := fs.String("add", "", "comma-separated numbers to add (scope admin)")
	keyword := fs.String("keyword", "", "recorded with each number added (with -add)")
	remove := fs.String("remove", "", "number to take off the list (scope admin)")
	limit := fs.Int("limit", 100, "how many (listing)")
	cursor := fs.String("cursor", "", "continue after a previous page")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *add != "" && *remove != "" {
		fmt.Fprintln(stderr, "simgate optouts: -add or -remove, not both")
		return errUsage
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	switch {
	case *add != "":
		var numbers []string
		for _, n := range strings.Split(*add, ",") {
			if n = strings.TrimSpace(n); n != "" {
				numbers = append(numbers, n)
			}
		}
		body := obj{"numbers": numbers}
		if *keyword != "" {
			body["keyword"] = *keyword
		}
		raw, err := c.do(ctx, http.MethodPost, "/v1/optouts", body, nil)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, raw)
		}
		var res struct {
			Added   int      `json:"added"`
			Numbers []string `json:"numbers"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Added %d of %d (%s); the others were on the list already.\n", res.Added, len(res.Numbers), strings.Join(res.Numbers, ", "))
		return nil
	case *remove != "":
		if _, err := c.do(ctx, http.MethodDelete, "/v1/optouts/"+url.PathEscape(*remove), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed %s from the opt-out list.\n", *remove)
		return nil
	}
	q := url.Values{"limit": {strconv.Itoa(*limit)}}
	if *cursor != "" {
		q.Set("cursor", *cursor)
	}
	return printList(ctx, c, stdout, "/v1/optouts?"+q.Encode(), *asJSON, []column{
		field("NUMBER", "number"), field("SOURCE", "source"), field("KEYWORD", "keyword"), field("MODEM", "modem"), field("AT", "at"),
	}, "simgate optouts -cursor %s")
}

func cmdWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("webhooks", "[flags] [-add URL [-events LIST] | -remove ID]", `  simgate webhooks                                       the endpoints (admin key)
  simgate webhooks -add https://crm.example.org/sms -events message.received,optout.added
  simgate webhooks -remove wh_01JD3Y8Q6V8M3ZKX7ZQ5H2W1AB

The signing secret of an endpoint added here is printed once. Endpoints
from the configuration file (source "config") are changed there, not here.
`, stderr)
	addr, key, asJSON := clientFlags(fs)
	add := fs.String("add", "", "URL of an endpoint to add")
	events := fs.String("events", "", "comma-separated event types for -add (default: all): "+eventTypeList())
	remove := fs.String("remove", "", "ID of an endpoint to remove")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *add != "" && *remove != "" {
		fmt.Fprintln(stderr, "simgate webhooks: -add or -remove, not both")
		return errUsage
	}
	var evs []string
	for _, e := range strings.Split(*events, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if !gateway.EventType(e).Known() {
			return fmt.Errorf("-events: %q is not an event type (one of %s)", e, eventTypeList())
		}
		evs = append(evs, e)
	}
	c, err := newClient(*addr, *key)
	if err != nil {
		return err
	}
	switch {
	case *add != "":
		body := obj{"url": *add}
		if len(evs) > 0 {
			body["events"] = evs
		}
		raw, err := c.do(ctx, http.MethodPost, "/v1/webhooks", body, nil)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(stdout, raw)
		}
		var w obj
		if err := json.Unmarshal(raw, &w); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Added webhook %s for %s (events: %s).\nIts signing secret is shown only now; give it to the receiver:\n\n  %s\n\n",
			str(w, "id"), str(w, "url"), webhookEvents(w), str(w, "secret"))
		return nil
	case *remove != "":
		if _, err := c.do(ctx, http.MethodDelete, "/v1/webhooks/"+url.PathEscape(*remove), nil, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Removed webhook %s.\n", *remove)
		return nil
	}
	return printList(ctx, c, stdout, "/v1/webhooks", *asJSON, []column{
		field("ID", "id"), field("SOURCE", "source"), field("URL", "url"), {"EVENTS", webhookEvents}, field("CREATED", "created_at"),
	}, "")
}

func webhookEvents(w obj) string {
	evs, _ := w["events"].([]any)
	if len(evs) == 0 {
		return "all"
	}
	s := make([]string, 0, len(evs))
	for _, e := range evs {
		s = append(s, fmt.Sprint(e))
	}
	return strings.Join(s, ",")
}

func eventTypeList() string {
	evs := gateway.EventTypes()
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func statusList() string {
	sts := gateway.Statuses()
	s := make([]string, len(sts))
	for i, st := range sts {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// parseWhen reads -since/-until: an RFC 3339 time, a date (midnight local
// time), or a duration before now ("90m", "36h", "7d").
func parseWhen(flagName, v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, time.Local); err == nil {
		return t, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("-%s %q: want a time (2026-12-01T09:00:00Z), a date (2026-12-01) or how long ago (90m, 36h, 7d)", flagName, v)
}
