package modem

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warthog618/sms"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/modem/modemsim"
)

// TestStoredReportsReadAtStart: status reports that reach the modem while
// the daemon is down are stored in its "SR" memory; the next start reads
// them, hands them to the handler and deletes them only once handled.
func TestStoredReportsReadAtStart(t *testing.T) {
	withCNMI(t, "+CNMI=2,1,0,2,0")
	net := modemsim.NewNetwork(modemsim.NetworkOptions{ReportDelay: 300 * time.Millisecond})
	defer net.Close()
	a := net.AddModem(modemsim.ModemConfig{Name: "a", SRMemory: true})
	link := filepath.Join(t.TempDir(), "a")
	if _, err := a.ServePTY(link); err != nil {
		t.Fatal(err)
	}
	in := &recorder{}
	cfg := fastConfig("a", link)
	cfg.PollInterval = time.Hour // only the start of a session reads the memory
	d, err := Open(context.Background(), cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "up", func() bool { return d.Status().Usable() })
	var mrs []int
	for _, text := range []string{"one", "two"} {
		mr, err := d.SendPDU(context.Background(), encode(t, "+15557654321", text, true)[0])
		if err != nil {
			t.Fatal(err)
		}
		mrs = append(mrs, mr)
	}
	d.Close() // the daemon goes down before the reports come
	eventually(t, 10*time.Second, "reports stored in SR", func() bool {
		n := 0
		for _, s := range a.Stored() {
			if s.Mem == "SR" {
				n++
			}
		}
		return n == 2
	})
	if len(in.got()) != 0 {
		t.Fatalf("handled while down: %d", len(in.got()))
	}

	// The store is down at the next start: the reports stay on the modem.
	in.fail.Store(true)
	cfg.PollInterval = 200 * time.Millisecond
	d2, err := Open(context.Background(), cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	eventually(t, 10*time.Second, "up again", func() bool { return d2.Status().Usable() })
	if n := len(a.Stored()); n != 2 {
		t.Fatalf("%d stored while the handler fails, want 2", n)
	}
	in.fail.Store(false)
	eventually(t, 10*time.Second, "reports handled", func() bool { return len(in.got()) == 2 })
	eventually(t, 5*time.Second, "deleted", func() bool { return len(a.Stored()) == 0 })
	sent := map[int]bool{mrs[0]: true, mrs[1]: true}
	for i, p := range in.got() {
		if p.Kind != gateway.KindStatusReport {
			t.Fatalf("pdu %d kind %v", i, p.Kind)
		}
		s, err := sms.Unmarshal(p.TPDU, sms.AsMT)
		if err != nil {
			t.Fatal(err)
		}
		if !sent[int(s.MR)] {
			t.Errorf("report %d: mr %d, sent %v", i, s.MR, mrs)
		}
		delete(sent, int(s.MR))
	}
}

// TestStatusReportInSRWhileUp: with ds=2 a modem that has an "SR" memory
// stores each report there and announces +CDSI: "SR",<index>; the driver
// reads it from SR (switching the read memory and back) and deletes it.
func TestStatusReportInSRWhileUp(t *testing.T) {
	withCNMI(t, "+CNMI=2,1,0,2,0")
	net := modemsim.NewNetwork(modemsim.NetworkOptions{})
	defer net.Close()
	a := net.AddModem(modemsim.ModemConfig{Name: "a", SRMemory: true})
	link := filepath.Join(t.TempDir(), "a")
	if _, err := a.ServePTY(link); err != nil {
		t.Fatal(err)
	}
	in := &recorder{}
	w := &wire{}
	cfg := fastConfig("a", link)
	cfg.PollInterval = time.Hour // only the +CDSI can tell
	if cfg.Logger == nil {
		cfg.Logger = slog.New(w)
	}
	d, err := Open(context.Background(), cfg, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	eventually(t, 10*time.Second, "up", func() bool { return d.Status().Usable() })
	if _, err := d.SendPDU(context.Background(), encode(t, "+15557654321", "report me", true)[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "status report", func() bool { return len(in.got()) == 1 })
	eventually(t, 5*time.Second, "deleted from SR", func() bool { return len(a.Stored()) == 0 })
	if cfg.Logger.Handler() == w && !strings.Contains(w.received(), `+CDSI: "SR",1`) {
		t.Fatalf("no +CDSI for SR on the wire:\n%q", w.received())
	}
	// and an inbound message still lands in SM and is read from there
	if err := net.InjectSMS(a.MSISDN(), "+15550009999", "after the report"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "received", func() bool { return len(in.got()) == 2 })
}
