package gateway

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestEventDataRoundTrip: every event type's payload comes back from JSON
// as its own type (what the store and the webhooks see), and its JSON has
// the keys the ad-hoc maps had, so receivers see the same body.
func TestEventDataRoundTrip(t *testing.T) {
	until := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		typ  EventType
		data EventData
		json string // the data as the map of old wrote it
	}{
		{EventMessageReceived, &Message{ID: "01IN", Direction: Inbound, Contact: "+12025550123", Body: "hi", Status: StatusReceived}, ""},
		{EventMessageSent, MessageSentData{Segments: 2}, `{"segments":2}`},
		{EventMessageDelivered, nil, ""},
		{EventMessageFailed, MessageFailedData{Status: StatusFailed, Reason: "opted_out"}, `{"status":"failed","reason":"opted_out"}`},
		{EventMessageFailed, MessageFailedData{ErrorCode: 500, ErrorClass: "network", Error: "+CMS ERROR: 500"}, `{"error_code":500,"error_class":"network","error":"+CMS ERROR: 500"}`},
		{EventMessageUnknown, MessageUnknownData{ErrorClass: "timeout", Error: "no answer"}, `{"error_class":"timeout","error":"no answer"}`},
		{EventMessageUnknown, MessageUnknownData{Reason: "restart while a part was being submitted"}, `{"reason":"restart while a part was being submitted"}`},
		{EventMessageExpired, MessageExpiredData{Status: StatusExpired}, `{"status":"expired"}`},
		{EventMessageUnconfirmed, nil, ""},
		{EventOptOut, OptOut{Number: "+12025550123", Keyword: "STOP", Source: "sms", At: until}, ""},
		{EventOptIn, OptOut{Number: "+12025550123", Source: "api", At: until}, ""},
		{EventModemUp, ModemUpData{State: ModemUp}, `{"state":"up"}`},
		{EventModemDown, ModemDownData{State: ModemDown, Error: "port gone"}, `{"state":"down","error":"port gone"}`},
		{EventModemPaused, ModemPausedData{Reason: "carrier block", Until: until}, `{"reason":"carrier block","until":"2026-12-01T10:00:00Z"}`},
		{EventModemResumed, ModemResumedData{Reason: "pause expired"}, `{"reason":"pause expired"}`},
		{EventModemBlockSuspected, BlockSuspectedData{Reason: "suspected carrier block", Signal: "reports_missing", Window: 20, Baseline: "pool", BaselineRatio: 0.95}, ""},
	}
	seen := map[EventType]bool{}
	for _, c := range cases {
		seen[c.typ] = true
		e := Event{ID: "01EV", Type: c.typ, Time: until, MessageID: "01M", Modem: "sim1", Data: c.data}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		var back Event
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("%s: decode %s: %v", c.typ, raw, err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Errorf("%s: read back as %#v, want %#v", c.typ, back, e)
		}
		if c.json != "" {
			got, _ := json.Marshal(c.data)
			if string(got) != c.json {
				t.Errorf("%s: data JSON %s, want %s (what receivers got before)", c.typ, got, c.json)
			}
		}
	}
	for _, et := range EventTypes() {
		if !seen[et] {
			t.Errorf("event type %s has no payload case here", et)
		}
	}
	// A type from a newer binary keeps its data as it was.
	var e Event
	if err := json.Unmarshal([]byte(`{"id":"x","type":"modem.exploded","data":{"how":"loudly"}}`), &e); err != nil {
		t.Fatal(err)
	}
	if raw, _ := json.Marshal(e.Data); string(raw) != `{"how":"loudly"}` {
		t.Errorf("unknown type's data = %s", raw)
	}
	if err := json.Unmarshal([]byte(`{"type":"message.sent","data":{"segments":"two"}}`), &e); err == nil {
		t.Error("malformed data decoded without an error")
	}
}
