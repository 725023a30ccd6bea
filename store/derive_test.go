package store

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// intakeMsg is an outbound message as gateway.intake makes it: the PDUs
// encoded once with the concatenation reference ref.
func intakeMsg(t testing.TB, contact, body string, srr bool, ref int) *gateway.Message {
	t.Helper()
	enc, err := gateway.EncodeSubmit(contact, body, srr, ref)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 3, 14, 0, 0, 123456789, time.UTC)
	m := &gateway.Message{ID: gateway.NewID(now), Direction: gateway.Outbound, Contact: contact, ContactRaw: contact,
		Body: body, Agent: "a1", Encoding: enc.Encoding, Segments: len(enc.PDUs), StatusReport: srr,
		Status: gateway.StatusQueued, CreatedAt: now, UpdatedAt: now}
	for i, p := range enc.PDUs {
		m.Parts = append(m.Parts, gateway.Part{Seq: i + 1, PDU: p, State: gateway.PartQueued, MR: -1, ReportStatus: -1, UpdatedAt: now})
	}
	return m
}

var (
	bodyLongGSM7 = strings.Repeat("Polls open 7-8 {ID} [€] ", 8)  // extension characters, 2 parts
	bodyLongUCS2 = strings.Repeat("Vote early 🗳️ bring ID 🪪 ", 4) // surrogate pairs, 2 parts
	bodyShort    = "Hi Sam, can you make it to the food bank on Saturday at 10? Reply YES"
)

// TestDerivedPDUsStable pins gateway.EncodeSubmit's output: records store
// no PDU that EncodeSubmit makes again, so if a change of the SMS library
// changed these bytes, stored messages would be sent (or resent, with a
// part already out) differently from what was accepted. If this fails,
// stored records need their PDUs written out before the change lands.
func TestDerivedPDUsStable(t *testing.T) {
	for _, c := range []struct {
		body string
		srr  bool
		ref  int
		want []string
	}{
		{bodyShort, true, 7, []string{
			"21000b912120550521f3000045c834681a6eb340e3b01b947fd741edf0ba0c4ad341f437888e2e83ccef3719240ebbd7a0b71b340dd3eb7272380f0ad34131d80f242dc3d97950b63805"}},
		{bodyLongGSM7, false, 77, []string{
			"41000b912120550521f30000a00500034d0201a06f367b0e7ac3cb6ed0ad85036d5049e22605daf036e58d0f047db3d973d01b5e76836e2d1c68834a123729d086b7296f7c20e89bcd9e83def0b21b746be1401b5492b8498136bc4d79e30341df6cf61cf48697dda05b0b07daa092c44d0ab4e16dca1b1f08fa66b3e7a037bcec06dd5a38d00695246e52a00d6f53def840d0379b3d07bde1",
			"41000b912120550521f30000560500034d0202ca6ed0ad85036d5049e22605daf036e58d0f047db3d973d01b5e76836e2d1c68834a123729d086b7296f7c20e89bcd9e83def0b21b746be1401b5492b8498136bc4d79e30301"}},
		{bodyLongUCS2, true, 255, []string{
			"61000b912120550521f300088c050003ff02010056006f007400650020006500610072006c00790020d83dddf3fe0f0020006200720069006e00670020004900440020d83edeaa00200056006f007400650020006500610072006c00790020d83dddf3fe0f0020006200720069006e00670020004900440020d83edeaa00200056006f007400650020006500610072006c00790020d83dddf3",
			"61000b912120550521f3000858050003ff0202fe0f0020006200720069006e00670020004900440020d83edeaa00200056006f007400650020006500610072006c00790020d83dddf3fe0f0020006200720069006e00670020004900440020d83edeaa0020"}},
	} {
		enc, err := gateway.EncodeSubmit("+12025550123", c.body, c.srr, c.ref)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range enc.PDUs {
			got = append(got, hex.EncodeToString(p))
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("EncodeSubmit(%q, ref %d) changed:\n got %v\nwant %v", c.body, c.ref, got, c.want)
		}
	}
}

