package grafana_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// mainPanels must show data as soon as Prometheus has scraped the demo after a few sends.
var mainPanels = []string{
	"Modems up",
	"Parts sent / min",
	"Throughput per modem",
	"Send latency (AT+CMGS round trip)",
	"Queue depth by state",
	"Modem up",
	"Signal (dBm)",
	"Registration state",
	"Budget left: parts today",
	"HTTP requests by route and code",
}

// labelValuesCallRE splits label_values(selector, label).
var labelValuesCallRE = regexp.MustCompile(`^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// promResponse is the envelope of Prometheus' HTTP API. Data is an object for queries and
// rules, and an array for label values: promGet puts the latter in Data.Result.
type promResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	RawData   json.RawMessage `json:"data"`
	Data      struct {        // filled by promGet from RawData
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
		Groups     []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"-"`
}

func promGet(t *testing.T, base, path string, params url.Values) promResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(pr.RawData) > 0 && pr.RawData[0] == '[' {
		pr.Data.Result = pr.RawData
	} else if len(pr.RawData) > 0 {
		if err := json.Unmarshal(pr.RawData, &pr.Data); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return pr
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// TestDashboardAgainstPrometheus asks a real Prometheus server that scrapes the demo
// (SIMGATE_PROMETHEUS_URL, set by .ci/prometheus-check.sh) every dashboard query: none
// may fail, the main panels must return series, and the throughput must be positive. It
// also checks that Prometheus loaded every alert rule and evaluates them without error.
func TestDashboardAgainstPrometheus(t *testing.T) {
	base := os.Getenv("SIMGATE_PROMETHEUS_URL")
	if base == "" {
		t.Skip("SIMGATE_PROMETHEUS_URL not set (.ci/prometheus-check.sh runs Prometheus against the demo)")
	}
	d := loadDashboard(t)
	nonEmpty := map[string]bool{}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			expr := grafanaVars.Replace(tg.Expr)
			pr := promGet(t, base, "/api/v1/query", url.Values{"query": {expr}})
			if pr.Status != "success" {
				t.Errorf("panel %q target %s: %s: %s\n%s", p.Title, tg.RefID, pr.ErrorType, pr.Error, expr)
				continue
			}
			var n int
			switch pr.Data.ResultType {
			case "vector", "matrix":
				var ss []sample
				if err := json.Unmarshal(pr.Data.Result, &ss); err != nil {
					t.Fatal(err)
				}
				n = len(ss)
				if p.Title == "Throughput per modem" {
					var total float64
					for _, s := range ss {
						v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
						total += v
					}
					if total <= 0 {
						t.Errorf("throughput per modem sums to %v, want > 0 after sends", total)
					}
				}
			default:
				n = 1
			}
			if n > 0 {
				nonEmpty[p.Title] = true
			}
			t.Logf("%-40s %s: %d series", p.Title, tg.RefID, n)
		}
	}
	for _, title := range mainPanels {
		if !nonEmpty[title] {
			t.Errorf("main panel %q shows no data", title)
		}
	}

	// The template variables: label_values(selector, label) must list values, as Grafana
	// asks Prometheus for them (/api/v1/label/<label>/values?match[]=<selector>).
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesCallRE.FindStringSubmatch(grafanaVars.Replace(v.Definition))
		if m == nil {
			t.Errorf("variable %s: cannot read %q", v.Name, v.Definition)
			continue
		}
		var values []string
		pr := promGet(t, base, "/api/v1/label/"+m[2]+"/values", url.Values{"match[]": {m[1]}})
		if pr.Status != "success" || json.Unmarshal(pr.Data.Result, &values) != nil {
			t.Errorf("variable %s: %s %s", v.Name, pr.ErrorType, pr.Error)
		}
		if len(values) == 0 {
			t.Errorf("variable %s (%s) has no values", v.Name, v.Definition)
		}
		t.Logf("variable %s: %v", v.Name, values)
	}

	pr := promGet(t, base, "/api/v1/rules", url.Values{"type": {"alert"}})
	if pr.Status != "success" {
		t.Fatalf("rules: %s", pr.Error)
	}
	var rules int
	for _, g := range pr.Data.Groups {
		for _, r := range g.Rules {
			rules++
			if r.Health == "err" {
				t.Errorf("alert %s/%s: %s", g.Name, r.Name, r.LastError)
			}
		}
	}
	if want := len(alertQueries(t)); rules != want {
		t.Errorf("Prometheus loaded %d alert rules, alerts.yml has %d", rules, want)
	}
}
