package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzPostMessage feeds arbitrary bodies to the POST /v1/messages decoder:
// it never panics, every refusal classifies as a 400 or 422 problem (never a
// 500), and an accepted body yields a request with a recipient and a body
// and a stable 64-hex-digit request hash.
func FuzzPostMessage(f *testing.F) {
	for _, s := range []string{
		`{"to":"+15551234567","body":"hi"}`,
		`{"to":"(555) 123-4567","body":"héllo 👋","from":"sim1","agent":"a","send_at":"2026-01-02T15:04:05Z","validity":"90m","priority":3,"metadata":{"k":"v"},"callback_url":"https://x.example/cb","at_least_once":true,"status_report":false}`,
		`{"to":"+15551234567","body":"x","validity":3600}`,
		`{"to":"+15551234567","body":"x","validity":1.5}`,
		`{"to":"+15551234567","body":"x"}{}`,
		`{"to":[[[[]]]]}`,
		`null`, `[]`, ``, `{"to":1}`, `{"a":1}`, "{\"to\":\"\xff\"}",
		`{"TO":"+15551234567","body":"x"}`, `{"to":"+15551234567","body":"x","body":"y"}`,
		`{"to":"+15551234567","body":"x","metadata":{"a":"1","a":"2"}}`, `{"to":"+1","b\u006fdy":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, hash, err := DecodeSendRequest(b)
		if err != nil {
			p, internal := problemFor(err)
			if internal || (p.Status != 400 && p.Status != 422) {
				t.Fatalf("%q: refused as %d %s (internal %v): %v", b, p.Status, p.Type, internal, err)
			}
			var ae *apiError
			if p.Status == 422 && len(p.Errors) == 0 && !errors.As(err, &ae) {
				t.Fatalf("%q: validation problem names no field", b)
			}
			return
		}
		if req.To == "" || req.Body == "" {
			t.Fatalf("%q accepted without to or body: %+v", b, req)
		}
		if raw, herr := hex.DecodeString(hash); herr != nil || len(raw) != 32 {
			t.Fatalf("hash %q", hash)
		}
		_, again, err := DecodeSendRequest(b)
		if err != nil || again != hash {
			t.Fatalf("%q: second decode %q, %v; first %q", b, again, err, hash)
		}
	})
}

// FuzzDecodeStrict checks the strict decoder against encoding/json: it never
// panics and refuses only with a 400; what it accepts encoding/json decodes
// to the same value, and every top-level member name it accepted is
// exactly a field's name, once (a map decode keeps one entry per distinct
// name, so the member count must match).
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{
		`{"to":"+15551234567","body":"hi","metadata":{"k":"v"}}`,
		`{"To":"x"}`, `{"to":"a","to":"b"}`, `{"metadata":{"k":"a","k":"b"}}`,
		`{"t\u006f":"a"}`, `{"to":"a"} `, `{"to":"a"}x`, `{"metadata":{"a":[[[]]]}}`,
		`{"to":"\ud800"}`, `{"":1}`, `{"to":"a",}`, `{"priority":1e400}`,
	} {
		f.Add([]byte(s))
	}
	fields := fieldNames(reflect.TypeOf(&sendBody{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got sendBody
		err := decodeStrict(b, &got)
		if err != nil {
			p, internal := problemFor(err)
			if internal || p.Status != 400 {
				t.Fatalf("%q: refused as %d (internal %v): %v", b, p.Status, internal, err)
			}
			return
		}
		var want sendBody
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%q: accepted, but encoding/json refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decoded %+v, encoding/json %+v", b, got, want)
		}
		var members map[string]json.RawMessage
		if err := json.Unmarshal(b, &members); err != nil {
			t.Fatal(err)
		}
		for name := range members {
			if !fields[name] {
				t.Fatalf("%q: accepted member %q, not a field name", b, name)
			}
		}
		if n := countMembers(t, b); n != len(members) {
			t.Fatalf("%q: accepted %d members with %d distinct names", b, n, len(members))
		}
	})
}

// countMembers counts the top-level members of the JSON object b.
func countMembers(t *testing.T, b []byte) int {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}
