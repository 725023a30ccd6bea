package api_test

import (
	"testing"
	"time"

	"github.com/simgate/simgate/api"
)

func TestModems(t *testing.T) {
	e := newEnv(t)
	var list api.ModemList
	must(t, e.do("GET", "/v1/modems", "read", nil), 200).decode(t, &list)
	if len(list.Data) != 2 || list.Data[0].Name != "sim1" || list.Data[1].Name != "sim2" {
		t.Fatalf("modems %+v", list.Data)
	}
	m := list.Data[0]
	if m.SignalDBm == nil || *m.SignalDBm != -73 || m.Registration != "home" || !m.Usable || m.Info.IMEI == "" {
		t.Errorf("modem view %+v", m)
	}
	var one api.ModemView
	must(t, e.do("GET", "/v1/modems/sim2", "read", nil), 200).decode(t, &one)
	if one.Name != "sim2" || len(one.Groups) != 1 || one.Groups[0] != "field" {
		t.Errorf("modem %+v", one)
	}
	if p := must(t, e.do("GET", "/v1/modems/nope", "read", nil), 404).problem(t); p.Type != api.ProblemBase+"no-modem" {
		t.Errorf("type %q", p.Type)
	}

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	must(t, e.do("POST", "/v1/modems/sim1/pause", "admin", map[string]any{"reason": "carrier complaint", "until": until.Format(time.RFC3339)}), 200).decode(t, &one)
	if !one.Paused || one.PauseReason != "carrier complaint" || !one.PausedUntil.Equal(until) || one.Usable {
		t.Errorf("after pause %+v", one)
	}
	must(t, e.do("POST", "/v1/modems/sim1/resume", "admin", nil), 200).decode(t, &one)
	if one.Paused || !one.Usable {
		t.Errorf("after resume %+v", one)
	}
	must(t, e.do("POST", "/v1/modems/sim1/pause", "admin", nil), 200).decode(t, &one)
	if !one.Paused || one.PauseReason == "" {
		t.Errorf("pause without body %+v", one)
	}
	must(t, e.do("POST", "/v1/modems/sim2/drain", "admin", nil), 200).decode(t, &one)
	if !one.Draining {
		t.Errorf("after drain %+v", one)
	}
	for _, c := range []struct {
		path   string
		body   any
		status int
	}{
		{"/v1/modems/nope/pause", nil, 404},
		{"/v1/modems/nope/resume", nil, 404},
		{"/v1/modems/nope/drain", nil, 404},
		{"/v1/modems/sim1/pause", `{"until":"2001-01-01T00:00:00Z"}`, 422},
		{"/v1/modems/sim1/pause", `{"until":"soon"}`, 422},
		{"/v1/modems/sim1/pause", `{"why":"x"}`, 400},
		{"/v1/modems/sim1/pause", `{"reason":5}`, 400},
	} {
		must(t, e.do("POST", c.path, "admin", c.body), c.status).problem(t)
	}
}
