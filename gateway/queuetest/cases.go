package queuetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/simgate/simgate/gateway"
)

// Several workers claiming at once: every message is claimed and sent by
// exactly one of them, and nothing is left waiting.
func testEachOnce(t *testing.T, h Harness) {
	f := NewFleet("a", "b", "c", "d")
	b := open(t, h, f)
	const n = 60
	want := map[string]bool{}
	for i := range n {
		want[add(t, b, NewMessage(f, contact(i))).ID] = true
	}
	var (
		mu   sync.Mutex
		sent = map[string]int{}
		wg   sync.WaitGroup
	)
	for _, modem := range f.Modems() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := b.Queue.Claim(ctx, f.Request(modem))
				if err != nil {
					t.Errorf("Claim: %v", err)
					return
				}
				if c == nil {
					return
				}
				if err := b.Queue.Submitting(ctx, c, 1); err != nil {
					t.Errorf("Submitting: %v", err)
					return
				}
				if _, err := b.Queue.Submitted(ctx, c, 1, 7, f.Now()); err != nil {
					t.Errorf("Submitted: %v", err)
					return
				}
				mu.Lock()
				sent[c.Message.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for id := range want {
		if sent[id] != 1 {
			t.Errorf("message %s sent %d times", id, sent[id])
		}
		if m := status(t, b, id); m.Status != gateway.StatusSent {
			t.Errorf("message %s is %s", id, m.Status)
		}
	}
	if len(sent) != n {
		t.Errorf("%d messages sent, want %d", len(sent), n)
	}
	if st, err := b.Queue.Stats(ctx); err != nil || st.Messages != 0 {
		t.Errorf("Stats = %+v, %v; want nothing waiting", st, err)
	}
}

// Higher priority first, then the oldest.
func testOrder(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	var ids []string
	for i, prio := range []int{0, 0, 5, 5, -1} {
		m := NewMessage(f, contact(i))
		m.Priority = prio
		ids = append(ids, add(t, b, m).ID)
	}
	for _, i := range []int{2, 3, 0, 1, 4} {
		send(t, b, f, mustClaim(t, b, f.Request("a"), ids[i]))
	}
	none(t, b, f.Request("a"))

	// The modem's own contacts do not jump the queue: age decides among
	// equal priorities whether the contact is bound or new.
	bind(t, b, f, contact(9), "a")
	older := add(t, b, NewMessage(f, contact(8)))
	own := add(t, b, NewMessage(f, contact(9)))
	send(t, b, f, mustClaim(t, b, f.Request("a"), older.ID))
	send(t, b, f, mustClaim(t, b, f.Request("a"), own.ID))
}

// A contact bound to a SIM is texted by that SIM only, without counting as
// a new contact (and so without new-contact budget).
func testSticky(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	bind(t, b, f, contact(1), "a")
	m := add(t, b, NewMessage(f, contact(1)))
	none(t, b, f.Request("b"))
	r := f.Request("a")
	r.NewContacts = false
	c := mustClaim(t, b, r, m.ID)
	if c.NewContact || c.MovedFrom != "" {
		t.Errorf("claim of a bound contact: NewContact %v, MovedFrom %q", c.NewContact, c.MovedFrom)
	}
	send(t, b, f, c)
	if s := sticky(t, b, contact(1)); s.Modem != "a" || len(s.Moves) != 0 {
		t.Errorf("sticky = %+v, want a with no moves", s)
	}
}

// Claiming a new contact binds it at once: a second message to it waits for
// that SIM (and is not new to it); the first part submitted makes the
// binding durable.
func testProvisional(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	m1 := add(t, b, NewMessage(f, contact(1)))
	m2 := add(t, b, NewMessage(f, contact(1)))
	c1 := mustClaim(t, b, f.Request("a"), m1.ID)
	if !c1.NewContact {
		t.Error("first claim of an unbound contact: NewContact false")
	}
	none(t, b, f.Request("b"))
	c2 := mustClaim(t, b, f.Request("a"), m2.ID)
	if c2.NewContact {
		t.Error("second message to a contact the SIM just took: NewContact true")
	}
	send(t, b, f, c1)
	send(t, b, f, c2)
	if s := sticky(t, b, contact(1)); s.Modem != "a" || len(s.Moves) != 0 {
		t.Errorf("sticky = %+v, want a with no moves", s)
	}
}

// A claim released before anything went out leaves the contact unbound.
func testReleaseUndo(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	m := add(t, b, NewMessage(f, contact(1)))
	c := mustClaim(t, b, f.Request("a"), m.ID)
	if err := b.Queue.Release(ctx, c, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := status(t, b, m.ID); got.Parts[0].State != gateway.PartQueued {
		t.Errorf("released part is %s", got.Parts[0].State)
	}
	if _, err := b.Store.Sticky(ctx, contact(1)); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Sticky after release: %v, want ErrNotFound", err)
	}
	c = mustClaim(t, b, f.Request("b"), m.ID)
	if !c.NewContact {
		t.Error("claim after release: NewContact false")
	}
	send(t, b, f, c)
	if s := sticky(t, b, contact(1)); s.Modem != "b" || len(s.Moves) != 0 {
		t.Errorf("sticky = %+v, want b with no moves", s)
	}
}

// A modem without new-contact budget, or draining, takes no new contact.
func testBudget(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m := add(t, b, NewMessage(f, contact(1)))
	r := f.Request("a")
	r.NewContacts = false
	none(t, b, r)
	r = f.Request("a")
	r.Draining = true
	none(t, b, r)
	mustClaim(t, b, f.Request("a"), m.ID)
}

// A message with more pending parts than the modem may still send today
// is skipped.
func testPartsLeft(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m := add(t, b, NewMultipart(f, contact(1), 3))
	r := f.Request("a")
	r.PartsLeft = 2
	none(t, b, r)
	r.PartsLeft = 3
	mustClaim(t, b, r, m.ID)
}

// From naming a modem: only that modem sends it, even draining (but a new
// contact still needs budget); a contact bound elsewhere stays bound there.
func testFromModem(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	m1 := NewMessage(f, contact(1))
	m1.From = "b"
	add(t, b, m1)
	bind(t, b, f, contact(2), "a")
	m2 := NewMessage(f, contact(2))
	m2.From = "b"
	add(t, b, m2)

	none(t, b, f.Request("a"))
	r := f.Request("b")
	r.NewContacts = false
	if c := claim(t, b, r); c != nil && c.Message.ID == m1.ID {
		t.Fatalf("b without new-contact budget claimed a new contact (%s)", m1.ID)
	} else if c != nil {
		if err := b.Queue.Release(ctx, c, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	r = f.Request("b")
	r.Draining = true
	c1 := mustClaim(t, b, r, m1.ID)
	if !c1.NewContact {
		t.Error("From b, new contact: NewContact false")
	}
	send(t, b, f, c1)
	if s := sticky(t, b, contact(1)); s.Modem != "b" {
		t.Errorf("sticky of the new contact = %+v, want b", s)
	}
	c2 := mustClaim(t, b, f.Request("b"), m2.ID)
	if !c2.NewContact {
		t.Error("From b, contact bound to a: NewContact false")
	}
	send(t, b, f, c2)
	if s := sticky(t, b, contact(2)); s.Modem != "a" {
		t.Errorf("sticky of a's contact texted From b = %+v, want a (kept)", s)
	}
	none(t, b, f.Request("a"))
}

// From naming a group: only its members send it; a contact bound to a
// member goes through that member.
func testFromGroup(t *testing.T, h Harness) {
	f := NewFleet("a:g", "b:g", "c")
	b := open(t, h, f)
	m1 := NewMessage(f, contact(1))
	m1.From = "g"
	add(t, b, m1)
	bind(t, b, f, contact(2), "b")
	m2 := NewMessage(f, contact(2))
	m2.From = "g"
	add(t, b, m2)

	none(t, b, f.Request("c"))
	c1 := mustClaim(t, b, f.Request("a"), m1.ID)
	if !c1.NewContact {
		t.Error("From g, unbound contact: NewContact false")
	}
	none(t, b, f.Request("a")) // m2 is b's
	send(t, b, f, c1)
	if s := sticky(t, b, contact(1)); s.Modem != "a" {
		t.Errorf("sticky = %+v, want a", s)
	}
	c2 := mustClaim(t, b, f.Request("b"), m2.ID)
	if c2.NewContact {
		t.Error("From g, contact bound to member b: NewContact true")
	}
	send(t, b, f, c2)
}

// From naming a group, the contact bound to a SIM outside it: the message
// is not stuck on that SIM — a member sends it (new to that member), and
// the contact's binding stays.
func testFromGroupSticky(t *testing.T, h Harness) {
	f := NewFleet("a:g", "b:g", "c")
	b := open(t, h, f)
	bind(t, b, f, contact(1), "c")
	m := NewMessage(f, contact(1))
	m.From = "g"
	add(t, b, m)
	none(t, b, f.Request("c"))
	c := mustClaim(t, b, f.Request("a"), m.ID)
	if !c.NewContact || c.MovedFrom != "" {
		t.Errorf("NewContact %v, MovedFrom %q; want true, none", c.NewContact, c.MovedFrom)
	}
	send(t, b, f, c)
	if s := sticky(t, b, contact(1)); s.Modem != "c" || len(s.Moves) != 0 {
		t.Errorf("sticky = %+v, want c, unmoved", s)
	}
}

func retry(t *testing.T, b *Backend, f *Fleet, c *gateway.Claim, seq int, backoff time.Duration, avoid bool) *gateway.Message {
	t.Helper()
	if err := b.Queue.Submitting(ctx, c, seq); err != nil {
		t.Fatalf("Submitting: %v", err)
	}
	m, err := b.Queue.Retry(ctx, c, seq, gateway.Failure{Code: 500, Class: "temporary", Error: "try later"}, f.Now().Add(backoff), avoid)
	if err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if m.Parts[seq-1].State != gateway.PartQueued || m.Parts[seq-1].Attempts != 1 || m.Parts[seq-1].ErrorCode != 500 {
		t.Fatalf("retried part: %+v", m.Parts[seq-1])
	}
	return m
}

// A temporary failure with avoid: another usable SIM takes the message at
// once; the SIM that failed it does not before the backoff.
func testRetryAvoid(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	m := add(t, b, NewMessage(f, contact(1)))
	retry(t, b, f, mustClaim(t, b, f.Request("a"), m.ID), 1, time.Minute, true)
	none(t, b, f.Request("a"))
	c := mustClaim(t, b, f.Request("b"), m.ID)
	if !c.NewContact {
		t.Error("claim after the other SIM failed it: NewContact false")
	}
	send(t, b, f, c)
	if s := sticky(t, b, contact(1)); s.Modem != "b" {
		t.Errorf("sticky = %+v, want b", s)
	}
}

// With no other SIM to take it, the failing SIM sends it after the backoff.
func testRetryAvoidAlone(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m := add(t, b, NewMessage(f, contact(1)))
	retry(t, b, f, mustClaim(t, b, f.Request("a"), m.ID), 1, time.Minute, true)
	none(t, b, f.Request("a"))
	f.Advance(time.Minute + time.Second)
	send(t, b, f, mustClaim(t, b, f.Request("a"), m.ID))
}

// A contact bound to the failing SIM stays on it: the backoff holds for all.
func testRetrySticky(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	bind(t, b, f, contact(1), "a")
	m := add(t, b, NewMessage(f, contact(1)))
	retry(t, b, f, mustClaim(t, b, f.Request("a"), m.ID), 1, time.Minute, true)
	none(t, b, f.Request("b"))
	none(t, b, f.Request("a"))
	f.Advance(time.Minute + time.Second)
	none(t, b, f.Request("b"))
	send(t, b, f, mustClaim(t, b, f.Request("a"), m.ID))
}

// Once a part went out, the later ones leave through the same SIM, also
// after a retry, and a retry without avoid holds the message from all.
func testRetryPartial(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	m := add(t, b, NewMultipart(f, contact(1), 2))
	c := mustClaim(t, b, f.Request("a"), m.ID)
	if err := b.Queue.Submitting(ctx, c, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Queue.Submitted(ctx, c, 1, 1, f.Now()); err != nil {
		t.Fatal(err)
	}
	retry(t, b, f, c, 2, time.Minute, true)
	none(t, b, f.Request("b"))
	none(t, b, f.Request("a"))
	f.Advance(time.Minute + time.Second)
	none(t, b, f.Request("b"))
	c = mustClaim(t, b, f.Request("a"), m.ID)
	if c.Message.Parts[0].State != gateway.PartSubmitted || c.Message.Parts[1].State != gateway.PartAssigned {
		t.Fatalf("parts after the claim: %s, %s", c.Message.Parts[0].State, c.Message.Parts[1].State)
	}
	if got := send(t, b, f, c); got.Status != gateway.StatusSent {
		t.Errorf("status %s", got.Status)
	}

	// Without avoid, nobody takes it before the backoff.
	m2 := add(t, b, NewMessage(f, contact(2)))
	retry(t, b, f, mustClaim(t, b, f.Request("b"), m2.ID), 1, time.Minute, false)
	none(t, b, f.Request("a"))
	none(t, b, f.Request("b"))
	f.Advance(time.Minute + time.Second)
	send(t, b, f, mustClaim(t, b, f.Request("a"), m2.ID))
}

// Released with a notBefore, a message waits until then.
func testReleaseNotBefore(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m := add(t, b, NewMessage(f, contact(1)))
	c := mustClaim(t, b, f.Request("a"), m.ID)
	if err := b.Queue.Release(ctx, c, f.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	none(t, b, f.Request("a"))
	f.Advance(time.Minute + time.Second)
	send(t, b, f, mustClaim(t, b, f.Request("a"), m.ID))
}

// SendAt in the future: not claimed before it.
func testSendAt(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m := NewMessage(f, contact(1))
	m.SendAt = f.Now().Add(time.Minute)
	add(t, b, m)
	none(t, b, f.Request("a"))
	f.Advance(time.Minute)
	send(t, b, f, mustClaim(t, b, f.Request("a"), m.ID))
}

// A message whose texting window is closed is not claimed until it opens.
func testWindow(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m := NewMessage(f, contact(1))
	// T0 is 15:00 UTC.
	m.TextingWindow = &gateway.TextingWindow{Start: "16:00", End: "17:00", TimeZone: "UTC"}
	add(t, b, m)
	none(t, b, f.Request("a"))
	f.Advance(30 * time.Minute)
	none(t, b, f.Request("a"))
	f.Advance(30*time.Minute + time.Second)
	send(t, b, f, mustClaim(t, b, f.Request("a"), m.ID))
}

// A gone SIM's contacts move: another SIM takes them as new contacts and
// the move is recorded on the binding; messages whose From names the gone
// SIM wait for it.
func testRebind(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	bind(t, b, f, contact(1), "a")
	m1 := add(t, b, NewMessage(f, contact(1)))
	m2 := NewMessage(f, contact(2))
	m2.From = "a"
	add(t, b, m2)
	none(t, b, f.Request("b"))

	f.SetGone("a", true)
	n, err := b.Queue.Rebind(ctx, "a", "modem gone")
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("Rebind unbound %d messages, want 1", n)
	}
	c := mustClaim(t, b, f.Request("b"), m1.ID)
	if !c.NewContact || c.MovedFrom != "a" {
		t.Errorf("claim of a gone SIM's contact: NewContact %v, MovedFrom %q", c.NewContact, c.MovedFrom)
	}
	send(t, b, f, c)
	s := sticky(t, b, contact(1))
	if s.Modem != "b" || len(s.Moves) == 0 || s.Moves[len(s.Moves)-1].From != "a" || s.Moves[len(s.Moves)-1].To != "b" {
		t.Errorf("sticky after the move = %+v, want b with a move from a", s)
	}
	none(t, b, f.Request("b"))

	f.SetGone("a", false)
	send(t, b, f, mustClaim(t, b, f.Request("a"), m2.ID))
}

// A half-sent message stays with its SIM when the SIM is gone / rebound
// (also after a restart): its other parts going out from another SIM, under
// the same concatenation reference, could never be reassembled. It goes
// out when the SIM is back; past its validity, its unsent parts expire and
// the submitted ones keep their state.
func testRebindPartial(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	half := func(m *gateway.Message) {
		t.Helper()
		add(t, b, m)
		c := mustClaim(t, b, f.Request("a"), m.ID)
		if err := b.Queue.Submitting(ctx, c, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Queue.Submitted(ctx, c, 1, 1, f.Now()); err != nil {
			t.Fatal(err)
		}
		retry(t, b, f, c, 2, time.Second, false)
	}
	m1 := NewMultipart(f, contact(1), 2)
	half(m1)
	m2 := NewMultipart(f, contact(2), 2)
	m2.ExpiresAt = f.Now().Add(time.Hour)
	half(m2)
	f.Advance(2 * time.Second)

	f.SetGone("a", true)
	rebind := func() {
		t.Helper()
		if n, err := b.Queue.Rebind(ctx, "a", "modem gone"); err != nil || n != 0 {
			t.Errorf("Rebind moved %d half-sent messages (err %v), want 0", n, err)
		}
		none(t, b, f.Request("b"))
	}
	rebind()
	b = h.Restart(t, f, b)
	if _, err := b.Queue.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	rebind()

	f.SetGone("a", false)
	c := mustClaim(t, b, f.Request("a"), m1.ID)
	if got := send(t, b, f, c); got.Status != gateway.StatusSent {
		t.Errorf("half-sent message after its SIM came back: %s", got.Status)
	}

	f.SetGone("a", true)
	f.Advance(2 * time.Hour)
	rebind()
	out, err := b.Queue.Expire(ctx, f.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].ID != m2.ID {
		t.Fatalf("Expire = %v, want %s", out, m2.ID)
	}
	got := status(t, b, m2.ID)
	if got.Parts[0].State != gateway.PartSubmitted || got.Parts[1].State != gateway.PartExpired {
		t.Errorf("expired half-sent message: parts %s, %s, want submitted, expired", got.Parts[0].State, got.Parts[1].State)
	}
	f.SetGone("a", false)
	none(t, b, f.Request("a"))
	none(t, b, f.Request("b"))
}

// Cancel takes a claimed message from its claim (ErrClaimLost at the next
// transition), refuses one being submitted, and says ErrNotFound for none.
func testCancel(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m1 := add(t, b, NewMessage(f, contact(1)))
	m2 := add(t, b, NewMessage(f, contact(2)))
	c1 := mustClaim(t, b, f.Request("a"), m1.ID)
	got, err := b.Queue.Cancel(ctx, m1.ID)
	if err != nil || got.Status != gateway.StatusCancelled {
		t.Fatalf("Cancel claimed: %v, %v", got, err)
	}
	if err := b.Queue.Submitting(ctx, c1, 1); !errors.Is(err, gateway.ErrClaimLost) {
		t.Errorf("Submitting after Cancel: %v, want ErrClaimLost", err)
	}
	c2 := mustClaim(t, b, f.Request("a"), m2.ID)
	if err := b.Queue.Submitting(ctx, c2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Queue.Cancel(ctx, m2.ID); !errors.Is(err, gateway.ErrNotCancellable) {
		t.Errorf("Cancel submitting: %v, want ErrNotCancellable", err)
	}
	if _, err := b.Queue.Submitted(ctx, c2, 1, 1, f.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Queue.Cancel(ctx, "01JZZZZZZZZZZZZZZZZZZZZZZZ"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Cancel of no message: %v, want ErrNotFound", err)
	}
	none(t, b, f.Request("a"))
	if m := status(t, b, m1.ID); m.Status != gateway.StatusCancelled {
		t.Errorf("cancelled message is %s", m.Status)
	}
}

// A waiting message past its validity is never claimed; Expire records it.
func testExpire(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m := NewMessage(f, contact(1))
	m.ExpiresAt = f.Now().Add(time.Minute)
	add(t, b, m)
	keep := add(t, b, NewMessage(f, contact(2)))
	f.Advance(2 * time.Minute)
	c := mustClaim(t, b, f.Request("a"), keep.ID)
	send(t, b, f, c)
	none(t, b, f.Request("a"))
	out, err := b.Queue.Expire(ctx, f.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].ID != m.ID || out[0].Status != gateway.StatusExpired {
		t.Fatalf("Expire = %v, want %s expired", out, m.ID)
	}
	if got := status(t, b, m.ID); got.Status != gateway.StatusExpired {
		t.Errorf("stored status %s", got.Status)
	}
	if out, err := b.Queue.Expire(ctx, f.Now()); err != nil || len(out) != 0 {
		t.Errorf("second Expire = %v, %v", out, err)
	}
}

// After a crash, Recover makes the parts left submitting unknown (queued
// when the message asked for at-least-once) and those left assigned queued.
func testRecover(t *testing.T, h Harness) {
	f := NewFleet("a")
	b := open(t, h, f)
	m1 := add(t, b, NewMessage(f, contact(1)))
	m2 := add(t, b, NewMessage(f, contact(2)))
	m3 := NewMessage(f, contact(3))
	m3.AtLeastOnce = true
	add(t, b, m3)
	mustClaim(t, b, f.Request("a"), m1.ID)
	c2 := mustClaim(t, b, f.Request("a"), m2.ID)
	if err := b.Queue.Submitting(ctx, c2, 1); err != nil {
		t.Fatal(err)
	}
	c3 := mustClaim(t, b, f.Request("a"), m3.ID)
	if err := b.Queue.Submitting(ctx, c3, 1); err != nil {
		t.Fatal(err)
	}

	b = h.Restart(t, f, b)
	unknown, err := b.Queue.Recover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(unknown) != 1 || unknown[0].ID != m2.ID || unknown[0].Status != gateway.StatusUnknown {
		t.Fatalf("Recover = %v, want %s unknown", unknown, m2.ID)
	}
	if got := status(t, b, m2.ID); got.Status != gateway.StatusUnknown || got.Parts[0].State != gateway.PartUnknown {
		t.Errorf("m2 after recovery: %s, part %s", got.Status, got.Parts[0].State)
	}
	send(t, b, f, mustClaim(t, b, f.Request("a"), m1.ID))
	c := mustClaim(t, b, f.Request("a"), m3.ID)
	if c.Message.Parts[0].Attempts != 1 {
		t.Errorf("at-least-once part resent with Attempts %d, want 1 so far", c.Message.Parts[0].Attempts)
	}
	send(t, b, f, c)
	none(t, b, f.Request("a"))
}

// Stats counts the waiting messages, the oldest, and the parts bound to
// each modem.
func testStats(t *testing.T, h Harness) {
	f := NewFleet("a", "b")
	b := open(t, h, f)
	bind(t, b, f, contact(1), "a")
	m1 := add(t, b, NewMultipart(f, contact(1), 2))
	m2 := add(t, b, NewMessage(f, contact(2)))
	add(t, b, NewMessage(f, contact(3)))
	st, err := b.Queue.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 3 || !st.Oldest.Equal(m1.CreatedAt) || st.PartsFor["a"] != 2 || st.PartsFor["b"] != 0 {
		t.Errorf("Stats = %+v; want 3 waiting, oldest %s, 2 parts for a", st, m1.CreatedAt)
	}
	send(t, b, f, mustClaim(t, b, f.Request("a"), m1.ID))
	c := mustClaim(t, b, f.Request("b"), m2.ID)
	st, err = b.Queue.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Messages != 1 || st.PartsFor["a"] != 0 {
		t.Errorf("Stats = %+v; want 1 waiting (one sent, one claimed), none for a", st)
	}
	send(t, b, f, c)
}
