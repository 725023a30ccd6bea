package gateway

import (
	"context"
	"errors"
)

// USSD sentinels. Devices wrap them; callers match them with errors.Is.
var (
	// ErrUSSDTimeout: the network did not answer the code in time; the
	// session was cancelled (AT+CUSD=2).
	ErrUSSDTimeout = errors.New("no answer to the USSD code in time")
	// ErrUSSDBusy: a USSD session is already running on that modem.
	ErrUSSDBusy = errors.New("a USSD session is already running on this modem")
	// ErrUSSDUnavailable: the modem cannot run a code now (not up, not
	// registered, closed).
	ErrUSSDUnavailable = errors.New("the modem cannot run USSD now")
	// ErrUSSDRejected: the modem or the network refused the code.
	ErrUSSDRejected = errors.New("the USSD code was refused")
)

// USSDReply is the network's answer to a USSD code (+CUSD, TS 27.007 §7.15).
type USSDReply struct {
	// Text is the decoded answer (GSM 7-bit, UCS-2 or packed hex on the
	// wire), at most a few hundred characters.
	Text string `json:"text"`
	// Status is the +CUSD <m>: 0 no further action, 1 the network wants an
	// answer (the session was closed: menus are not supported), 2 the
	// network ended the session.
	Status int `json:"status"`
	// DCS is the data coding scheme the network gave (TS 23.038 §5).
	DCS int `json:"dcs"`
}

// USSDRunner is a device that runs USSD codes through the goroutine that
// owns its port, so sends and receives go on around a session.
// modem.Device implements it.
type USSDRunner interface {
	USSD(ctx context.Context, code string) (USSDReply, error)
}

// USSDService runs a USSD code on the named modem; ErrNoModem when there is
// no such modem.
type USSDService interface {
	RunUSSD(ctx context.Context, modem, code string) (USSDReply, error)
}