// TestDerivedPDUsRoundTrip: the PDUs of a message as the gateway makes it
// are not in its record, and read back byte for byte (single part, GSM-7
// with the extension table over two parts, UCS-2 with surrogate pairs),
// whatever state the parts are in.
func TestDerivedPDUsRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name string
		m    *gateway.Message
	}{
		{"single", intakeMsg(t, "+12025550123", bodyShort, true, 7)},
		{"single no srr", intakeMsg(t, "+12025550123", bodyShort, false, 200)},
		{"gsm7 multipart", intakeMsg(t, "+447700900123", bodyLongGSM7, true, 77)},
		{"ucs2 multipart ref 1", intakeMsg(t, "+12025550123", bodyLongUCS2, false, 1)},
		{"ucs2 multipart ref 255", intakeMsg(t, "+12025550123", bodyLongUCS2, true, 255)},
		{"ten parts", intakeMsg(t, "+12025550123", strings.Repeat("x", 1530), true, 128)},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := c.m
			if len(m.Parts) > 1 {
				// One part out, one failed and waiting for its retry.
				m.Status, m.Modem = gateway.StatusSending, "m1"
				p := &m.Parts[0]
				p.State, p.Modem, p.MR, p.SubmittedAt = gateway.PartSubmitted, "m1", 17, m.CreatedAt.Add(time.Second)
				m.Parts[1].State, m.Parts[1].Attempts = gateway.PartQueued, 1
			}
			raw, err := encodeMessage(m)
			if err != nil {
				t.Fatal(err)
			}
			for i, p := range m.Parts {
				if bytes.Contains(raw, p.PDU[len(p.PDU)-20:]) {
					t.Errorf("part %d: PDU stored in the record", i+1)
				}
			}
			got, err := decodeMessage(m.ID, raw)
			if err != nil {
				t.Fatal(err)
			}
			if want := viaJSON(t, m); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestDerivedPDUsNotDerivable: a PDU that EncodeSubmit does not make again
// from the message is stored as it is, the others of the message still
// derived; so are the PDUs of a message without contact or body.
func TestDerivedPDUsNotDerivable(t *testing.T) {
	other := intakeMsg(t, "+12025550123", bodyLongGSM7, true, 78)
	odd := intakeMsg(t, "+12025550123", bodyLongGSM7, true, 77)
	odd.Parts[1].PDU = other.Parts[1].PDU // another reference: stored
	noRef := intakeMsg(t, "+12025550123", bodyLongGSM7, true, 77)
	noRef.Parts[0].PDU = nil // no reference to derive with
	changed := intakeMsg(t, "+12025550123", bodyShort, true, 7)
	changed.Body += "!" // the PDU is not the body's
	noContact := intakeMsg(t, "+12025550123", bodyShort, true, 7)
	noContact.Contact = ""
	inbound := newMsg(1) // arbitrary bytes
	for _, m := range []*gateway.Message{odd, noRef, changed, noContact, inbound} {
		raw, err := encodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeMessage(m.ID, raw)
		if err != nil {
			t.Fatal(err)
		}
		if want := viaJSON(t, m); !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
	}
	if _, derived := derivedPDUs(odd); !reflect.DeepEqual(derived, []bool{true, false}) {
		t.Errorf("odd message: derived %v, want [true false]", derived)
	}
	for _, m := range []*gateway.Message{noRef, changed, noContact, inbound} {
		if _, derived := derivedPDUs(m); derived != nil {
			t.Errorf("message %q: derived %v, want none", m.Body, derived)
		}
	}
}

// TestDerivedPDUsRetrySameRef: a long message with a part already
// submitted is stored, updated as the worker does, and read back after a
// restart: every part, the one to resend included, has the PDU accepted,
// with the same concatenation reference, so the recipient's handset
// reassembles the parts sent before and after.
func TestDerivedPDUsRetrySameRef(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	db := openTest(t, path)
	m := intakeMsg(t, "+12025550123", strings.Repeat("Vote early 🗳️ bring ID 🪪 ", 9), true, 200)
	if len(m.Parts) < 3 {
		t.Fatalf("%d parts", len(m.Parts))
	}
	want := make([][]byte, len(m.Parts))
	for i, p := range m.Parts {
		want[i] = bytes.Clone(p.PDU)
	}
	if err := db.CreateMessage(ctx, m); err != nil {
		t.Fatal(err)
	}
	at := m.CreatedAt.Add(time.Second)
	if _, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error {
		m.Status, m.Modem = gateway.StatusSending, "m1"
		m.Parts[0].State, m.Parts[0].Modem, m.Parts[0].MR, m.Parts[0].SubmittedAt = gateway.PartSubmitted, "m1", 42, at
		m.Parts[1].State, m.Parts[1].Modem, m.Parts[1].Attempts = gateway.PartSubmitting, "m1", 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The modem refused part 2: back in the queue for its retry.
	if _, err := db.UpdateMessage(ctx, m.ID, func(m *gateway.Message) error {
		m.Parts[1].State, m.Parts[1].Error = gateway.PartQueued, "CMS ERROR 38"
		m.NextAttemptAt = at.Add(time.Minute)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openTest(t, path)
	got, err := db.GetMessage(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range got.Parts {
		if !bytes.Equal(p.PDU, want[i]) {
			t.Errorf("part %d: PDU %x, accepted %x", i+1, p.PDU, want[i])
		}
		if ref := gateway.ConcatRef(p.PDU); ref != 200 {
			t.Errorf("part %d: concatenation reference %d, want 200", i+1, ref)
		}
	}
	if got.Parts[0].MR != 42 || got.Parts[1].State != gateway.PartQueued || got.Parts[1].Attempts != 1 {
		t.Errorf("parts after the updates: %+v", got.Parts[:2])
	}
	var stored int
	if err := db.view(func(tx *bbolt.Tx) error { stored = len(tx.Bucket(bMessages).Get(messageKey(m.ID))); return nil }); err != nil {
		t.Fatal(err)
	}
	if total := len(bytes.Join(want, nil)); stored >= total {
		t.Errorf("record of %d bytes for %d bytes of PDUs: not derived", stored, total)
	}
}

// TestDerivedPDUsCorrupt: a record whose reference cannot be one is
// refused, not read with other PDUs.
func TestDerivedPDUsCorrupt(t *testing.T) {
	m := intakeMsg(t, "+12025550123", bodyLongGSM7, true, 77)
	raw, err := encodeMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	if raw[len(raw)-1] != 77 {
		t.Fatalf("record ends with %#x, want the reference 77", raw[len(raw)-1])
	}
	bad := append(bytes.Clone(raw[:len(raw)-1]), 0x80, 0x02) // reference 256
	if _, err := decodeMessage(m.ID, bad); err == nil {
		t.Error("reference 256 read")
	}
}
