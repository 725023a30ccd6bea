package gateway

import (
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	p := newPacer(PacingConfig{MinInterval: time.Second, PerMinute: 3, PerDay: 5, NewContactsPerDay: 1}, time.UTC)
	now := t0
	send := func() {
		if at := p.readyAt(now); at.After(now) {
			now = at
		}
		p.started(now)
		if !p.readyAt(now).After(now) {
			t.Fatal("ready while a send is in flight")
		}
		now = now.Add(100 * time.Millisecond)
		p.done(now)
	}
	send()
	if got := p.readyAt(now); got != now.Add(time.Second) {
		t.Fatalf("min interval: ready %v", got.Sub(now))
	}
	send()
	send()
	// three ends in the last minute: the fourth waits for the first + 60 s
	if got := p.readyAt(now); got != t0.Add(100*time.Millisecond).Add(time.Minute) {
		t.Fatalf("per minute: ready at +%v", got.Sub(t0))
	}
	p.addNewContact(now)
	if p.newContactsLeft(now) != 0 {
		t.Fatal("new contacts")
	}
	send() // past midnight: new day
	if p.usage.Day != "2026-03-02" || p.usage.Parts != 1 || p.newContactsLeft(now) != 1 {
		t.Fatalf("rollover: %+v", p.usage)
	}
	for range 4 {
		send()
	}
	if p.partsLeft(now) != 0 {
		t.Fatal("per day")
	}
	if got := p.readyAt(now); got != time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC) {
		t.Fatalf("per day: ready %v", got)
	}
}
