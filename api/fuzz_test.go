package api

import (
	"encoding/hex"
	"errors"
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
