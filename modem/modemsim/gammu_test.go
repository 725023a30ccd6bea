package modemsim

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gammu runs the real gammu client against a simulated port.
type gammu struct {
	t    *testing.T
	bin  string
	rc   string
	logf string
}

func newGammu(t *testing.T, link string) *gammu {
	bin, err := exec.LookPath("gammu")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gammu is not installed (apt-get install -y gammu)")
		}
		t.Skip("gammu is not installed")
	}
	dir := t.TempDir()
	g := &gammu{t: t, bin: bin, rc: filepath.Join(dir, "gammurc"), logf: filepath.Join(dir, "gammu.log")}
	rc := "[gammu]\ndevice = " + link + "\nconnection = at\nlogfile = " + g.logf + "\nlogformat = textalldate\n"
	if err := os.WriteFile(g.rc, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return g
}

// run runs gammu with args and returns its output; a failure fails the test
// with gammu's debug log.
func (g *gammu) run(args ...string) string {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.bin, append([]string{"-c", g.rc}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || os.Getenv("GAMMU_LOG") != "" {
		log, _ := os.ReadFile(g.logf)
		if err != nil {
			g.t.Fatalf("gammu %s: %v\n%s\n--- log ---\n%s", strings.Join(args, " "), err, out, log)
		}
		g.t.Logf("gammu %s\n%s\n--- log ---\n%s", strings.Join(args, " "), out, log)
	}
	return string(out)
}

// TestGammuInterop checks the simulator against an independent client: the
// real gammu, configured with connection = at on the simulated PTY.
func TestGammuInterop(t *testing.T) {
	n := newNet(t, NetworkOptions{})
	m := n.AddModem(ModemConfig{})
	link := filepath.Join(t.TempDir(), "modem0")
	if _, err := m.ServePTY(link); err != nil {
		t.Fatal(err)
	}
	g := newGammu(t, link)
	imei, imsi, _ := m.Info()

	out := g.run("identify")
	mustContain(t, out, "Huawei", "E3531", "22.521.23.00.00", imei, imsi)

	out = g.run("sendsms", "TEXT", "+15550001", "-text", "hello")
	mustContain(t, out, "message reference=0")
	unicode := "héllo ✓ 😀"
	out = g.run("sendsms", "TEXT", "+15550001", "-unicode", "-text", unicode)
	mustContain(t, out, "message reference=1")

	subs := n.Outside()
	if len(subs) != 2 {
		t.Fatalf("outside submissions: %+v", subs)
	}
	for i, want := range []string{"hello", unicode} {
		s := subs[i]
		if s.To != "+15550001" || s.Text != want || s.MR != i || s.FromMSISDN != m.MSISDN() || s.Parts != 1 {
			t.Errorf("submission %d: %+v, want text %q to +15550001 mr %d", i, s, want, i)
		}
	}

	if err := n.InjectSMS(m.MSISDN(), "+15557777", "inbound hi"); err != nil {
		t.Fatal(err)
	}
	out = g.run("getallsms")
	mustContain(t, out, `"+15557777"`, "inbound hi", "UnRead")
	if st := m.Stored(); len(st) != 1 || st[0].Stat != 1 {
		t.Errorf("after getallsms the message is stored and read: %+v", st)
	}
}
