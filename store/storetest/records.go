package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// recordMessages are messages that exercise every field of the stored
// record and its edges: every status and part state, a long multipart
// body, non-ASCII text, metadata, several modems, fields left at their
// zero values. Times have microsecond precision (what every backend keeps).
func recordMessages() []*gateway.Message {
	at := T0.Add(1234567 * time.Microsecond)
	var out []*gateway.Message
	id := func(i int) string {
		return ulid.MustNew(ulid.Timestamp(at.Add(time.Duration(i)*time.Second)), ulid.DefaultEntropy()).String()
	}
	states := []gateway.PartState{gateway.PartQueued, gateway.PartAssigned, gateway.PartSubmitting, gateway.PartSubmitted,
		gateway.PartDelivered, gateway.PartFailed, gateway.PartUnknown, gateway.PartCancelled, gateway.PartExpired, gateway.PartUnconfirmed}
	for i, st := range gateway.Statuses() {
		m := &gateway.Message{
			ID: id(i), Direction: gateway.Outbound, Contact: fmt.Sprintf("+1202555%04d", i), ContactRaw: fmt.Sprintf("(202) 555-%04d", i),
			Body: "status " + string(st), Agent: "agent", Encoding: gateway.EncodingGSM7, Segments: 1, Status: st,
			APIKeyID: "key_0123456789ab", RequestHash: strings.Repeat("a1", 32),
			CreatedAt: at.Add(time.Duration(i) * time.Second), UpdatedAt: at.Add(time.Duration(i)*time.Second + time.Minute),
		}
		if st == gateway.StatusReceived {
			m.Direction, m.Modem, m.SentAt = gateway.Inbound, "m1", at.Add(-time.Hour)
		} else {
			p := gateway.Part{Seq: 1, PDU: []byte{0x01, 0x00, byte(i)}, State: states[i%len(states)], MR: -1, ReportStatus: -1, UpdatedAt: m.UpdatedAt}
			if st != gateway.StatusQueued {
				m.Modem = "m1"
				p.Modem, p.MR, p.Attempts, p.SubmittedAt = "m1", i, 1, m.CreatedAt.Add(time.Second)
			}
			m.Parts = []gateway.Part{p}
		}
		out = append(out, m)
	}
	long := &gateway.Message{
		ID: id(20), Direction: gateway.Outbound, Contact: "+12025550100", Modem: "m2", From: "pool-a",
		Body: strings.Repeat("Grüße 👋 你好 — ", 40), Agent: "ünïcode agent", Encoding: gateway.EncodingUCS2, Segments: 10, Priority: -2,
		SendAt: at.Add(time.Hour), ExpiresAt: at.Add(48 * time.Hour),
		TextingWindow: &gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "America/New_York"},
		Metadata:      map[string]string{"campaign": "gotv-2026", "ключ": "значение", "empty": ""},
		CallbackURL:   "https://example.com/cb?x=1", AtLeastOnce: true, OptOutReply: true, StatusReport: true,
		Status: gateway.StatusSending, ErrorCode: 21, Error: "a retry failed", IdempotencyKey: "agent/k-long",
		RequestHash: "not-hex", APIKeyID: "key_ffffffffffff",
		CreatedAt: at.Add(20 * time.Second), UpdatedAt: at.Add(time.Hour), NextAttemptAt: at.Add(2 * time.Hour),
	}
	for j := range 10 {
		pdu := make([]byte, 140+j)
		for k := range pdu {
			pdu[k] = byte(j*31 + k)
		}
		p := gateway.Part{Seq: j + 1, PDU: pdu, State: states[j], MR: -1, ReportStatus: -1, UpdatedAt: at.Add(time.Duration(j) * time.Minute)}
		if j > 0 {
			p.Modem, p.MR, p.Attempts, p.ReportStatus = []string{"m2", "m3"}[j%2], 250+j, j, j%2*64
			p.ErrorCode, p.ErrorClass, p.Error = 300+j, "transient", "error "+fmt.Sprint(j)
			p.SubmittedAt, p.DeliveredAt = at.Add(time.Duration(j)*time.Second), at.Add(time.Duration(j)*time.Hour)
		}
		long.Parts = append(long.Parts, p)
	}
	bare := &gateway.Message{ID: id(21), Direction: gateway.Outbound, Contact: "+12025550101", Body: "x", Status: gateway.StatusQueued,
		CreatedAt: at.Add(21 * time.Second), UpdatedAt: at.Add(21 * time.Second)}
	return append(out, long, bare)
}

// sameRecord fails t unless got is want field for field (times compared as
// instants).
func sameRecord(t *testing.T, when string, got, want *gateway.Message) {
	t.Helper()
	norm := func(m *gateway.Message) string {
		c := m.Clone()
		for _, tm := range []*time.Time{&c.SendAt, &c.ExpiresAt, &c.CreatedAt, &c.UpdatedAt, &c.NextAttemptAt, &c.SentAt} {
			*tm = tm.UTC()
		}
		for i := range c.Parts {
			p := &c.Parts[i]
			for _, tm := range []*time.Time{&p.UpdatedAt, &p.SubmittedAt, &p.DeliveredAt} {
				*tm = tm.UTC()
			}
		}
		b, _ := json.Marshal(c)
		return string(b)
	}
	if g, w := norm(got), norm(want); g != w {
		t.Errorf("%s: message %s differs:\n got %s\nwant %s", when, want.ID, g, w)
	}
}

// testRecordFieldsRoundTrip stores messages that use every field and reads
// them back unchanged: by id, in listings, after a reopen and after an
// update that changes little.
func testRecordFieldsRoundTrip(t *testing.T, h Harness) {
	db := h.Open(t)
	ms := recordMessages()
	for _, m := range ms {
		MustCreate(t, db, m.Clone())
	}
	check := func(db Backend, when string) {
		t.Helper()
		for _, m := range ms {
			got, err := db.GetMessage(ctx, m.ID)
			if err != nil {
				t.Fatalf("%s: GetMessage %s: %v", when, m.ID, err)
			}
			sameRecord(t, when, got, m)
		}
		page, err := db.ListMessages(ctx, gateway.MessageFilter{Ascending: true, Limit: len(ms)})
		if err != nil || len(page.Messages) != len(ms) {
			t.Fatalf("%s: ListMessages: %d messages, %v", when, len(page.Messages), err)
		}
		for i, m := range ms {
			sameRecord(t, when+" (listed)", page.Messages[i], m)
		}
	}
	check(db, "after create")
	db = h.Reopen(t, db)
	check(db, "after reopen")
	for _, m := range ms {
		upd := m.UpdatedAt.Add(time.Second)
		got, err := db.UpdateMessage(ctx, m.ID, func(c *gateway.Message) error { c.UpdatedAt = upd; return nil })
		if err != nil {
			t.Fatal(err)
		}
		m.UpdatedAt = upd
		sameRecord(t, "returned by update", got, m)
	}
	check(db, "after update")
}
