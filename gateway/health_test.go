package gateway

import "testing"

// TestHealthOf: a healthy SIM scores high, each bad part pulls it down by
// its weight, and a SIM that cannot send scores 0.
func TestHealthOf(t *testing.T) {
	good := ModemView{Usable: true,
		Status:   ModemStatus{State: ModemUp, Registration: RegHome, RSSI: 25}, // -63 dBm
		Counters: Counters{Sent: 100},
		Budget:   BudgetView{PerDay: 1000, LeftToday: 1000},
	}
	h := healthOf(good, watchSignals{reports: 1, reportsOK: true})
	if h.Score != 100 || h.Signal == nil || h.Reports == nil || *h.Failures != 1 {
		t.Fatalf("good SIM: %+v", h)
	}
	noReports := healthOf(good, watchSignals{reportsOK: true}) // weight 2 of 7
	if noReports.Score != 71 {
		t.Fatalf("reports gone: score %d, want 71", noReports.Score)
	}
	unknown := healthOf(good, watchSignals{})
	if unknown.Reports != nil || unknown.Score != 100 {
		t.Fatalf("reports unknown count against the SIM: %+v", unknown)
	}
	roaming := good
	roaming.Status.Registration = RegRoaming
	roaming.Budget.LeftToday = 0
	if h := healthOf(roaming, watchSignals{reports: 1, reportsOK: true}); h.Score != 81 { // (0.7 + 0 + 5) / 7
		t.Fatalf("roaming, budget spent: score %d, want 81", h.Score)
	}
	silent := healthOf(good, watchSignals{reports: 1, reportsOK: true, repliesOK: true}) // replies 0, weight 2 of 9
	if silent.Replies == nil || silent.Score != 78 {
		t.Fatalf("replies stopped: %+v, want score 78", silent)
	}
	paused := good
	paused.Usable, paused.Paused = false, true
	if h := healthOf(paused, watchSignals{reports: 1, reportsOK: true}); h.Score != 0 || h.Signal == nil {
		t.Fatalf("paused SIM: %+v", h)
	}
}
