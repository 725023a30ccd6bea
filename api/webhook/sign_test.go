package webhook

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The published Standard Webhooks test vector.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesSpecVector(t *testing.T) {
	got, err := Sign(vecSecret, vecID, time.Unix(vecTS, 0), []byte(vecBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(vecTS, 0)
	hdr := func(id, ts, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		return h
	}
	tests := []struct {
		name    string
		secret  string
		h       http.Header
		body    string
		now     time.Time
		wantErr error
	}{
		{"vector", vecSecret, hdr(vecID, "1614265330", vecSig), vecBody, now, nil},
		{"secret without prefix", strings.TrimPrefix(vecSecret, "whsec_"), hdr(vecID, "1614265330", vecSig), vecBody, now, nil},
		{"one of several signatures", vecSecret, hdr(vecID, "1614265330", "v1,bm9wZQ== "+vecSig), vecBody, now, nil},
		{"tampered body", vecSecret, hdr(vecID, "1614265330", vecSig), `{"test": 2432232315}`, now, ErrNoMatchingSecret},
		{"other id", vecSecret, hdr("msg_other", "1614265330", vecSig), vecBody, now, ErrNoMatchingSecret},
		{"other version", vecSecret, hdr(vecID, "1614265330", "v2,"+strings.TrimPrefix(vecSig, "v1,")), vecBody, now, ErrNoMatchingSecret},
		{"too old", vecSecret, hdr(vecID, "1614265330", vecSig), vecBody, now.Add(6 * time.Minute), ErrBadTimestamp},
		{"too new", vecSecret, hdr(vecID, "1614265330", vecSig), vecBody, now.Add(-6 * time.Minute), ErrBadTimestamp},
		{"missing header", vecSecret, hdr(vecID, "", vecSig), vecBody, now, ErrMissingHeaders},
		{"bad secret", "whsec_!!!", hdr(vecID, "1614265330", vecSig), vecBody, now, ErrBadSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifyAt(tt.secret, tt.h, []byte(tt.body), 5*time.Minute, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestGenerateSecret(t *testing.T) {
	a, b := GenerateSecret(), GenerateSecret()
	if a == b || !strings.HasPrefix(a, "whsec_") {
		t.Fatalf("secrets %q %q", a, b)
	}
	key, err := secretKey(a)
	if err != nil || len(key) != 24 {
		t.Fatalf("secret %q decodes to %d bytes, %v", a, len(key), err)
	}
	sig, err := Sign(a, "msg_1", time.Now(), []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_1")
	h.Set(HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
	h.Set(HeaderSignature, sig)
	if err := Verify(a, h, []byte("{}"), 0); err != nil {
		t.Fatalf("Verify of a fresh signature: %v", err)
	}
}
