package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCampaignsCLI drives a campaign through the CLI against serve on a
// simulated modem: create, import (with the report), start, assign, a send
// through the API, then both exports to files.
func TestCampaignsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("PTYs and a simulated network")
	}
	g := startGateway(t, 1, 1, func(c *Config) {
		c.Campaigns.Hours = HoursConfig{Start: "00:00", End: "24:00", TimeZone: "UTC"} // any hour the test runs at
	})
	cli := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(append(append([]string{"campaigns"}, args[:1]...), append([]string{"-addr", g.base, "-key", g.key}, args[1:]...)...)...)
		if code != 0 {
			t.Fatalf("campaigns %v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		return out
	}
	id := strings.TrimSpace(cli("create", "-title", "GOTV", "-org", "Vote Org", "-fields", "precinct",
		"-script", "Hi {firstName|there}, Vote Org here: your polling place is {precinct}. Reply STOP to opt out"))
	if len(id) != 26 {
		t.Fatalf("campaign id %q", id)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "contacts.csv")
	if err := os.WriteFile(file, []byte("first_name;cell;precinct\r\nAna;(555) 300-0001;Library\r\nBo;555-300-0002;\"=HYPERLINK(\"\"x\"\")\"\r\nCy;12;School\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := cli("import", "-campaign", id, "-q", file)
	for _, want := range []string{"rows                                    3", "imported                                2", "invalid number                          1", "simgate campaigns rejects"} {
		if !strings.Contains(out, want) {
			t.Errorf("import report lacks %q:\n%s", want, out)
		}
	}
	if out := cli("start", id); !strings.Contains(out, "active") {
		t.Errorf("start: %s", out)
	}
	if out := cli("assign", "-campaign", id, "-texter", "test", "-count", "5"); !strings.Contains(out, "assigned 2") {
		t.Errorf("assign: %s", out)
	}
	var sent map[string]any
	if st := httpJSON(t, "POST", g.base+"/v1/campaigns/"+id+"/contacts/1/send", g.key, nil, &sent); st != 201 {
		t.Fatalf("send: %d %v", st, sent)
	}
	waitFor(t, "the first message delivered", 30*time.Second, func() bool {
		var st map[string]any
		httpJSON(t, "GET", g.base+"/v1/campaigns/"+id+"/stats", g.key, nil, &st)
		m, _ := st["messages"].(map[string]any)
		return m != nil && m["delivered"] == float64(1)
	})
	contacts := filepath.Join(dir, "out.csv")
	cli("export", "-campaign", id, "-q", "-o", contacts)
	b, err := os.ReadFile(contacts)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "1,,Ana,,'+15553000001,,Library,messaged,false,test") || !strings.Contains(lines[2], `'=HYPERLINK`) {
		t.Errorf("contacts export:\n%s", b)
	}
	msgs := filepath.Join(dir, "messages.csv")
	cli("export", "-campaign", id, "-messages", "-q", "-o", msgs)
	b, err = os.ReadFile(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 2 || !strings.Contains(string(b), "Hi Ana, Vote Org here: your polling place is Library.") {
		t.Errorf("messages export (%d lines):\n%s", n, b)
	}
	if out := cli("list"); !strings.Contains(out, id) || !strings.Contains(out, "GOTV") {
		t.Errorf("list: %s", out)
	}
	_ = fmt.Sprint
}
