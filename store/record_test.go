package store

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// viaJSON is m as the JSON record format stores and reads it: what the
// binary format must give back too.
func viaJSON(t testing.TB, m *gateway.Message) *gateway.Message {
	t.Helper()
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMessage(m.ID, raw)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func recordCases() map[string]*gateway.Message {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	full := &gateway.Message{
		ID: "01JDQ3ZK8H0000000000000000", Direction: gateway.Outbound,
		Contact: "+12025550123", ContactRaw: "(202) 555-0123", Modem: "m1", From: "pool",
		Body: "Hi Sam 👋 — ünïcödé", Agent: "alex", Encoding: "ucs2", Segments: 2, Priority: -3,
		SendAt: at.Add(time.Hour), ExpiresAt: at.Add(48 * time.Hour),
		TextingWindow: &gateway.TextingWindow{Start: "09:00", End: "21:00", TimeZone: "America/New_York"},
		Metadata:      map[string]string{"campaign": "gotv", "": "empty key", "z": ""},
		CallbackURL:   "https://example.com/cb", AtLeastOnce: true, OptOutReply: true, StatusReport: true,
		Status: gateway.StatusFailed, ErrorCode: 500, Error: "cms error",
		Parts: []gateway.Part{
			{Seq: 1, PDU: []byte{0x31, 0, 0x0b, 0x91}, State: gateway.PartDelivered, Modem: "m1", MR: 0, Attempts: 1,
				ReportStatus: 0, UpdatedAt: at.Add(time.Minute), SubmittedAt: at.Add(time.Second), DeliveredAt: at.Add(time.Minute)},
			{Seq: 2, PDU: []byte{}, State: gateway.PartFailed, Modem: "m2", MR: 255, Attempts: 3, ErrorCode: 38,
				ErrorClass: "permanent", Error: "network", ReportStatus: 64, UpdatedAt: at.Add(-time.Hour)},
		},
		IdempotencyKey: "alex/k1", RequestHash: strings.Repeat("0f", 32), APIKeyID: "key_0123456789ab",
		CreatedAt: at, UpdatedAt: at.Add(2 * time.Minute), NextAttemptAt: at.Add(-time.Second), SentAt: at.Add(-365 * 24 * time.Hour),
	}
	long := &gateway.Message{ID: "long", Direction: gateway.Inbound, Contact: "BANK", Body: strings.Repeat("x", 70000),
		Status: gateway.StatusReceived, CreatedAt: at, UpdatedAt: at, SentAt: at.Add(-3 * time.Second)}
	odd := &gateway.Message{ID: "odd", Direction: "sideways", Status: "weird", Encoding: "8bit",
		RequestHash: "ABCDEF", // upper-case hex stays a string
		Parts:       []gateway.Part{{Seq: 7, State: "lost", MR: -5, ReportStatus: -1}, {}},
		UpdatedAt:   time.Date(1969, 7, 20, 20, 17, 0, 1, time.UTC), // CreatedAt zero: relative to nothing
	}
	old := &gateway.Message{ID: "old", CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), UpdatedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}
	return map[string]*gateway.Message{
		"every field":  full,
		"long inbound": long,
		"odd values":   odd,
		"far times":    old,
		"empty":        {ID: "e"},
		"same raw contact": {ID: "s", Contact: "+12025550123", ContactRaw: "+12025550123", Modem: "m1",
			Parts: []gateway.Part{{Seq: 1, Modem: "m1", MR: 3, ReportStatus: -1}, {Seq: 2, Modem: "m9", MR: -1, ReportStatus: -1}}},
		"bench": benchMsg(rand.New(rand.NewPCG(1, 1)), at),
	}
}

// TestRecordRoundTrip checks that format 1 gives back what the JSON
// records did, field for field.
func TestRecordRoundTrip(t *testing.T) {
	for name, m := range recordCases() {
		t.Run(name, func(t *testing.T) {
			raw, err := encodeMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			if raw[0] != formatBinary1 {
				t.Fatalf("format byte %#x", raw[0])
			}
			got, err := decodeMessage(m.ID, raw)
			if err != nil {
				t.Fatal(err)
			}
			if want := viaJSON(t, m); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
			js, _ := json.Marshal(m)
			if len(raw) >= len(js) {
				t.Errorf("record %d bytes, JSON %d", len(raw), len(js))
			}
		})
	}
}

// TestRecordCorrupt checks that every truncation of a record, and a record
// with unknown field bits, fails to decode instead of giving a wrong message.
func TestRecordCorrupt(t *testing.T) {
	raw, _ := encodeMessage(recordCases()["every field"])
	for n := 1; n < len(raw); n++ {
		if m, err := decodeMessage("x", raw[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: decoded %+v", n, len(raw), m)
		}
	}
	if _, err := decodeMessage("x", append(raw[:len(raw):len(raw)], 0)); err == nil {
		t.Error("a trailing byte decoded")
	}
	if _, err := decodeMessage("x", []byte{formatBinary1, 0x80, 0x80, 0x80, 0x80, 0x10}); err == nil {
		t.Error("unknown field bits decoded")
	}
	if _, err := decodeMessage("x", []byte{0x02}); err == nil {
		t.Error("unknown format decoded")
	}
	if _, err := decodeMessage("x", nil); err == nil {
		t.Error("empty record decoded")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range recordCases() {
		raw, _ := encodeMessage(m)
		f.Add(raw)
	}
	f.Add([]byte(`{"id":"x","body":"hi"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage("id", b)
		if err != nil || b[0] != formatBinary1 {
			return
		}
		// What decodes re-encodes to a record that decodes the same.
		raw, _ := encodeMessage(m)
		again, err := decodeMessage("id", raw)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoded record: %v\n got %+v\nwant %+v", err, again, m)
		}
	})
}

// TestJSONRecordsStillRead: a file whose messages are JSON records (as
// every binary before format 1 wrote them) lists, reads and updates them;
// an update rewrites the record in format 1.
func TestJSONRecordsStillRead(t *testing.T) {
	path := t.TempDir() + "/json.db"
	db := openTest(t, path)
	m := newMsg(1)
	if err := db.CreateMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	want := viaJSON(t, m)
	// Put the record back as JSON, as an older binary wrote it.
	raw, _ := json.Marshal(m)
	if err := db.update(ctx, func(tx *bbolt.Tx) error { return tx.Bucket(bMessages).Put(messageKey(m.ID), raw) }); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetMessage(ctx, m.ID)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("GetMessage of a JSON record = %+v, %v", got, err)
	}
	if ids := listAll(t, db, gateway.MessageFilter{Contact: m.Contact}); len(ids) != 1 || ids[0] != m.ID {
		t.Fatalf("listing a JSON record: %v", ids)
	}
	if _, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error { m.Priority = 5; return nil }); err != nil {
		t.Fatal(err)
	}
	var format byte
	if err := db.view(func(tx *bbolt.Tx) error { format = tx.Bucket(bMessages).Get(messageKey(m.ID))[0]; return nil }); err != nil {
		t.Fatal(err)
	}
	if format != formatBinary1 {
		t.Errorf("record after update has format %#x", format)
	}
	if got, _ := db.GetMessage(ctx, m.ID); got == nil || got.Priority != 5 || got.Body != m.Body {
		t.Errorf("after update: %+v", got)
	}
}
