package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// TestE2EPreferHealthyForNewContacts: three simulated SIMs; sim3's signal
// is gone (-113 dBm), so its health score is well below the others'. New
// contacts go to sim1 and sim2 only, while sim3's sticky contacts still go
// to sim3; once sim1 and sim2 are paused, sim3 takes new contacts again.
func TestE2EPreferHealthyForNewContacts(t *testing.T) {
	cfg := e2eConfig()
	cfg.PreferHealthy = 0.9
	r := newRig(t, 3, cfg, nil, nil)
	r.sims["sim3"].SetSignal(0)
	waitFor(t, "sim3's weak signal seen", 20*time.Second, func() bool {
		v, _ := r.d.Modem("sim3")
		return v.Health.Signal != nil && *v.Health.Signal == 0
	})
	r.start()
	// sim3's own contacts, bound by naming it.
	var own []string
	for i := range 5 {
		m := r.submit(gateway.SendRequest{To: number(600 + i), Body: "hello", From: "sim3"})
		if got := r.waitStatus(m.ID, gateway.StatusDelivered); got.Modem != "sim3" {
			t.Fatalf("named sim3, sent by %s", got.Modem)
		}
		own = append(own, number(600+i))
	}
	v1, _ := r.d.Modem("sim1")
	v3, _ := r.d.Modem("sim3")
	if float64(v3.Health.Score) >= 0.9*float64(v1.Health.Score) {
		t.Fatalf("sim3 health %+v not below 0.9 x sim1's %+v", v3.Health, v1.Health)
	}

	// 60 new contacts and a follow-up to each of sim3's, interleaved.
	var fresh, followUps []string
	for i := range 60 {
		fresh = append(fresh, r.submit(gateway.SendRequest{To: number(700 + i), Body: fmt.Sprintf("new %d", i)}).ID)
		if i%12 == 0 {
			followUps = append(followUps, r.submit(gateway.SendRequest{To: own[i/12], Body: "again"}).ID)
		}
	}
	count := map[string]int{}
	for _, id := range fresh {
		count[r.waitStatus(id, gateway.StatusDelivered).Modem]++
	}
	for _, id := range followUps {
		if m := r.waitStatus(id, gateway.StatusDelivered); m.Modem != "sim3" {
			t.Fatalf("sim3's sticky contact sent by %s", m.Modem)
		}
	}
	t.Logf("new contacts by SIM: %v (sim3 health %d, sim1 %d)", count, v3.Health.Score, v1.Health.Score)
	if count["sim3"] != 0 || count["sim1"] == 0 || count["sim2"] == 0 {
		t.Fatalf("new contacts by SIM %v: want none on sim3", count)
	}

	// The only usable SIM takes new contacts whatever its health.
	for _, n := range []string{"sim1", "sim2"} {
		if err := r.d.Pause(n, "test", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if m := r.waitStatus(r.submit(gateway.SendRequest{To: number(800 + i), Body: "alone"}).ID, gateway.StatusDelivered); m.Modem != "sim3" {
			t.Fatalf("sent by %s", m.Modem)
		}
	}
}
