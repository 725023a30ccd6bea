package web_test

import (
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/simgate/simgate/api/web"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/gatewaytest"
)

// simRow is the SIMs page's row of SIM id ("" if there is none).
func simRow(body, id string) string {
	m := regexp.MustCompile(`(?s)<tr id="sim-` + regexp.QuoteMeta(id) + `">.*?</tr>`).FindString(body)
	return html.UnescapeString(m)
}

// TestSIMsPageEmpty: before any modem reported a SIM the page says so; it
// is in the organiser's navigation, and a texter may not see it.
func TestSIMsPageEmpty(t *testing.T) {
	e := newEnv(t, web.Config{}, false)
	e.user("olu", account.RoleOrganiser)
	e.user("ana", account.RoleTexter)
	b := e.browser()
	b.login("olu", "olu-password")
	code, body, _ := b.get("/app/ops/sims")
	if code != http.StatusOK || !strings.Contains(body, "No SIM has been seen yet") || !strings.Contains(body, `<a href="/app/ops/sims" aria-current="page">SIMs</a>`) {
		t.Fatalf("SIMs page: %d\n%s", code, body)
	}
	if _, body, _ := b.get("/app/ops"); !strings.Contains(body, `<a href="/app/ops/sims">SIMs</a>`) {
		t.Errorf("no SIMs link in the navigation:\n%s", body)
	}
	tb := e.browser()
	tb.login("ana", "ana-password")
	if code, _, _ := tb.get("/app/ops/sims"); code != http.StatusForbidden {
		t.Errorf("texter GET /app/ops/sims: %d", code)
	}
	if _, body, _ := tb.get("/app/"); strings.Contains(body, "/app/ops/sims") {
		t.Error("the texter's navigation links the SIMs page")
	}
}

// TestSIMsPageShowsMoves: X moves from modem fa to fb (whose SIM Z is put
// aside) and a new card W goes into fa. The page lists all three: X in fb
// with its move, its balance reading through fa and its pause; Z not
// inserted; W in fa. Each modem's row links its SIM.
func TestSIMsPageShowsMoves(t *testing.T) {
	const x, z, w = "8901000000000000021", "8901000000000000022", "8901000000000000023"
	e := newEnv(t, web.Config{}, false)
	e.user("olu", account.RoleOrganiser)
	fa, fb := gatewaytest.NewDevice("fa"), gatewaytest.NewDevice("fb")
	fa.SetSIM(x)
	fb.SetSIM(z)
	e.disp.AddDevice(fa, gateway.ModemConfig{Name: "fa"})
	e.disp.AddDevice(fb, gateway.ModemConfig{Name: "fb"})
	in := func(id, modem string) {
		t.Helper()
		eventually(t, "SIM "+id+" in "+modem, func() bool {
			s, err := e.disp.SIM(id)
			return err == nil && s.InModem && s.Modem == modem
		})
	}
	in(x, "fa")
	in(z, "fb")
	read := time.Date(2026, 12, 1, 9, 15, 0, 0, time.UTC)
	e.disp.RecordBalance("fa", 7.5, read)
	fb.SetSIM(x)
	fa.SetSIM(w)
	in(x, "fb")
	in(w, "fa")
	const reason = "test: SIM swap checked by hand"
	if err := e.disp.Pause("fb", reason, time.Time{}); err != nil {
		t.Fatal(err)
	}

	b := e.browser()
	b.login("olu", "olu-password")
	code, body, _ := b.get("/app/ops/sims")
	if code != http.StatusOK {
		t.Fatalf("SIMs page: %d\n%s", code, body)
	}
	row := simRow(body, x)
	for _, want := range []string{`<a href="/app/ops#modem-fb">fb</a>`, "fa → fb", "7.50", "read " + read.Local().Format("2006-01-02 15:04") + " through fa", "paused", reason} {
		if !strings.Contains(row, want) {
			t.Errorf("X's row lacks %q:\n%s", want, row)
		}
	}
	if row := simRow(body, z); !strings.Contains(row, "not inserted (last in fb)") || strings.Contains(row, "→") {
		t.Errorf("Z's row:\n%s", row)
	}
	if row := simRow(body, w); !strings.Contains(row, `<a href="/app/ops#modem-fa">fa</a>`) || strings.Contains(row, "→") || strings.Contains(row, "paused") {
		t.Errorf("W's row:\n%s", row)
	}
	_, body, _ = b.get("/app/ops")
	for modem, sim := range map[string]string{"fa": w, "fb": x} {
		row := regexp.MustCompile(`(?s)<tr id="modem-` + modem + `">.*?</tr>`).FindString(body)
		if !strings.Contains(row, `href="/app/ops/sims#sim-`+sim+`"`) {
			t.Errorf("modem %s's row does not link its SIM %s:\n%s", modem, sim, row)
		}
	}
}

// TestSIMsPageLeavesOutTheNumber: the simulated SIM tells its own number;
// the page shows its ICCID, parts today and health, but not the number.
func TestSIMsPageLeavesOutTheNumber(t *testing.T) {
	if testing.Short() {
		t.Skip("PTYs and a simulated network")
	}
	e := newEnv(t, web.Config{}, true)
	e.user("olu", account.RoleOrganiser)
	var s gateway.SIMView
	eventually(t, "sim1's SIM with its number", func() bool {
		sims := e.disp.SIMs()
		if len(sims) == 1 {
			s = sims[0]
		}
		return s.InModem && s.MSISDN != ""
	})
	b := e.browser()
	b.login("olu", "olu-password")
	_, body, _ := b.get("/app/ops/sims")
	row := simRow(body, s.ID)
	if !strings.Contains(row, `<td class="health"><strong>`) || !strings.Contains(row, `<td class="parts">0`) {
		t.Errorf("sim1's SIM row:\n%s", row)
	}
	digits := strings.TrimPrefix(s.MSISDN, "+")
	if strings.Contains(body, digits) || strings.Contains(body, digits[len(digits)-7:]) {
		t.Errorf("the page shows the SIM's number %s:\n%s", s.MSISDN, body)
	}
}
