package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/simgate/simgate/api"
	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/balance"
)

// Config is simgate's configuration: DefaultConfig, then one YAML file
// (strict: unknown keys are errors naming the line), then secrets from the
// environment or from files. configs/simgate.example.yaml documents every key.
type Config struct {
	// Listen is the API's address.
	Listen string `yaml:"listen"`
	// Metrics says where /metrics is served.
	Metrics MetricsConfig `yaml:"metrics"`
	// Store is the bbolt database.
	Store StoreConfig `yaml:"store"`
	// DefaultRegion is the ISO 3166 region numbers without a + are read in.
	DefaultRegion string `yaml:"default_region"`
	// Timezone is the IANA zone daily budgets roll over in ("" or "Local": the host's).
	Timezone string `yaml:"timezone"`
	// Log is the logger.
	Log LogConfig `yaml:"log"`
	// Modems are the configured modems.
	Modems []ModemConfig `yaml:"modems"`
	// Discovery finds modems that are not configured.
	Discovery DiscoveryConfig `yaml:"discovery"`
	// Pacing is the default pace of every SIM.
	Pacing PacingConfig `yaml:"pacing"`
	// StickyTimeout is how long a contact's SIM may be gone before the contact moves.
	StickyTimeout Duration `yaml:"sticky_timeout"`
	// PreferHealthy: new contacts go to SIMs with a health score at least
	// this share of the best that can take them (README "SIM health"); 0 = off.
	PreferHealthy float64 `yaml:"prefer_healthy"`
	// Retries governs temporary send failures.
	Retries RetryConfig `yaml:"retries"`
	// Pause governs pausing a SIM that keeps failing (a likely carrier block).
	Pause PauseConfig `yaml:"pause"`
	// StatusReports requests delivery reports (TP-SRR) unless a message says otherwise.
	StatusReports bool `yaml:"status_reports"`
	// ReportWindow: delivery reports are matched to parts submitted within it.
	ReportWindow Duration `yaml:"report_window"`
	// Retention says how long messages, events, deliveries and unmatched
	// reports are kept before the pruning loop deletes them.
	Retention RetentionConfig `yaml:"retention"`
	// Webhooks are endpoints configured in the file (more can be added through the API).
	Webhooks []WebhookConfig `yaml:"webhooks"`
	// WebhookAllow lists CIDRs webhook targets may resolve to although they
	// are loopback, link-local or private.
	WebhookAllow []string `yaml:"webhook_allow"`
	// CallbackSecretEnv or CallbackSecretFile hold the secret that signs
	// deliveries to a message's callback_url (none: sent unsigned).
	CallbackSecretEnv  string `yaml:"callback_secret_env"`
	CallbackSecretFile string `yaml:"callback_secret_file"`
	// CallbackSecret is resolved by Load.
	CallbackSecret string `yaml:"-"`
	// OptOut holds the opt-out keywords and replies.
	OptOut OptOutConfig `yaml:"optout"`
	// API tunes the HTTP API.
	API APIConfig `yaml:"api"`
	// TLS serves the API over HTTPS when set.
	TLS TLSConfig `yaml:"tls"`
	// Destinations limits which numbers may be texted (premium rate refused by default).
	Destinations DestinationsConfig `yaml:"destinations"`
	// Web is the web app under /app/.
	Web WebConfig `yaml:"web"`
	// Campaigns tunes the P2P campaigns (texting hours, compliance phrases).
	Campaigns CampaignsConfig `yaml:"campaigns"`
	// ShutdownTimeout bounds an orderly shutdown.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// GCHeadroom is how far the heap may grow past what the last garbage
	// collection found live before the next one runs, when that is less
	// than Go's default (GOGC=100: as much again as is live). Bytes with an
	// optional K, M or G; "0" keeps Go's default. With it, the daemon also
	// collects and returns a burst's garbage once it goes quiet. See
	// gcheadroom.go.
	GCHeadroom string `yaml:"gc_headroom"`
}

// MetricsConfig says where Prometheus metrics are served.
type MetricsConfig struct {
	// Listen is a separate address for /metrics; "" serves it on the API listener.
	Listen string `yaml:"listen"`
	// Path is the metrics path.
	Path string `yaml:"path"`
}

// StoreConfig is the database.
type StoreConfig struct {
	// Driver is "bbolt" (one file on this host, the default) or "postgres"
	// (a database several nodes share; see store.go).
	Driver string `yaml:"driver"`
	// Path is driver bbolt's file.
	Path string `yaml:"path"`
	// OpenTimeout is how long to wait for another process's lock (bbolt)
	// or to connect and migrate (postgres).
	OpenTimeout Duration       `yaml:"open_timeout"`
	Postgres    PostgresConfig `yaml:"postgres"`
}

