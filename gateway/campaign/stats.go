package campaign

import (
	"context"

	"github.com/simgate/simgate/gateway"
)

// Stats is a campaign's progress.
type Stats struct {
	Contacts ContactCounts `json:"contacts"`
	Messages MessageCounts `json:"messages"`
	// Replied counts contacts who replied at least once; ReplyRate is
	// Replied / contacts messaged, OptOutRate opted out / contacts messaged.
	Replied int `json:"replied"`
	// OptedOutAfterMessage counts messaged contacts who then opted out.
	OptedOutAfterMessage int                      `json:"opted_out_after_message"`
	ReplyRate            float64                  `json:"reply_rate"`
	OptOutRate           float64                  `json:"opt_out_rate"`
	ByTexter             map[string]MessageCounts `json:"by_texter"`
	BySIM                map[string]MessageCounts `json:"by_sim"`
}

// MessageCounts counts messages by outcome.
type MessageCounts struct {
	Sent      int `json:"sent"` // outbound accepted (any status)
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"` // failed, expired or unknown
	Queued    int `json:"queued"` // not yet submitted
	Received  int `json:"received"`
}

func (mc *MessageCounts) add(m *Message) {
	if m.Direction == string(gateway.Inbound) {
		mc.Received++
		return
	}
	mc.Sent++
	switch gateway.Status(m.Status) {
	case gateway.StatusDelivered:
		mc.Delivered++
	case gateway.StatusFailed, gateway.StatusExpired, gateway.StatusUnknown, gateway.StatusCancelled:
		mc.Failed++
	case gateway.StatusQueued, gateway.StatusSending:
		mc.Queued++
	}
}

// Stats counts the campaign's contacts and messages. Organisers only.
func (s *Service) Stats(ctx context.Context, a Actor, id string) (*Stats, error) {
	if err := organiser(a); err != nil {
		return nil, err
	}
	if _, err := s.st.Campaign(ctx, id); err != nil {
		return nil, err
	}
	cc, err := s.st.CountContacts(ctx, id)
	if err != nil {
		return nil, err
	}
	st := &Stats{Contacts: cc, ByTexter: map[string]MessageCounts{}, BySIM: map[string]MessageCounts{}}
	replied := map[int64]bool{}
	messaged := map[int64]bool{}
	err = s.st.CampaignMessages(ctx, id, 0, func(m *Message) error {
		st.Messages.add(m)
		if m.Texter != "" {
			t := st.ByTexter[m.Texter]
			t.add(m)
			st.ByTexter[m.Texter] = t
		}
		if m.Modem != "" {
			sm := st.BySIM[m.Modem]
			sm.add(m)
			st.BySIM[m.Modem] = sm
		}
		if m.Direction == string(gateway.Inbound) {
			replied[m.ContactID] = true
		} else if m.Step == StepFirst {
			messaged[m.ContactID] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st.Replied = len(replied)
	if n := len(messaged); n > 0 {
		st.ReplyRate = float64(st.Replied) / float64(n)
		optedOut := 0
		err = s.st.Contacts(ctx, id, ContactFilter{Status: StatusOptedOut}, func(ct *Contact) error {
			if messaged[ct.ID] {
				optedOut++
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		st.OptedOutAfterMessage = optedOut
		st.OptOutRate = float64(optedOut) / float64(n)
	}
	return st, nil
}
