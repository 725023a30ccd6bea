package api

import (
	"time"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/balance"
)

// MessageView is a message as the API shows it (openapi.yaml: Message).
// It leaves out the PDUs, the request hash and the scoped idempotency key.
type MessageView struct {
	ID            string                 `json:"id"`
	Direction     gateway.Direction      `json:"direction"`
	Status        gateway.Status         `json:"status"`
	Contact       string                 `json:"contact"`
	ContactRaw    string                 `json:"contact_raw,omitempty"`
	From          string                 `json:"from,omitempty"`
	Modem         string                 `json:"modem,omitempty"`
	Agent         string                 `json:"agent,omitempty"`
	Body          string                 `json:"body"`
	Encoding      string                 `json:"encoding,omitempty"`
	Segments      int                    `json:"segments"`
	Priority      int                    `json:"priority"`
	SendAt        *time.Time             `json:"send_at,omitempty"`
	ExpiresAt     *time.Time             `json:"expires_at,omitempty"`
	TextingWindow *gateway.TextingWindow `json:"texting_window,omitempty"`
	Metadata      map[string]string      `json:"metadata,omitempty"`
	CallbackURL   string                 `json:"callback_url,omitempty"`
	AtLeastOnce   bool                   `json:"at_least_once"`
	StatusReport  bool                   `json:"status_report"`
	ErrorCode     int                    `json:"error_code,omitempty"`
	Error         string                 `json:"error,omitempty"`
	Parts         []PartView             `json:"parts"`
	APIKeyID      string                 `json:"api_key_id,omitempty"`
	CreatedAt     time.Time              `json:"created_at"`
	UpdatedAt     time.Time              `json:"updated_at"`
	NextAttempt   *time.Time             `json:"next_attempt_at,omitempty"`
	// Waiting says why a queued message has not left yet (GET of one message).
	Waiting string     `json:"waiting,omitempty"`
	SentAt  *time.Time `json:"sent_at,omitempty"`
}

// PartView is one SMS part of a message.
type PartView struct {
	Seq          int               `json:"seq"`
	State        gateway.PartState `json:"state"`
	Modem        string            `json:"modem,omitempty"`
	MR           *int              `json:"mr,omitempty"`
	Attempts     int               `json:"attempts"`
	ErrorCode    int               `json:"error_code,omitempty"`
	ErrorClass   string            `json:"error_class,omitempty"`
	Error        string            `json:"error,omitempty"`
	ReportStatus *int              `json:"report_status,omitempty"`
	UpdatedAt    time.Time         `json:"updated_at"`
	SubmittedAt  *time.Time        `json:"submitted_at,omitempty"`
	DeliveredAt  *time.Time        `json:"delivered_at,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func intPtr(n int) *int {
	if n < 0 {
		return nil
	}
	return &n
}

func viewMessage(m *gateway.Message) MessageView {
	v := MessageView{
		ID:            m.ID,
		Direction:     m.Direction,
		Status:        m.Status,
		Contact:       m.Contact,
		ContactRaw:    m.ContactRaw,
		From:          m.From,
		Modem:         m.Modem,
		Agent:         m.Agent,
		Body:          m.Body,
		Encoding:      m.Encoding,
		Segments:      m.Segments,
		Priority:      m.Priority,
		SendAt:        timePtr(m.SendAt),
		ExpiresAt:     timePtr(m.ExpiresAt),
		TextingWindow: m.TextingWindow,
		Metadata:      m.Metadata,
		CallbackURL:   m.CallbackURL,
		AtLeastOnce:   m.AtLeastOnce,
		StatusReport:  m.StatusReport,
		ErrorCode:     m.ErrorCode,
		Error:         m.Error,
		Parts:         make([]PartView, 0, len(m.Parts)),
		APIKeyID:      m.APIKeyID,
		CreatedAt:     m.CreatedAt.UTC(),
		UpdatedAt:     m.UpdatedAt.UTC(),
		NextAttempt:   timePtr(m.NextAttemptAt),
		SentAt:        timePtr(m.SentAt),
	}
	for _, p := range m.Parts {
		v.Parts = append(v.Parts, PartView{
			Seq:          p.Seq,
			State:        p.State,
			Modem:        p.Modem,
			MR:           intPtr(p.MR),
			Attempts:     p.Attempts,
			ErrorCode:    p.ErrorCode,
			ErrorClass:   p.ErrorClass,
			Error:        p.Error,
			ReportStatus: intPtr(p.ReportStatus),
			UpdatedAt:    p.UpdatedAt.UTC(),
			SubmittedAt:  timePtr(p.SubmittedAt),
			DeliveredAt:  timePtr(p.DeliveredAt),
		})
	}
	return v
}

// MessagePage is a page of messages (openapi.yaml: MessagePage).
type MessagePage struct {
	Data       []MessageView `json:"data"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// ConversationPage is a page of one contact's messages, oldest first.
type ConversationPage struct {
	Contact    string        `json:"contact"`
	Data       []MessageView `json:"data"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// ModemView is a modem as the API shows it: the gateway's view plus the
// signal in dBm and the registration by name.
type ModemView struct {
	gateway.ModemView
	SignalDBm    *int            `json:"signal_dbm,omitempty"`
	Registration string          `json:"registration"`
	Usable       bool            `json:"usable"`
	Balance      *balance.Result `json:"balance,omitempty"`
}

func (s *Server) viewModem(m gateway.ModemView) ModemView {
	v := ModemView{ModemView: m, Registration: m.Status.Registration.String(), Usable: m.Usable}
	if s.balances != nil {
		if b, ok := s.balances.Last(m.Name); ok {
			v.Balance = &b
		}
	}
	if dbm, ok := m.Status.SignalDBm(); ok {
		v.SignalDBm = &dbm
	}
	if v.Groups == nil {
		v.Groups = []string{}
	}
	return v
}

// ModemList is the answer of GET /v1/modems.
type ModemList struct {
	Data []ModemView `json:"data"`
}

// OptOutPage is a page of the suppression list, ordered by number.
type OptOutPage struct {
	Data       []gateway.OptOut `json:"data"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// OptOutImport is the answer of POST /v1/optouts.
type OptOutImport struct {
	Added   int      `json:"added"`
	Numbers []string `json:"numbers"`
}

// WebhookView is a webhook endpoint; Secret is only set in the answer that
// created it.
type WebhookView struct {
	ID        string              `json:"id"`
	URL       string              `json:"url"`
	Events    []gateway.EventType `json:"events"`
	Source    string              `json:"source"`
	CreatedAt time.Time           `json:"created_at"`
	Secret    string              `json:"secret,omitempty"`
}

func viewWebhook(w gateway.Webhook) WebhookView {
	ev := w.Events
	if ev == nil {
		ev = []gateway.EventType{}
	}
	return WebhookView{ID: w.ID, URL: w.URL, Events: ev, Source: w.Source, CreatedAt: w.CreatedAt.UTC()}
}

// WebhookList is the answer of GET /v1/webhooks.
type WebhookList struct {
	Data []WebhookView `json:"data"`
}