// RetentionConfig says how long each kind of record is kept (0: forever).
type RetentionConfig struct {
	// Messages in a final status (delivered, failed, unknown, cancelled,
	// expired, received), by creation time. Queued and sent ones are kept.
	Messages Duration `yaml:"messages"`
	// Events: the event log behind webhooks (only events already turned
	// into deliveries are pruned).
	Events Duration `yaml:"events"`
	// Deliveries: webhook deliveries done or given up.
	Deliveries Duration `yaml:"deliveries"`
	// UnmatchedReports: status reports that matched no sent part.
	UnmatchedReports Duration `yaml:"unmatched_reports"`
	// Interval between pruning passes.
	Interval Duration `yaml:"interval"`
	// Batch is how many records one pruning transaction deletes.
	Batch int `yaml:"batch"`
}

// Gateway converts r.
func (r RetentionConfig) Gateway() gateway.RetentionConfig {
	return gateway.RetentionConfig{
		Messages: r.Messages.D(), Events: r.Events.D(), Deliveries: r.Deliveries.D(), UnmatchedReports: r.UnmatchedReports.D(),
		Interval: r.Interval.D(), Batch: r.Batch,
	}
}

// LogConfig is the logger.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// ModemConfig is one configured modem.
type ModemConfig struct {
	// Name is the modem's stable name (metrics label, API path, sticky binding).
	Name string `yaml:"name"`
	// Port is a tty path, best a /dev/serial/by-id link or a udev symlink.
	Port string `yaml:"port"`
	// Globs are tried when Port is empty or gone: the first port whose modem
	// matches ExpectedIMEI/ExpectedICCID is used.
	Globs []string `yaml:"globs"`
	// ExpectedIMEI and ExpectedICCID bind the name to a device and SIM.
	ExpectedIMEI  string `yaml:"expected_imei"`
	ExpectedICCID string `yaml:"expected_iccid"`
	// PIN unlocks the SIM. Prefer PINEnv or PINFile.
	PIN     string `yaml:"pin"`
	PINEnv  string `yaml:"pin_env"`
	PINFile string `yaml:"pin_file"`
	// Baud is the serial speed (0: 115200).
	Baud int `yaml:"baud"`
	// Groups lets a message's "from" name several modems.
	Groups []string `yaml:"groups"`
	// Pacing overrides the default pacing field by field.
	Pacing PacingOverride `yaml:"pacing"`
	// Balance reads the SIM's credit with a USSD code on a schedule (nil: never).
	Balance *BalanceConfig `yaml:"balance"`
}

// BalanceConfig is one SIM's balance check (gateway/balance.Check).
type BalanceConfig struct {
	// Code is the operator's balance code, e.g. "*100#".
	Code string `yaml:"code"`
	// Every is how often it runs (default 6h, at least 1m).
	Every Duration `yaml:"every"`
	// Amount is a regular expression whose first group is the amount in the
	// operator's answer (default: the first number).
	Amount string `yaml:"amount"`
	// Low pauses the SIM while its balance is below it (0: never).
	Low float64 `yaml:"low"`
}

// balanceCodeRE is what a USSD balance code may hold (as the API accepts).
var balanceCodeRE = regexp.MustCompile(`^[0-9*#+]{1,32}$`)

// defaultBalanceAmount finds the first number in an answer ("12.34", "7,50").
const defaultBalanceAmount = `(-?[0-9]+(?:[.,][0-9]+)?)`

// Check is the gateway/balance check of modem name.
func (b BalanceConfig) Check(name string) (balance.Check, error) {
	every := b.Every.D()
	if every == 0 {
		every = 6 * time.Hour
	}
	expr := b.Amount
	if expr == "" {
		expr = defaultBalanceAmount
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return balance.Check{}, err
	}
	return balance.Check{Modem: name, Code: b.Code, Every: every, Amount: re, Low: b.Low}, nil
}

// DiscoveryConfig finds modems that are not configured.
type DiscoveryConfig struct {
	Enabled bool     `yaml:"enabled"`
	Globs   []string `yaml:"globs"`
	// Interval is how often the globs are scanned again (0: only at start and SIGHUP).
	Interval Duration `yaml:"interval"`
	// Groups are given to discovered modems.
	Groups []string `yaml:"groups"`
}

// PacingConfig paces one SIM like a person (gateway.PacingConfig with YAML durations).
type PacingConfig struct {
	MinInterval       Duration `yaml:"min_interval"`
	Jitter            Duration `yaml:"jitter"`
	PerMinute         int      `yaml:"per_minute"`
	PerDay            int      `yaml:"per_day"`
	NewContactsPerDay int      `yaml:"new_contacts_per_day"`
}

// Gateway converts p.
func (p PacingConfig) Gateway() gateway.PacingConfig {
	return gateway.PacingConfig{
		MinInterval:       p.MinInterval.D(),
		Jitter:            p.Jitter.D(),
		PerMinute:         p.PerMinute,
		PerDay:            p.PerDay,
		NewContactsPerDay: p.NewContactsPerDay,
	}
}

