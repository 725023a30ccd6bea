package grafana_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

const (
	dashboardFile = "simgate.json"
	alertsFile    = "../prometheus/alerts.yml"
)

// query is one PromQL expression and where it came from.
type query struct {
	where string
	expr  string
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasourceRef           `json:"datasource"`
	GridPos    struct{ H, W, X, Y int } `json:"gridPos"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasourceRef  `json:"datasource"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// dashboardQueries returns every panel target's expression and every query variable's
// label_values() query.
func dashboardQueries(t *testing.T, d dashboard) []query {
	t.Helper()
	var qs []query
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, query{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			qs = append(qs, query{"variable " + v.Name, v.Definition})
		}
	}
	return qs
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertsNamePanelsThatExist: an alert text that sends the operator to a "Panel title"
// panel must name a panel of the dashboard.
func TestAlertsNamePanelsThatExist(t *testing.T) {
	titles := map[string]bool{}
	for _, p := range allPanels(loadDashboard(t).Panels) {
		titles[p.Title] = true
	}
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	quoted := regexp.MustCompile(`"([^"]+)"`)
	var n int
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			for key, text := range r.Annotations {
				if !strings.Contains(text, " panel") {
					continue
				}
				for _, m := range quoted.FindAllStringSubmatch(text, -1) {
					n++
					if !titles[m[1]] {
						t.Errorf("alert %s %s names panel %q, which the dashboard does not have", r.Alert, key, m[1])
					}
				}
			}
		}
	}
	if n == 0 {
		t.Error("no alert names a panel; the test checks nothing")
	}
}

func alertQueries(t *testing.T) []query {
	t.Helper()
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var rf ruleFile
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var qs []query
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{fmt.Sprintf("alert %s/%s%s", g.Name, r.Alert, r.Record), r.Expr})
		}
	}
	if len(qs) == 0 {
		t.Fatalf("%s: no rules found", alertsFile)
	}
	return qs
}

