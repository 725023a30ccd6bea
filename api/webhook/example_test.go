package webhook_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/simgate/simgate/api/webhook"
)

// A receiver checks each delivery with Verify before trusting it.
func ExampleVerify() {
	secret := webhook.GenerateSecret() // shown once when the webhook is created
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	// What simgate sends:
	body := `{"type":"message.received","timestamp":"2026-01-02T03:04:05Z","data":{}}`
	now := time.Now()
	sig, _ := webhook.Sign(secret, "msg_01", now, []byte(body))
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set("webhook-id", "msg_01")
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output: 204
}