// PacingOverride overrides the fields of a PacingConfig that are set.
type PacingOverride struct {
	MinInterval       *Duration `yaml:"min_interval"`
	Jitter            *Duration `yaml:"jitter"`
	PerMinute         *int      `yaml:"per_minute"`
	PerDay            *int      `yaml:"per_day"`
	NewContactsPerDay *int      `yaml:"new_contacts_per_day"`
}

// IsZero reports whether o overrides nothing.
func (o PacingOverride) IsZero() bool { return o == PacingOverride{} }

// Apply returns def with o's fields applied.
func (o PacingOverride) Apply(def PacingConfig) PacingConfig {
	if o.MinInterval != nil {
		def.MinInterval = *o.MinInterval
	}
	if o.Jitter != nil {
		def.Jitter = *o.Jitter
	}
	if o.PerMinute != nil {
		def.PerMinute = *o.PerMinute
	}
	if o.PerDay != nil {
		def.PerDay = *o.PerDay
	}
	if o.NewContactsPerDay != nil {
		def.NewContactsPerDay = *o.NewContactsPerDay
	}
	return def
}

// RetryConfig governs retries of temporary send failures.
type RetryConfig struct {
	MaxAttempts int      `yaml:"max_attempts"`
	Base        Duration `yaml:"base"`
	Max         Duration `yaml:"max"`
}

// PauseConfig governs pausing a failing SIM.
type PauseConfig struct {
	AfterFailures int      `yaml:"after_failures"` // consecutive failures
	CMS500Burst   int      `yaml:"cms500_burst"`   // consecutive +CMS ERROR: 500
	For           Duration `yaml:"for"`            // cooling period
	// BlockWatch is the carrier-block detector (gateway.BlockWatchConfig).
	BlockWatch BlockWatchConfig `yaml:"block_watch"`
}

// BlockWatchConfig tunes the carrier-block detector (see README "Carrier
// blocks").
type BlockWatchConfig struct {
	Window              int      `yaml:"window"`      // settled parts judged; 0 = off
	ReportWait          Duration `yaml:"report_wait"` // a report missing after this counts as missing
	MinReportRatio      float64  `yaml:"min_report_ratio"`
	BaselineReportRatio float64  `yaml:"baseline_report_ratio"`
	MaxFailedRatio      float64  `yaml:"max_failed_ratio"`
	PauseFor            Duration `yaml:"pause_for"` // 0 = until resumed
	// The reply signal: sends judged (0 = off), how long a reply may take,
	// the share of the pool's reply rate below which a SIM is suspected,
	// and the replies the pool's rate must promise in a window.
	ReplyWindow        int      `yaml:"reply_window"`
	ReplyWait          Duration `yaml:"reply_wait"`
	MinReplyShare      float64  `yaml:"min_reply_share"`
	MinExpectedReplies float64  `yaml:"min_expected_replies"`
}

// WebhookConfig is a webhook endpoint from the file.
type WebhookConfig struct {
	URL        string   `yaml:"url"`
	Events     []string `yaml:"events"` // empty: all
	SecretEnv  string   `yaml:"secret_env"`
	SecretFile string   `yaml:"secret_file"`

	// Secret is resolved from SecretEnv or SecretFile by Load.
	Secret string `yaml:"-"`
}

// OptOutConfig holds opt-out keywords and the replies sent.
type OptOutConfig struct {
	StopWords  []string `yaml:"stop_words"`
	StartWords []string `yaml:"start_words"`
	HelpWords  []string `yaml:"help_words"`
	StopReply  string   `yaml:"stop_reply"`
	StartReply string   `yaml:"start_reply"`
	HelpReply  string   `yaml:"help_reply"`
}

// APIConfig tunes the HTTP API.
type APIConfig struct {
	// BodyLimit is the largest request body: bytes with an optional K, M or G ("64K").
	BodyLimit string `yaml:"body_limit"`
	// RequireKeysOnLoopback refuses to start on a loopback address too when no API key exists.
	RequireKeysOnLoopback bool `yaml:"require_keys_on_loopback"`
	// RateLimit is each key's sustained request rate per second (0: none);
	// RateBurst how many requests it may make at once above it.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
	// DailyQuota is how many messages one key may have accepted per day (0: no quota).
	DailyQuota int `yaml:"daily_quota"`
	// MaxQueued refuses new messages while this many wait in the queue (0: no cap).
	MaxQueued int `yaml:"max_queued"`
	// DefaultValidity is the validity of a message that asks for none (0s: none, it waits).
	DefaultValidity Duration `yaml:"default_validity"`
}

// Limits returns the API's limits (the quota's day in loc).
func (a APIConfig) Limits(loc *time.Location) api.Limits {
	return api.Limits{Rate: a.RateLimit, Burst: a.RateBurst, DailyQuota: a.DailyQuota, MaxQueued: a.MaxQueued,
		DefaultValidity: a.DefaultValidity.D(), Location: loc}
}

