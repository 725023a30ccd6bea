package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/balance"
)

// ussdModems is the env's gateway.USSDService: sim1 answers a balance,
// sim2 never answers, any other name is no modem. (The driver's USSD runs
// against the simulator in modem and cmd/simgate.)
type ussdModems struct{}

func (ussdModems) RunUSSD(ctx context.Context, modem, code string) (gateway.USSDReply, error) {
	switch modem {
	case "sim1":
		if code != "*100#" {
			return gateway.USSDReply{}, fmt.Errorf("modem sim1: %w: +CUSD: 4", gateway.ErrUSSDRejected)
		}
		return gateway.USSDReply{Text: "Your balance is 12.34 USD.", DCS: 15}, nil
	case "sim2":
		return gateway.USSDReply{}, fmt.Errorf("modem sim2: %w", gateway.ErrUSSDTimeout)
	}
	return gateway.USSDReply{}, gateway.ErrNoModem
}

// balanceBook is the env's api.Balances: sim1 was checked, sim2 never.
type balanceBook struct{}

func (balanceBook) Last(modem string) (balance.Result, bool) {
	if modem != "sim1" {
		return balance.Result{}, false
	}
	return balance.Result{Amount: 0.5, Known: true, Low: true, Text: "Your balance is 0.50 USD.", At: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}, true
}

func TestModemShowsBalance(t *testing.T) {
	e := newEnv(t)
	var v api.ModemView
	must(t, e.do("GET", "/v1/modems/sim1", "read", nil), 200).decode(t, &v)
	if v.Balance == nil || v.Balance.Amount != 0.5 || !v.Balance.Low {
		t.Fatalf("balance %+v", v.Balance)
	}
	var v2 api.ModemView
	must(t, e.do("GET", "/v1/modems/sim2", "read", nil), 200).decode(t, &v2)
	if v2.Balance != nil {
		t.Fatalf("sim2 balance %+v", v2.Balance)
	}
}

func TestRunUSSD(t *testing.T) {
	e := newEnv(t)
	var got api.USSDAnswer
	must(t, e.do("POST", "/v1/modems/sim1/ussd", "admin", map[string]any{"code": "*100#"}), 200).decode(t, &got)
	if got != (api.USSDAnswer{Modem: "sim1", Code: "*100#", Text: "Your balance is 12.34 USD.", DCS: 15}) {
		t.Fatalf("answer %+v", got)
	}
	tests := []struct {
		name   string
		path   string
		key    string
		body   any
		status int
		kind   string
	}{
		{"send key", "/v1/modems/sim1/ussd", "send", map[string]any{"code": "*100#"}, 403, "forbidden"},
		{"no code", "/v1/modems/sim1/ussd", "admin", map[string]any{}, 422, "validation"},
		{"not a code", "/v1/modems/sim1/ussd", "admin", map[string]any{"code": `AT+CFUN=0`}, 422, "validation"},
		{"unknown field", "/v1/modems/sim1/ussd", "admin", `{"code":"*100#","x":1}`, 400, "malformed-request"},
		{"refused", "/v1/modems/sim1/ussd", "admin", map[string]any{"code": "*999#"}, 422, "ussd-rejected"},
		{"no answer", "/v1/modems/sim2/ussd", "admin", map[string]any{"code": "*100#"}, 504, "ussd-timeout"},
		{"no modem", "/v1/modems/nope/ussd", "admin", map[string]any{"code": "*100#"}, 404, "no-modem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := must(t, e.do("POST", tt.path, tt.key, tt.body), tt.status).problem(t)
			if p.Type != api.ProblemBase+tt.kind {
				t.Fatalf("problem %+v", p)
			}
		})
	}
}
