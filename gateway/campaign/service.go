package campaign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// Sender queues an outbound message. gateway.Dispatcher implements it.
type Sender interface {
	Submit(ctx context.Context, req gateway.SendRequest) (*gateway.Message, error)
}

// MessageReader reads gateway messages (for delivery status). gateway.MessageStore has it.
type MessageReader interface {
	GetMessage(ctx context.Context, id string) (*gateway.Message, error)
}

// OptOuts is the organisation's suppression list. gateway.OptOutStore has it.
type OptOuts interface {
	OptedOut(ctx context.Context, number string) (bool, error)
	AddOptOut(ctx context.Context, o gateway.OptOut) error
	// ListOptOuts lists entries ordered by number, after the given one.
	ListOptOuts(ctx context.Context, after string, limit int) ([]gateway.OptOut, error)
}

// Fleet tells a modem's own number (for exports). gateway.Dispatcher has it.
type Fleet interface {
	Modems() []gateway.ModemView
}

// Deps are what the Service works with. Store, Sender, Messages and
// OptOuts are required; Events (opt-outs made from a conversation are
// emitted as gateway events, for webhooks) and Fleet may be nil.
type Deps struct {
	Store    Store
	Sender   Sender
	Messages MessageReader
	OptOuts  OptOuts
	Events   gateway.Emitter
	Fleet    Fleet
}