// TLSConfig serves the API (and the web app, and /metrics on the API's
// listener) over HTTPS with a certificate and key from PEM files. Unset:
// plain HTTP, for loopback or behind a TLS-terminating reverse proxy.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether HTTPS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// DestinationsConfig is gateway.Destinations in the file.
type DestinationsConfig struct {
	AllowCountries []string `yaml:"allow_countries"`
	DenyCountries  []string `yaml:"deny_countries"`
	AllowPrefixes  []string `yaml:"allow_prefixes"`
	DenyPrefixes   []string `yaml:"deny_prefixes"`
	AllowPremium   bool     `yaml:"allow_premium"`
}

// Gateway converts c.
func (c DestinationsConfig) Gateway() *gateway.Destinations {
	return &gateway.Destinations{AllowCountries: c.AllowCountries, DenyCountries: c.DenyCountries,
		AllowPrefixes: c.AllowPrefixes, DenyPrefixes: c.DenyPrefixes, AllowPremium: c.AllowPremium}
}

// Duration is a time.Duration written as a Go duration string ("5s", "1h30m").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts only duration strings: a bare number is an error,
// not nanoseconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!int" || n.Tag == "!!float" {
		return fmt.Errorf("line %d: %q is not a duration: write it with a unit, e.g. \"5s\" or \"1h30m\"", n.Line, n.Value)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration: write it with a unit, e.g. \"5s\" or \"1h30m\"", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// DefaultConfig is the configuration before any file is read.
func DefaultConfig() Config {
	g := gateway.DefaultConfig()
	p := g.Pacing
	return Config{
		Listen:  "127.0.0.1:8080",
		Metrics: MetricsConfig{Path: "/metrics"},
		Store: StoreConfig{Driver: driverBbolt, Path: "/var/lib/simgate/simgate.db", OpenTimeout: Duration(5 * time.Second),
			Postgres: PostgresConfig{Lease: Duration(defaultLease)}},
		DefaultRegion: "US",
		Log:           LogConfig{Level: "info", Format: "text"},
		Discovery: DiscoveryConfig{
			Globs: []string{"/dev/serial/by-id/*", "/dev/ttyUSB*"},
		},
		Pacing: PacingConfig{
			MinInterval:       Duration(p.MinInterval),
			Jitter:            Duration(p.Jitter),
			PerMinute:         p.PerMinute,
			PerDay:            p.PerDay,
			NewContactsPerDay: p.NewContactsPerDay,
		},
		StickyTimeout: Duration(g.StickyTimeout),
		PreferHealthy: g.PreferHealthy,
		Retries:       RetryConfig{MaxAttempts: g.MaxAttempts, Base: Duration(g.RetryBase), Max: Duration(g.RetryMax)},
		Pause: PauseConfig{AfterFailures: g.PauseAfterFailures, CMS500Burst: g.CMS500Burst, For: Duration(g.PauseFor),
			BlockWatch: BlockWatchConfig{
				Window: g.BlockWatch.Window, ReportWait: Duration(g.BlockWatch.ReportWait),
				MinReportRatio: g.BlockWatch.MinReportRatio, BaselineReportRatio: g.BlockWatch.BaselineReportRatio,
				MaxFailedRatio: g.BlockWatch.MaxFailedRatio, PauseFor: Duration(g.BlockWatch.PauseFor),
				ReplyWindow: g.BlockWatch.ReplyWindow, ReplyWait: Duration(g.BlockWatch.ReplyWait),
				MinReplyShare: g.BlockWatch.MinReplyShare, MinExpectedReplies: g.BlockWatch.MinExpectedReplies,
			}},
		StatusReports: g.StatusReports,
		ReportWindow:  Duration(g.ReportWindow),
		Retention: RetentionConfig{
			Messages: Duration(30 * 24 * time.Hour), Events: Duration(7 * 24 * time.Hour),
			Deliveries: Duration(7 * 24 * time.Hour), UnmatchedReports: Duration(7 * 24 * time.Hour),
			Interval: Duration(10 * time.Minute), Batch: 500,
		},
		OptOut: OptOutConfig{
			StopWords:  slices.Clone(gateway.DefaultStopWords),
			StartWords: slices.Clone(gateway.DefaultStartWords),
			HelpWords:  slices.Clone(gateway.DefaultHelpWords),
			StopReply:  gateway.DefaultStopReply,
			StartReply: gateway.DefaultStartReply,
			HelpReply:  gateway.DefaultHelpReply,
		},
		API:             defaultAPIConfig(),
		Web:             defaultWebConfig(),
		Campaigns:       defaultCampaignsConfig(),
		ShutdownTimeout: Duration(10 * time.Second),
		GCHeadroom:      "32M",
	}
}