var (
	metricRE = regexp.MustCompile(`\bsimgate_[a-z0-9_]*[a-z0-9]`)
	// A selector's matchers: simgate_name{a="b", c=~"d"}.
	selectorRE = regexp.MustCompile(`\b(simgate_[a-z0-9_]*[a-z0-9])\s*\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"`)
	// by (...) / without (...) / on (...) / ignoring (...) clauses.
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	// Prometheus' own up{job="simgate"} series (the scrape failed).
	upRE = regexp.MustCompile(`^up\{job="simgate"\}`)
	// Label names of a label_values(metric, label) variable query.
	labelValuesRE = regexp.MustCompile(`label_values\((?:[^,]*,)?\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
)

// baseName maps a series name to its fixed metric: a histogram's _bucket, _sum and _count
// series belong to the histogram.
func baseName(name string) string {
	if _, ok := fixedMetrics[name]; ok {
		return name
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(name, suf); ok {
			if m, ok := fixedMetrics[b]; ok && m.typ == "histogram" {
				return b
			}
		}
	}
	return name
}

// targetLabels are attached by Prometheus, not by simgate.
var targetLabels = []string{"job", "instance", "le", "site"}

// checkQuery returns the problems with one expression: metric names outside the fixed
// list, and label names that neither the metrics it uses nor Prometheus provide.
func checkQuery(q query) []string {
	var problems []string
	names := metricRE.FindAllString(q.expr, -1)
	if len(names) == 0 && !upRE.MatchString(q.expr) {
		problems = append(problems, fmt.Sprintf("%s: no simgate metric in %q", q.where, q.expr))
	}
	allowed := slices.Clone(targetLabels)
	for _, n := range names {
		m, ok := fixedMetrics[baseName(n)]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: unknown metric %s", q.where, n))
			continue
		}
		allowed = append(allowed, m.labels...)
	}
	for _, sel := range selectorRE.FindAllStringSubmatch(q.expr, -1) {
		m, ok := fixedMetrics[baseName(sel[1])]
		if !ok {
			continue
		}
		own := append(slices.Clone(targetLabels), m.labels...)
		for _, mt := range matcherRE.FindAllStringSubmatch(sel[2], -1) {
			if !slices.Contains(own, mt[1]) {
				problems = append(problems, fmt.Sprintf("%s: %s has no label %q", q.where, sel[1], mt[1]))
			}
		}
	}
	var used []string
	for _, g := range groupingRE.FindAllStringSubmatch(q.expr, -1) {
		used = append(used, strings.Split(g[1], ",")...)
	}
	for _, lv := range labelValuesRE.FindAllStringSubmatch(q.expr, -1) {
		used = append(used, lv[1])
	}
	for _, l := range used {
		l = strings.TrimSpace(l)
		if l != "" && !slices.Contains(allowed, l) {
			problems = append(problems, fmt.Sprintf("%s: label %q belongs to none of %v", q.where, l, names))
		}
	}
	return problems
}

func TestQueriesUseOnlyFixedMetrics(t *testing.T) {
	d := loadDashboard(t)
	qs := append(dashboardQueries(t, d), alertQueries(t)...)
	used := map[string]bool{}
	for _, q := range qs {
		for _, p := range checkQuery(q) {
			t.Error(p)
		}
		for _, n := range metricRE.FindAllString(q.expr, -1) {
			used[baseName(n)] = true
		}
	}
	t.Logf("%d queries, %d distinct metrics", len(qs), len(used))
	// The dashboard shows every metric simgate exports.
	dashUsed := map[string]bool{}
	for _, q := range dashboardQueries(t, d) {
		for _, n := range metricRE.FindAllString(q.expr, -1) {
			dashUsed[baseName(n)] = true
		}
	}
	for name := range fixedMetrics {
		if !dashUsed[name] {
			t.Errorf("metric %s is on no dashboard panel", name)
		}
	}
}

// TestCheckQueryRejects proves the checker above can fail.
func TestCheckQueryRejects(t *testing.T) {
	tests := []struct {
		name, expr string
		want       string
	}{
		{"unknown metric", `rate(simgate_parts_send_total[5m])`, "unknown metric simgate_parts_send_total"},
		{"bucket of a counter", `simgate_parts_sent_total_bucket`, "unknown metric simgate_parts_sent_total_bucket"},
		{"wrong matcher label", `simgate_queue_depth{status="queued"}`, `has no label "status"`},
		{"wrong grouping label", `sum by (sim) (simgate_modem_up)`, `label "sim"`},
		{"wrong label_values label", `label_values(simgate_modem_up, imsi)`, `label "imsi"`},
		{"no simgate metric", `up`, "no simgate metric"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := checkQuery(query{"test", tc.expr})
			if !slices.ContainsFunc(ps, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("checkQuery(%q) = %q, want a problem containing %q", tc.expr, ps, tc.want)
			}
		})
	}
	good := `histogram_quantile(0.95, sum by (modem, le) (rate(simgate_send_duration_seconds_bucket{job=~"$job", modem=~"$modem"}[5m])))`
	if ps := checkQuery(query{"test", good}); len(ps) != 0 {
		t.Errorf("checkQuery(good) = %q", ps)
	}
}

func TestDashboardStructure(t *testing.T) {
	d := loadDashboard(t)
	if d.UID != "simgate" || d.Title == "" {
		t.Errorf("uid %q title %q", d.UID, d.Title)
	}
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	if ds, ok := vars["datasource"]; !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		t.Errorf("datasource variable = %+v, want type datasource, query prometheus", ds)
	}
	for _, name := range []string{"job", "instance", "modem"} {
		v, ok := vars[name]
		if !ok {
			t.Errorf("no %s variable", name)
			continue
		}
		if v.Type != "query" || !strings.HasPrefix(v.Definition, "label_values(") || !strings.HasSuffix(v.Definition, ", "+name+")") {
			t.Errorf("variable %s: type %s definition %q, want label_values(..., %s)", name, v.Type, v.Definition, name)
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			t.Errorf("variable %s does not use the datasource variable", name)
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil || q != v.Definition {
			t.Errorf("variable %s: query %s, want the string %q (the form every Grafana version reads)", name, v.Query, v.Definition)
		}
	}
	ids := map[int]bool{}
	for _, p := range allPanels(d.Panels) {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %d %q: bad gridPos %+v", p.ID, p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no query", p.ID, p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %d %q does not use the datasource variable", p.ID, p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %d %q target %s does not use the datasource variable", p.ID, p.Title, tg.RefID)
			}
			if !strings.Contains(tg.Expr, `job=~"$job"`) || !strings.Contains(tg.Expr, `instance=~"$instance"`) {
				t.Errorf("panel %d %q target %s ignores $job/$instance: %s", p.ID, p.Title, tg.RefID, tg.Expr)
			}
			if strings.Contains(tg.Expr, "modem") && strings.Contains(tg.Expr, "simgate_modem_") && !strings.Contains(tg.Expr, `modem=~"$modem"`) {
				t.Errorf("panel %d %q target %s ignores $modem", p.ID, p.Title, tg.RefID)
			}
		}
	}
	// Panels must not overlap.
	type cell struct{ x, y int }
	taken := map[cell]int{}
	for _, p := range allPanels(d.Panels) {
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panels %d and %d overlap at %d,%d", other, p.ID, x, y)
				}
				taken[cell{x, y}] = p.ID
			}
		}
	}
}

// grafanaVars stands in concrete values for Grafana's template variables so promtool can
// parse the dashboard's queries.
var grafanaVars = strings.NewReplacer(
	"${__rate_interval}", "1m", "$__rate_interval", "1m",
	"${__interval}", "1m", "$__interval", "1m",
	"${__range}", "1h", "$__range", "1h",
	"${job}", ".*", "$job", ".*",
	"${instance}", ".*", "$instance", ".*",
	"${modem}", ".*", "$modem", ".*",
)

// dashboardRules renders the dashboard's panel queries as a Prometheus rule file of
// recording rules, the form promtool checks.
func dashboardRules(t *testing.T) []byte {
	t.Helper()
	d := loadDashboard(t)
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			expr := grafanaVars.Replace(tg.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("panel %d target %s: unknown template variable in %q", p.ID, tg.RefID, tg.Expr)
			}
			rules = append(rules, rule{fmt.Sprintf("dashboard:panel_%d_%s", p.ID, tg.RefID), expr})
		}
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "simgate-dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDashboardQueriesPromtool runs `promtool check rules` over every dashboard query.
// Without promtool it skips, except in CI (CI=true), where it fails.
// SIMGATE_DASHBOARD_RULES=path also writes the generated rule file there.
func TestDashboardQueriesPromtool(t *testing.T) {
	rules := dashboardRules(t)
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if out := os.Getenv("SIMGATE_DASHBOARD_RULES"); out != "" {
		path = out
	}
	if err := os.WriteFile(path, rules, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not installed (apt-get install prometheus)")
		}
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	t.Logf("promtool check rules %s:\n%s", path, out)
	if err != nil {
		t.Fatalf("promtool: %v", err)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatal("promtool did not report SUCCESS")
	}
}

// checkScrape compares a /metrics exposition with the fixed list: every fixed metric it
// has must be of the right type with exactly its labels, and every metric in required must
// be there. It also returns the simgate_ families outside the fixed list (extras): no
// panel or alert uses them, which is no error for the dashboard, but worth a look.
func checkScrape(families map[string]*dto.MetricFamily, required []string) (problems, extras []string) {
	var names []string
	for name := range families {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasPrefix(name, "simgate_") {
			continue
		}
		mf := families[name]
		want, ok := fixedMetrics[name]
		if !ok {
			extras = append(extras, name)
			continue
		}
		if got := strings.ToLower(mf.GetType().String()); got != want.typ {
			problems = append(problems, fmt.Sprintf("%s is a %s, want %s", name, got, want.typ))
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, lp := range m.GetLabel() {
				labels = append(labels, lp.GetName())
			}
			sort.Strings(labels)
			if !slices.Equal(labels, want.labels) {
				problems = append(problems, fmt.Sprintf("%s has labels %v, want %v", name, labels, want.labels))
				break
			}
		}
	}
	for _, name := range required {
		if mf, ok := families[name]; !ok || len(mf.GetMetric()) == 0 {
			problems = append(problems, fmt.Sprintf("/metrics has no series of %s", name))
		}
	}
	return problems, extras
}

func parseExposition(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// TestScrapeMatchesFixedMetrics checks a real scrape of the running daemon, saved by
// .ci/prometheus-check.sh in SIMGATE_METRICS_FILE after it sent messages through the demo.
func TestScrapeMatchesFixedMetrics(t *testing.T) {
	path := os.Getenv("SIMGATE_METRICS_FILE")
	if path == "" {
		t.Skip("SIMGATE_METRICS_FILE not set (.ci/prometheus-check.sh sets it to a scrape of the demo)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fams := parseExposition(t, string(b))
	problems, extras := checkScrape(fams, presentAfterDemoTraffic)
	for _, p := range problems {
		t.Error(p)
	}
	if len(extras) > 0 {
		t.Logf("exported but not in the fixed list (no panel or alert uses them): %v", extras)
	}
	// Every metric the dashboard or the alerts name, if the scrape has it at all, must
	// carry the labels the queries group by (checked above through the fixed list); list
	// what the scrape lacks so a reader sees which panels stay empty on a quiet demo.
	d := loadDashboard(t)
	missing := map[string]bool{}
	for _, q := range append(dashboardQueries(t, d), alertQueries(t)...) {
		for _, n := range metricRE.FindAllString(q.expr, -1) {
			if _, ok := fams[baseName(n)]; !ok {
				missing[baseName(n)] = true
			}
		}
	}
	var ms []string
	for m := range missing {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	t.Logf("%d simgate families scraped; queried but without series yet (event-driven): %v", len(fams), ms)
}

func TestCheckScrapeRejects(t *testing.T) {
	good := `# TYPE simgate_modem_up gauge
simgate_modem_up{modem="sim1"} 1
# TYPE simgate_send_duration_seconds histogram
simgate_send_duration_seconds_bucket{modem="sim1",le="+Inf"} 1
simgate_send_duration_seconds_sum{modem="sim1"} 0.5
simgate_send_duration_seconds_count{modem="sim1"} 1
# TYPE go_goroutines gauge
go_goroutines 7
`
	if ps, extras := checkScrape(parseExposition(t, good), []string{"simgate_modem_up", "simgate_send_duration_seconds"}); len(ps) != 0 || len(extras) != 0 {
		t.Errorf("good scrape: %q, extras %q", ps, extras)
	}
	if _, extras := checkScrape(parseExposition(t, "# TYPE simgate_modems_up gauge\nsimgate_modems_up{modem=\"a\"} 1\n"), nil); len(extras) != 1 || extras[0] != "simgate_modems_up" {
		t.Errorf("extras = %q, want [simgate_modems_up]", extras)
	}
	tests := []struct {
		name, text, want string
	}{
		{"wrong type", "# TYPE simgate_parts_sent_total gauge\nsimgate_parts_sent_total{modem=\"a\"} 1\n", "is a gauge, want counter"},
		{"wrong labels", "# TYPE simgate_parts_sent_total counter\nsimgate_parts_sent_total{sim=\"a\"} 1\n", "has labels [sim], want [modem]"},
		{"extra label", "# TYPE simgate_queue_depth gauge\nsimgate_queue_depth{state=\"queued\",modem=\"a\"} 1\n", "has labels [modem state], want [state]"},
		{"required missing", "# TYPE simgate_modem_up gauge\nsimgate_modem_up{modem=\"a\"} 1\n", "no series of simgate_build_info"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, _ := checkScrape(parseExposition(t, tc.text), []string{"simgate_build_info"})
			if !slices.ContainsFunc(ps, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("checkScrape = %q, want a problem containing %q", ps, tc.want)
			}
		})
	}
}
