package gateway

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventData is the type-specific part of an Event. Each event type has one
// payload type (see the table below); Event.Data is nil for an event that
// carries nothing (message.delivered, a modem.resumed by hand). A stored
// event is decoded back into its payload type (Event.UnmarshalJSON), so a
// reader switches on the type, never on map keys.
//
//	message.received           *Message
//	message.sent               MessageSentData
//	message.delivered          nil
//	message.failed             MessageFailedData
//	message.unknown            MessageUnknownData
//	message.expired            MessageExpiredData
//	message.unconfirmed        nil
//	optout.added, .removed     OptOut
//	modem.up                   ModemUpData
//	modem.down                 ModemDownData
//	modem.paused               ModemPausedData
//	modem.resumed              ModemResumedData
//	modem.block_suspected      BlockSuspectedData
//
// The JSON of each type is what the webhooks have always received: the
// same keys as the maps that came before, except that zero error codes and
// empty strings are left out.
type EventData interface {
	eventData()
}

// MessageSentData: every part of the message was submitted.
type MessageSentData struct {
	Segments int `json:"segments"`
}

// MessageFailedData: the message failed for good. Reason "opted_out" (with
// Status) when the contact opted out before it was sent; otherwise the
// failure of the last part: its +CMS/+CME code or the status report's
// TP-ST, its class (SendError.Class, or "report") and the error.
type MessageFailedData struct {
	Status     Status `json:"status,omitempty"`
	Reason     string `json:"reason,omitempty"`
	ErrorCode  int    `json:"error_code,omitempty"`
	ErrorClass string `json:"error_class,omitempty"`
	Error      string `json:"error,omitempty"`
}

// MessageUnknownData: a part's fate cannot be known (a timeout after the PDU went
// out, or a restart while it was being submitted, said by Reason).
type MessageUnknownData struct {
	ErrorClass string `json:"error_class,omitempty"`
	Error      string `json:"error,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// MessageExpiredData: its validity ran out before it could be sent.
type MessageExpiredData struct {
	Status Status `json:"status"`
}

// ModemUpData: the modem can send again.
type ModemUpData struct {
	State ModemState `json:"state"`
}

// ModemDownData: the modem cannot send; Error is its last error.
type ModemDownData struct {
	State ModemState `json:"state"`
	Error string     `json:"error,omitempty"`
}

// ModemPausedData: the SIM is paused until Until (by hand or by the pause rules).
type ModemPausedData struct {
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
}

// ModemResumedData: the pause ended (Reason "pause expired"; nil Data when
// lifted by hand).
type ModemResumedData struct {
	Reason string `json:"reason,omitempty"`
}

func (*Message) eventData()           {}
func (OptOut) eventData()             {}
func (MessageSentData) eventData()    {}
func (MessageFailedData) eventData()  {}
func (MessageUnknownData) eventData() {}
func (MessageExpiredData) eventData() {}
func (ModemUpData) eventData()        {}
func (ModemDownData) eventData()      {}
func (ModemPausedData) eventData()    {}
func (ModemResumedData) eventData()   {}
func (RawEventData) eventData()       {}

// RawEventData is the data of an event whose type this binary does not know
// (written by a newer one), kept as it was stored.
type RawEventData json.RawMessage

// MarshalJSON writes r as it was read.
func (r RawEventData) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// decodeEventData decodes raw as the payload type of t.
func decodeEventData(t EventType, raw json.RawMessage) (EventData, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v EventData
	var err error
	switch t {
	case EventMessageReceived:
		var m Message
		err = json.Unmarshal(raw, &m)
		v = &m
	case EventOptOut, EventOptIn:
		v, err = decodeAs[OptOut](raw)
	case EventMessageSent:
		v, err = decodeAs[MessageSentData](raw)
	case EventMessageFailed:
		v, err = decodeAs[MessageFailedData](raw)
	case EventMessageUnknown:
		v, err = decodeAs[MessageUnknownData](raw)
	case EventMessageExpired:
		v, err = decodeAs[MessageExpiredData](raw)
	case EventModemUp:
		v, err = decodeAs[ModemUpData](raw)
	case EventModemDown:
		v, err = decodeAs[ModemDownData](raw)
	case EventModemPaused:
		v, err = decodeAs[ModemPausedData](raw)
	case EventModemResumed:
		v, err = decodeAs[ModemResumedData](raw)
	case EventModemBlockSuspected:
		v, err = decodeAs[BlockSuspectedData](raw)
	default:
		return RawEventData(append([]byte(nil), raw...)), nil
	}
	if err != nil {
		return nil, fmt.Errorf("event %s data: %w", t, err)
	}
	return v, nil
}

func decodeAs[T EventData](raw json.RawMessage) (EventData, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

// UnmarshalJSON decodes an event with its Data in the payload type of its
// Type (see EventData).
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event // no methods: no recursion
	var w struct {
		plain
		Data json.RawMessage `json:"data,omitempty"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	d, err := decodeEventData(w.Type, w.Data)
	if err != nil {
		return err
	}
	*e = Event(w.plain)
	e.Data = d
	return nil
}