func defaultAPIConfig() APIConfig {
	l := api.DefaultLimits()
	return APIConfig{BodyLimit: "64K", RateLimit: l.Rate, RateBurst: l.Burst, DailyQuota: l.DailyQuota,
		MaxQueued: l.MaxQueued, DefaultValidity: Duration(l.DefaultValidity)}
}

// LoadConfig reads the file at path over DefaultConfig, resolves secrets
// through getenv (nil: os.Getenv) and validates the result.
func LoadConfig(path string, getenv func(string) string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(data, getenv, filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes data over DefaultConfig, resolves secrets (relative
// secret files are read from dir) and validates.
func ParseConfig(data []byte, getenv func(string) string, dir string) (Config, error) {
	cfg := DefaultConfig()
	if err := decodeStrict(data, &cfg); err != nil {
		return Config{}, err
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := cfg.resolveSecrets(getenv, dir); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// decodeStrict decodes one YAML document into v, refusing unknown keys.
// Lists in the file replace the defaults' lists.
func decodeStrict(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	// First the document as a tree, checked against v's type: unknown keys
	// and values of the wrong shape are reported in the file's words.
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("only one YAML document is allowed")
	}
	if errs := checkNode(&doc, reflect.TypeOf(v).Elem(), ""); len(errs) > 0 {
		return errors.Join(errs...)
	}
	// Then the strict decoder, which still refuses whatever the check missed.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(v); err != nil {
		return errors.New(strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n ", ""))
	}
	return nil
}

// resolveSecrets fills PINs and webhook secrets from environment variables or files.
func (c *Config) resolveSecrets(getenv func(string) string, dir string) error {
	var errs []error
	// The TLS files, like secret files, are relative to the file's directory.
	for _, f := range []*string{&c.TLS.CertFile, &c.TLS.KeyFile} {
		if *f != "" && !filepath.IsAbs(*f) && dir != "" {
			*f = filepath.Join(dir, *f)
		}
	}
	for i := range c.Modems {
		m := &c.Modems[i]
		field := fmt.Sprintf("modems[%d]", i)
		if n := countSet(m.PIN, m.PINEnv, m.PINFile); n > 1 {
			errs = append(errs, fmt.Errorf("%s: set only one of pin, pin_env and pin_file", field))
			continue
		}
		v, err := secret(field+".pin", m.PINEnv, m.PINFile, getenv, dir)
		if err != nil {
			errs = append(errs, err)
		} else if v != "" {
			m.PIN = v
		}
	}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		field := fmt.Sprintf("webhooks[%d]", i)
		if w.SecretEnv != "" && w.SecretFile != "" {
			errs = append(errs, fmt.Errorf("%s: set only one of secret_env and secret_file", field))
			continue
		}
		v, err := secret(field+".secret", w.SecretEnv, w.SecretFile, getenv, dir)
		if err == nil {
			err = checkWebhookSecret(field+".secret", v)
		}
		if err != nil {
			errs = append(errs, err)
		}
		w.Secret = v
	}
	if c.CallbackSecretEnv != "" && c.CallbackSecretFile != "" {
		errs = append(errs, errors.New("callback_secret: set only one of callback_secret_env and callback_secret_file"))
	} else if v, err := secret("callback_secret", c.CallbackSecretEnv, c.CallbackSecretFile, getenv, dir); err != nil {
		errs = append(errs, err)
	} else if err := checkWebhookSecret("callback_secret", v); err != nil {
		errs = append(errs, err)
	} else {
		c.CallbackSecret = v
	}
	if err := c.Store.resolve(getenv, dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkWebhookSecret refuses a secret that is not Standard Webhooks' "whsec_" + base64.
func checkWebhookSecret(field, v string) error {
	if v == "" {
		return nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, "whsec_"))
	if err != nil || len(key) < 16 {
		return fmt.Errorf("%s: not a Standard Webhooks secret (\"whsec_\" + base64 of at least 16 random bytes); make one with: echo whsec_$(head -c 24 /dev/urandom | base64)", field)
	}
	return nil
}

func countSet(s ...string) int {
	n := 0
	for _, v := range s {
		if v != "" {
			n++
		}
	}
	return n
}

// secret reads a secret from the environment variable env or from file.
// A file readable or writable by group or others is refused.
func secret(field, env, file string, getenv func(string) string, dir string) (string, error) {
	switch {
	case env != "":
		v := getenv(env)
		if v == "" {
			return "", fmt.Errorf("%s_env: environment variable %s is not set or empty", field, env)
		}
		return v, nil
	case file != "":
		if !filepath.IsAbs(file) && dir != "" {
			file = filepath.Join(dir, file)
		}
		fi, err := os.Stat(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", field, err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			return "", fmt.Errorf("%s_file: %s is accessible by group or others (mode %04o): run chmod 600 on it", field, file, perm)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", field, err)
		}
		v := strings.TrimSpace(string(data))
		if v == "" {
			return "", fmt.Errorf("%s_file: %s is empty", field, file)
		}
		return v, nil
	}
	return "", nil
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	regionRE = regexp.MustCompile(`^[A-Z]{2}$`)
	digitsRE = regexp.MustCompile(`^[0-9]+$`)
)

// Validate checks c and returns every problem, each naming its field
// ("modems[2].port: required").
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if err := checkAddr(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if c.Metrics.Listen != "" {
		if err := checkAddr(c.Metrics.Listen); err != nil {
			bad("metrics.listen", "%v", err)
		}
	}
	if !strings.HasPrefix(c.Metrics.Path, "/") {
		bad("metrics.path", "must start with /")
	}
	c.Store.validate(bad)
	c.Web.validate(bad)
	c.Campaigns.validate(bad)
	if !regionRE.MatchString(c.DefaultRegion) {
		bad("default_region", "%q is not a two-letter region code such as US or GB", c.DefaultRegion)
	}
	if _, err := c.Location(); err != nil {
		bad("timezone", "%v", err)
	}
	switch strings.ToLower(c.Log.Level) {
	case "debug", "info", "warn", "warning", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	names := map[string]int{}
	ports := map[string]int{}
	for i, m := range c.Modems {
		f := fmt.Sprintf("modems[%d]", i)
		switch {
		case m.Name == "":
			bad(f+".name", "required")
		case !nameRE.MatchString(m.Name):
			bad(f+".name", "%q: use letters, digits, '.', '_' and '-' (at most 63)", m.Name)
		default:
			if j, dup := names[m.Name]; dup {
				bad(f+".name", "%q is also the name of modems[%d]", m.Name, j)
			}
			names[m.Name] = i
		}
		if m.Port == "" && len(m.Globs) == 0 {
			bad(f+".port", "required (or globs with expected_imei/expected_iccid)")
		}
		if m.Port != "" {
			if !filepath.IsAbs(m.Port) {
				bad(f+".port", "%q must be an absolute path", m.Port)
			}
			if j, dup := ports[m.Port]; dup {
				bad(f+".port", "%q is also the port of modems[%d]", m.Port, j)
			}
			ports[m.Port] = i
		}
		for k, g := range m.Globs {
			if _, err := filepath.Match(g, ""); err != nil {
				bad(fmt.Sprintf("%s.globs[%d]", f, k), "%q: %v", g, err)
			}
		}
		if m.Port == "" && len(m.Globs) > 0 && m.ExpectedIMEI == "" && m.ExpectedICCID == "" {
			bad(f+".globs", "a modem found by globs needs expected_imei or expected_iccid to tell it apart")
		}
		if m.ExpectedIMEI != "" && (!digitsRE.MatchString(m.ExpectedIMEI) || len(m.ExpectedIMEI) < 14 || len(m.ExpectedIMEI) > 16) {
			bad(f+".expected_imei", "%q is not 14-16 digits", m.ExpectedIMEI)
		}
		if m.ExpectedICCID != "" && (!digitsRE.MatchString(strings.TrimSuffix(strings.ToUpper(m.ExpectedICCID), "F")) || len(m.ExpectedICCID) < 18 || len(m.ExpectedICCID) > 22) {
			bad(f+".expected_iccid", "%q is not 18-22 digits", m.ExpectedICCID)
		}
		if m.PIN != "" && (!digitsRE.MatchString(m.PIN) || len(m.PIN) < 4 || len(m.PIN) > 8) {
			bad(f+".pin", "must be 4-8 digits")
		}
		if m.Baud < 0 {
			bad(f+".baud", "must not be negative")
		}
		for k, g := range m.Groups {
			if !nameRE.MatchString(g) {
				bad(fmt.Sprintf("%s.groups[%d]", f, k), "%q: use letters, digits, '.', '_' and '-'", g)
			}
			if _, clash := names[g]; clash {
				bad(fmt.Sprintf("%s.groups[%d]", f, k), "%q is also a modem name", g)
			}
		}
		validatePacing(f+".pacing", m.Pacing.Apply(c.Pacing), bad)
		if b := m.Balance; b != nil {
			switch {
			case !balanceCodeRE.MatchString(b.Code):
				bad(f+".balance.code", "%q: a USSD code of digits, * and # (at most 32), e.g. *100#", b.Code)
			case b.Every != 0 && b.Every.D() < time.Minute:
				bad(f+".balance.every", "must be at least 1m")
			case b.Low < 0:
				bad(f+".balance.low", "must not be negative")
			}
			if b.Amount != "" {
				if _, err := regexp.Compile(b.Amount); err != nil {
					bad(f+".balance.amount", "not a regular expression: %v", err)
				}
			}
		}
	}
	if c.Discovery.Enabled && len(c.Discovery.Globs) == 0 {
		bad("discovery.globs", "required when discovery is enabled")
	}
	for k, g := range c.Discovery.Globs {
		if _, err := filepath.Match(g, ""); err != nil {
			bad(fmt.Sprintf("discovery.globs[%d]", k), "%q: %v", g, err)
		}
	}
	if c.Discovery.Interval < 0 {
		bad("discovery.interval", "must not be negative")
	}
	validatePacing("pacing", c.Pacing, bad)
	if c.PreferHealthy < 0 || c.PreferHealthy > 1 {
		bad("prefer_healthy", "must be between 0 (off) and 1")
	}
	if c.StickyTimeout <= 0 {
		bad("sticky_timeout", "must be positive")
	}
	if c.Retries.MaxAttempts < 1 {
		bad("retries.max_attempts", "must be at least 1")
	}
	if c.Retries.Base <= 0 {
		bad("retries.base", "must be positive")
	}
	if c.Retries.Max < c.Retries.Base {
		bad("retries.max", "must be at least retries.base (%s)", c.Retries.Base)
	}
	if c.Pause.AfterFailures < 0 {
		bad("pause.after_failures", "must not be negative (0: never pause)")
	}
	if c.Pause.CMS500Burst < 0 {
		bad("pause.cms500_burst", "must not be negative (0: never pause)")
	}
	if c.Pause.For <= 0 {
		bad("pause.for", "must be positive")
	}
	if err := c.Pause.BlockWatch.gateway().Validate(); err != nil {
		var ie *gateway.ValidationError
		if errors.As(err, &ie) {
			bad("pause."+ie.Field, "%s", ie.Reason)
		} else {
			bad("pause.block_watch", "%v", err)
		}
	}
	guard := webhook.Guard{Allow: c.WebhookAllowPrefixes()}
	for i, w := range c.Webhooks {
		f := fmt.Sprintf("webhooks[%d]", i)
		if w.URL == "" {
			bad(f+".url", "required")
		} else if err := guard.CheckURL(w.URL); err != nil {
			bad(f+".url", "%q %v", w.URL, err)
		}
		for k, e := range w.Events {
			if !gateway.EventType(e).Known() {
				bad(fmt.Sprintf("%s.events[%d]", f, k), "%q is not an event type (one of %s)", e, eventList())
			}
		}
		if w.SecretEnv == "" && w.SecretFile == "" {
			bad(f, "secret_env or secret_file required (receivers verify signatures with it)")
		}
	}
	for i, a := range c.WebhookAllow {
		if _, err := netip.ParsePrefix(a); err != nil {
			bad(fmt.Sprintf("webhook_allow[%d]", i), "%q is not a CIDR such as 10.0.0.0/8", a)
		}
	}
	for _, l := range []struct {
		field string
		words []string
	}{{"optout.stop_words", c.OptOut.StopWords}, {"optout.start_words", c.OptOut.StartWords}, {"optout.help_words", c.OptOut.HelpWords}} {
		for k, w := range l.words {
			if strings.TrimSpace(w) == "" {
				bad(fmt.Sprintf("%s[%d]", l.field, k), "must not be empty")
			}
		}
	}
	if len(c.OptOut.StopWords) == 0 {
		bad("optout.stop_words", "required: opt-outs are binding (TCPA)")
	}
	if strings.TrimSpace(c.OptOut.StopReply) == "" {
		bad("optout.stop_reply", `required ("-" sends no confirmation)`)
	}
	if _, err := parseSize(c.GCHeadroom); err != nil {
		bad("gc_headroom", "%v", err)
	}
	if n, err := parseSize(c.API.BodyLimit); err != nil {
		bad("api.body_limit", "%v", err)
	} else if n < 1024 {
		bad("api.body_limit", "must be at least 1K")
	}
	if err := c.Destinations.Gateway().Validate(); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			errs = append(errs, fmt.Errorf("destinations.%s", e))
		}
	}
	if c.TLS.Enabled() {
		if c.TLS.CertFile == "" {
			bad("tls.cert_file", "required with tls.key_file")
		}
		if c.TLS.KeyFile == "" {
			bad("tls.key_file", "required with tls.cert_file")
		}
	}
	if c.API.RateLimit < 0 {
		bad("api.rate_limit", "must not be negative (0: no rate limit)")
	}
	if c.API.RateLimit > 0 && c.API.RateBurst < 1 {
		bad("api.rate_burst", "must be at least 1 with a rate limit")
	}
	if c.API.DailyQuota < 0 {
		bad("api.daily_quota", "must not be negative (0: no quota)")
	}
	if c.API.MaxQueued < 0 {
		bad("api.max_queued", "must not be negative (0: no cap)")
	}
	if c.API.DefaultValidity < 0 || c.API.DefaultValidity.D() > gateway.MaxValidity {
		bad("api.default_validity", "must be from 0s (none) to %s", gateway.MaxValidity)
	}
	if c.ReportWindow <= 0 {
		bad("report_window", "must be positive")
	}
	for _, r := range []struct {
		f string
		v Duration
	}{{"messages", c.Retention.Messages}, {"events", c.Retention.Events}, {"deliveries", c.Retention.Deliveries}, {"unmatched_reports", c.Retention.UnmatchedReports}} {
		if r.v < 0 {
			bad("retention."+r.f, "must not be negative (0 keeps forever)")
		}
	}
	if c.Retention.Interval <= 0 {
		bad("retention.interval", "must be positive")
	}
	if c.Retention.Batch < 1 || c.Retention.Batch > 5000 {
		bad("retention.batch", "must be between 1 and 5000")
	}
	if c.ShutdownTimeout <= 0 {
		bad("shutdown_timeout", "must be positive")
	}
	return errors.Join(errs...)
}

func validatePacing(f string, p PacingConfig, bad func(string, string, ...any)) {
	if p.MinInterval < 0 {
		bad(f+".min_interval", "must not be negative")
	}
	if p.Jitter < 0 {
		bad(f+".jitter", "must not be negative")
	}
	if p.PerMinute < 0 {
		bad(f+".per_minute", "must not be negative (0: no cap)")
	}
	if p.PerDay < 0 {
		bad(f+".per_day", "must not be negative (0: no cap)")
	}
	if p.NewContactsPerDay < 0 {
		bad(f+".new_contacts_per_day", "must not be negative (0: no cap)")
	}
}

func eventList() string {
	known := gateway.EventTypes()
	s := make([]string, len(known))
	for i, e := range known {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: host must be an IP address, localhost or empty (all interfaces)", addr)
		}
	}
	if port == "" {
		return fmt.Errorf("%q: port required", addr)
	}
	return nil
}

// WebhookAllowPrefixes returns webhook_allow parsed (entries that do not
// parse are left out; Validate reports them).
func (c *Config) WebhookAllowPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, a := range c.WebhookAllow {
		if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Location is the time zone daily budgets roll over in.
func (c *Config) Location() (*time.Location, error) {
	if c.Timezone == "" || c.Timezone == "Local" {
		return time.Local, nil
	}
	return time.LoadLocation(c.Timezone)
}

// IsLoopback reports whether addr listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ModemPacing is the pacing of the modem named name: the defaults with its overrides.
func (c *Config) ModemPacing(m ModemConfig) PacingConfig { return m.Pacing.Apply(c.Pacing) }

// Gateway returns the dispatcher's configuration. The logger and registerer
// are the caller's.
func (c *Config) Gateway() gateway.Config {
	g := gateway.DefaultConfig()
	g.DefaultRegion = c.DefaultRegion
	g.Pacing = c.Pacing.Gateway()
	g.StickyTimeout = c.StickyTimeout.D()
	g.PreferHealthy = c.PreferHealthy
	g.MaxAttempts = c.Retries.MaxAttempts
	g.RetryBase = c.Retries.Base.D()
	g.RetryMax = c.Retries.Max.D()
	g.PauseAfterFailures = c.Pause.AfterFailures
	g.CMS500Burst = c.Pause.CMS500Burst
	g.PauseFor = c.Pause.For.D()
	g.BlockWatch = c.Pause.BlockWatch.gateway()
	g.ReportWindow = c.ReportWindow.D()
	g.StatusReports = c.StatusReports
	g.Destinations = c.Destinations.Gateway()
	g.Location, _ = c.Location() // validated
	return g
}

// GatewayModem returns how the dispatcher uses modem m.
func (c *Config) GatewayModem(m ModemConfig) gateway.ModemConfig {
	mc := gateway.ModemConfig{Name: m.Name, Groups: slices.Clone(m.Groups)}
	if !m.Pacing.IsZero() {
		p := c.ModemPacing(m).Gateway()
		mc.Pacing = &p
	}
	return mc
}

// parseSize parses "65536", "64K", "64KB", "1M", "1G".
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "K"):
		mult, t = 1<<10, strings.TrimSuffix(t, "K")
	case strings.HasSuffix(t, "M"):
		mult, t = 1<<20, strings.TrimSuffix(t, "M")
	case strings.HasSuffix(t, "G"):
		mult, t = 1<<30, strings.TrimSuffix(t, "G")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return 0, fmt.Errorf("%q is not a size such as 64K or 1M", s)
	}
	return n * mult, nil
}

// gateway is b as the dispatcher takes it.
func (b BlockWatchConfig) gateway() gateway.BlockWatchConfig {
	return gateway.BlockWatchConfig{
		Window: b.Window, ReportWait: b.ReportWait.D(),
		MinReportRatio: b.MinReportRatio, BaselineReportRatio: b.BaselineReportRatio,
		MaxFailedRatio: b.MaxFailedRatio, PauseFor: b.PauseFor.D(),
		ReplyWindow: b.ReplyWindow, ReplyWait: b.ReplyWait.D(),
		MinReplyShare: b.MinReplyShare, MinExpectedReplies: b.MinExpectedReplies,
	}
}