// Config configures a Service. Zero fields take the defaults noted.
type Config struct {
	// DefaultRegion normalises imported numbers without a country code ("US").
	DefaultRegion string
	// Hours is the widest texting window (default DefaultHours); campaigns
	// may only narrow it. Its TimeZone is a new campaign's zone.
	Hours Hours
	// OptOutPhrases: a first message must contain one (default DefaultOptOutPhrases).
	OptOutPhrases []string
	// OptOutReply confirms an opt-out made from a conversation (default gateway.DefaultStopReply).
	OptOutReply string
	Logger      *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the campaign workflow. Every method is safe for concurrent use.
type Service struct {
	cfg   Config
	st    Store
	send  Sender
	msgs  MessageReader
	opt   OptOuts
	em    gateway.Emitter
	fleet Fleet
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	imports map[string]string // campaign ID → import ID running in this process
}

// New returns a Service.
func New(cfg Config, deps Deps) (*Service, error) {
	switch {
	case deps.Store == nil:
		return nil, errors.New("campaign: nil Deps.Store")
	case deps.Sender == nil:
		return nil, errors.New("campaign: nil Deps.Sender")
	case deps.Messages == nil:
		return nil, errors.New("campaign: nil Deps.Messages")
	case deps.OptOuts == nil:
		return nil, errors.New("campaign: nil Deps.OptOuts")
	}
	if cfg.Hours.Start == "" {
		cfg.Hours.Start = DefaultHours.Start
	}
	if cfg.Hours.End == "" {
		cfg.Hours.End = DefaultHours.End
	}
	if cfg.Hours.TimeZone == "" {
		cfg.Hours.TimeZone = DefaultHours.TimeZone
	}
	if err := cfg.Hours.validate(Hours{Start: "00:00", End: "24:00"}); err != nil {
		return nil, fmt.Errorf("campaign config: %w", err)
	}
	if len(cfg.OptOutPhrases) == 0 {
		cfg.OptOutPhrases = DefaultOptOutPhrases
	}
	if cfg.OptOutReply == "" {
		cfg.OptOutReply = gateway.DefaultStopReply
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		cfg: cfg, st: deps.Store, send: deps.Sender, msgs: deps.Messages, opt: deps.OptOuts,
		em: deps.Events, fleet: deps.Fleet, log: cfg.Logger, now: cfg.Now,
		imports: map[string]string{},
	}, nil
}

// Spec is a new campaign as an organiser writes it. Zero Hours take the
// configured window and zone; zero BatchSize takes DefaultBatchSize.
type Spec struct {
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	OrgName     string   `json:"org_name,omitempty"`
	ModemGroup  string   `json:"modem_group,omitempty"`
	Hours       *Hours   `json:"hours,omitempty"`
	Script      string   `json:"script,omitempty"`
	Survey      Survey   `json:"survey,omitzero"`
	Canned      []Canned `json:"canned,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	BatchSize   int      `json:"batch_size,omitempty"`
	// Fields declares custom merge fields before a file brings them
	// (imports add their columns too).
	Fields []string `json:"fields,omitempty"`
}

// Patch changes some fields of a campaign (nil = unchanged).
type Patch struct {
	Title       *string   `json:"title,omitempty"`
	Description *string   `json:"description,omitempty"`
	OrgName     *string   `json:"org_name,omitempty"`
	ModemGroup  *string   `json:"modem_group,omitempty"`
	Hours       *Hours    `json:"hours,omitempty"`
	Script      *string   `json:"script,omitempty"`
	Survey      *Survey   `json:"survey,omitempty"`
	Canned      *[]Canned `json:"canned,omitempty"`
	Tags        *[]string `json:"tags,omitempty"`
	BatchSize   *int      `json:"batch_size,omitempty"`
	// Fields adds custom merge fields (existing ones stay).
	Fields []string `json:"fields,omitempty"`
}

func organiser(a Actor) error {
	if !a.Organiser {
		return ErrForbidden
	}
	return nil
}

func knownFields(c *Campaign) map[string]bool {
	m := make(map[string]bool, len(c.Fields))
	for _, f := range c.Fields {
		m[f] = true
	}
	return m
}

// Create stores a new draft campaign. Organisers only.
func (s *Service) Create(ctx context.Context, a Actor, sp Spec) (*Campaign, error) {
	if err := organiser(a); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c := &Campaign{
		ID: ulid.Make().String(), Title: strings.TrimSpace(sp.Title), Description: sp.Description,
		OrgName: strings.TrimSpace(sp.OrgName), ModemGroup: sp.ModemGroup, State: StateDraft,
		Hours: s.cfg.Hours, Script: sp.Script, Survey: sp.Survey, Canned: sp.Canned, Tags: sp.Tags,
		BatchSize: sp.BatchSize, NextContactID: 1, CreatedBy: a.ID, CreatedAt: now, UpdatedAt: now,
	}
	for _, f := range sp.Fields {
		if err := addField(c, f); err != nil {
			return nil, err
		}
	}
	if sp.Hours != nil {
		c.Hours = *sp.Hours
		if c.Hours.TimeZone == "" {
			c.Hours.TimeZone = s.cfg.Hours.TimeZone
		}
	}
	if c.Script != "" {
		c.ScriptVersion = 1
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if err := c.validate(knownFields(c), s.cfg.Hours); err != nil {
		return nil, err
	}
	if err := s.st.CreateCampaign(ctx, c); err != nil {
		return nil, fmt.Errorf("create campaign: %w", err)
	}
	s.event(ctx, Event{CampaignID: c.ID, Type: EventCreated, Actor: a.ID, At: now, Value: c.Title})
	return c, nil
}

// Campaign returns one campaign. Anyone may read it.
func (s *Service) Campaign(ctx context.Context, id string) (*Campaign, error) {
	return s.st.Campaign(ctx, id)
}

// Campaigns lists every campaign, oldest first.
func (s *Service) Campaigns(ctx context.Context) ([]*Campaign, error) {
	return s.st.Campaigns(ctx)
}

// Update applies p. A draft may change anything; an active or paused one
// all but org name, modem group and script, which may change only while
// paused (each script change is a new ScriptVersion); an archived one
// nothing. Organisers only.
func (s *Service) Update(ctx context.Context, a Actor, id string, p Patch) (*Campaign, error) {
	if err := organiser(a); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c, err := s.st.UpdateCampaign(ctx, id, func(c *Campaign) error {
		switch c.State {
		case StateArchived:
			return fmt.Errorf("an archived campaign cannot change: %w", ErrState)
		case StateActive:
			if p.OrgName != nil || p.ModemGroup != nil || p.Script != nil {
				return fmt.Errorf("pause the campaign to change its org name, modem group or script: %w", ErrState)
			}
		}
		set(&c.Title, p.Title)
		set(&c.Description, p.Description)
		set(&c.OrgName, p.OrgName)
		set(&c.ModemGroup, p.ModemGroup)
		if p.Hours != nil {
			c.Hours = *p.Hours
			if c.Hours.TimeZone == "" {
				c.Hours.TimeZone = s.cfg.Hours.TimeZone
			}
		}
		if p.Script != nil && *p.Script != c.Script {
			c.Script = *p.Script
			c.ScriptVersion++
		}
		set(&c.Survey, p.Survey)
		set(&c.Canned, p.Canned)
		set(&c.Tags, p.Tags)
		set(&c.BatchSize, p.BatchSize)
		for _, f := range p.Fields {
			if err := addField(c, f); err != nil {
				return err
			}
		}
		if c.BatchSize == 0 {
			c.BatchSize = DefaultBatchSize
		}
		c.Title = strings.TrimSpace(c.Title)
		c.OrgName = strings.TrimSpace(c.OrgName)
		if err := c.validate(knownFields(c), s.cfg.Hours); err != nil {
			return err
		}
		c.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.event(ctx, Event{CampaignID: id, Type: EventUpdated, Actor: a.ID, At: now, ScriptVersion: c.ScriptVersion})
	return c, nil
}

// addField declares custom merge field f on c.
func addField(c *Campaign, f string) error {
	f = strings.TrimSpace(f)
	switch {
	case f == "" || len(f) > maxFieldName || strings.ContainsAny(f, "{}|"):
		return Invalid("fields", "%q is not a field name (1 to %d characters, no braces or |)", f, maxFieldName)
	case isStandard(f):
		return Invalid("fields", "%q is a standard field", f)
	case len(c.Fields) >= MaxColumns:
		return Invalid("fields", "at most %d", MaxColumns)
	}
	if !hasString(c.Fields, f) {
		c.Fields = append(c.Fields, f)
	}
	return nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// SetState moves the campaign to state to (see State). Starting or
// resuming runs the compliance check: the refusal is a *ComplianceError.
// Organisers only.
func (s *Service) SetState(ctx context.Context, a Actor, id string, to State) (*Campaign, error) {
	if err := organiser(a); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var from State
	c, err := s.st.UpdateCampaign(ctx, id, func(c *Campaign) error {
		from = c.State
		if c.State == to {
			return nil
		}
		if !c.State.CanMove(to) {
			return fmt.Errorf("a %s campaign cannot become %s: %w", c.State, to, ErrState)
		}
		if to == StateActive {
			if err := CheckCompliance(c.Script, c.OrgName, s.cfg.OptOutPhrases); err != nil {
				return err
			}
			if c.StartedAt.IsZero() {
				c.StartedAt = now
			}
		}
		c.State = to
		c.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, err
	}
	if from != to {
		s.event(ctx, Event{CampaignID: id, Type: EventState, Actor: a.ID, At: now, Value: string(to), Previous: string(from)})
	}
	return c, nil
}

// Compliance runs the start check on campaign id without changing it.
func (s *Service) Compliance(ctx context.Context, id string) error {
	c, err := s.st.Campaign(ctx, id)
	if err != nil {
		return err
	}
	return CheckCompliance(c.Script, c.OrgName, s.cfg.OptOutPhrases)
}

// PutTexter records a texter's display name. A texter may set their own;
// organisers anyone's.
func (s *Service) PutTexter(ctx context.Context, a Actor, t Texter) error {
	t.ID, t.Name = strings.TrimSpace(t.ID), strings.TrimSpace(t.Name)
	if t.ID == "" {
		t.ID = a.ID
	}
	if t.ID != a.ID && !a.Organiser {
		return ErrForbidden
	}
	if t.Name == "" || len(t.Name) > 100 {
		return Invalid("name", "must be 1 to 100 characters")
	}
	return s.st.PutTexter(ctx, t)
}

// texter returns the stored texter of a, or one made from a.
func (s *Service) texter(ctx context.Context, id, name string) Texter {
	t, err := s.st.Texter(ctx, id)
	if err == nil {
		return t
	}
	if name == "" {
		name = id
	}
	return Texter{ID: id, Name: name}
}

// event stores one event; a failure is logged (the act itself is done).
func (s *Service) event(ctx context.Context, e Event) {
	if e.ID == "" {
		e.ID = ulid.Make().String()
	}
	if err := s.st.AppendEvents(ctx, []Event{e}); err != nil {
		s.log.Error("campaign event not stored", "type", string(e.Type), "campaign", e.CampaignID, "err", err)
	}
}

// contactFor loads campaign id and its contact, checking a may act on it.
func (s *Service) contactFor(ctx context.Context, a Actor, id string, contactID int64) (*Campaign, *Contact, error) {
	c, err := s.st.Campaign(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ct, err := s.st.Contact(ctx, id, contactID)
	if err != nil {
		return nil, nil, err
	}
	if !c.Visible(ct.ID) {
		return nil, nil, fmt.Errorf("contact %d: %w", contactID, gateway.ErrNotFound)
	}
	if !a.Organiser && ct.Texter != a.ID {
		return nil, nil, ErrNotAssigned
	}
	return c, ct, nil
}

// Contact returns one contact (a texter: only their own).
func (s *Service) Contact(ctx context.Context, a Actor, id string, contactID int64) (*Contact, error) {
	_, ct, err := s.contactFor(ctx, a, id, contactID)
	return ct, err
}

// Contacts lists contacts f selects (a texter: only their own, whatever f says).
func (s *Service) Contacts(ctx context.Context, a Actor, id string, f ContactFilter) ([]*Contact, error) {
	c, err := s.st.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.Organiser {
		f.Texter, f.Unassigned = a.ID, false
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 1000
	}
	var out []*Contact
	err = s.st.Contacts(ctx, id, f, func(ct *Contact) error {
		if c.Visible(ct.ID) {
			out = append(out, ct)
		}
		return nil
	})
	return out, err
}

// Events lists the evidence of one contact (0: the campaign's own events).
// A texter sees only their own contacts' events.
func (s *Service) Events(ctx context.Context, a Actor, id string, contactID int64) ([]Event, error) {
	if contactID != 0 {
		if _, _, err := s.contactFor(ctx, a, id, contactID); err != nil {
			return nil, err
		}
	} else if err := organiser(a); err != nil {
		return nil, err
	}
	var out []Event
	err := s.st.CampaignEvents(ctx, id, contactID, func(e Event) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// hasString reports whether list holds v.
func hasString(list []string, v string) bool { return slices.Contains(list, v) }
