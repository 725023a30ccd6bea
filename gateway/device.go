package gateway

import (
	"context"
	"time"
)

// Device is one modem as the gateway sees it. modem.Device implements it.
// Every method is safe for concurrent use.
type Device interface {
	// Name is the modem's configured name, stable across replugs.
	Name() string
	// Info is the modem's identity as read at the last successful init.
	Info() ModemInfo
	// Status is a snapshot of the modem's health; it never blocks on the port.
	Status() ModemStatus
	// SendPDU submits one SMS-SUBMIT TPDU (hex-free bytes, without the SMSC
	// address: the driver prefixes "00" = use the SIM's SMSC) with AT+CMGS and
	// returns the TP message reference the modem answered. Any failure is a
	// *SendError; one whose PDU was written but whose answer never came has
	// Ambiguous set.
	SendPDU(ctx context.Context, tpdu []byte) (mr int, err error)
}

// ModemInfo is what a modem and its SIM say about themselves.
type ModemInfo struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Model        string `json:"model,omitempty"`
	Firmware     string `json:"firmware,omitempty"`
	IMEI         string `json:"imei,omitempty"`
	IMSI         string `json:"imsi,omitempty"`
	ICCID        string `json:"iccid,omitempty"`
	MSISDN       string `json:"msisdn,omitempty"` // own number where the SIM knows it (AT+CNUM)
}

// ModemState is the driver's view of a modem's life.
type ModemState string

const (
	ModemStarting  ModemState = "starting"   // port open, init in progress
	ModemUp        ModemState = "up"         // initialised and answering
	ModemSIMLocked ModemState = "sim_locked" // SIM needs a PIN/PUK we do not have or that failed
	ModemHung      ModemState = "hung"       // stopped answering; recovery in progress
	ModemDown      ModemState = "down"       // port gone or unusable; reopening with backoff
	ModemClosed    ModemState = "closed"     // closed by us
)

// RegStatus is the +CREG <stat> value.
type RegStatus int

const (
	RegNotRegistered RegStatus = 0
	RegHome          RegStatus = 1
	RegSearching     RegStatus = 2
	RegDenied        RegStatus = 3
	RegUnknown       RegStatus = 4
	RegRoaming       RegStatus = 5
)

// Registered reports whether the modem can send (home or roaming).
func (r RegStatus) Registered() bool { return r == RegHome || r == RegRoaming }

func (r RegStatus) String() string {
	switch r {
	case RegNotRegistered:
		return "not_registered"
	case RegHome:
		return "home"
	case RegSearching:
		return "searching"
	case RegDenied:
		return "denied"
	case RegRoaming:
		return "roaming"
	default:
		return "unknown"
	}
}

// ModemStatus is a snapshot of a modem's health.
type ModemStatus struct {
	State        ModemState `json:"state"`
	Port         string     `json:"port,omitempty"` // the tty currently open
	Registration RegStatus  `json:"registration"`
	RSSI         int        `json:"rssi"` // +CSQ rssi 0..31, 99 unknown
	Operator     string     `json:"operator,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	Since        time.Time  `json:"since"`   // when State last changed
	Updated      time.Time  `json:"updated"` // when the snapshot was taken
	Resets       int        `json:"resets"`  // recoveries so far (re-init, CFUN reset, reopen)
	ATTimeouts   int        `json:"at_timeouts"`
}

// SignalDBm converts RSSI to dBm (-113 + 2*rssi); ok is false when unknown.
func (s ModemStatus) SignalDBm() (dbm int, ok bool) {
	if s.RSSI < 0 || s.RSSI > 31 {
		return 0, false
	}
	return -113 + 2*s.RSSI, true
}

// Usable reports whether the modem can take a send now.
func (s ModemStatus) Usable() bool { return s.State == ModemUp && s.Registration.Registered() }

// PDUKind says what an inbound TPDU is.
type PDUKind int

const (
	KindDeliver      PDUKind = iota // SMS-DELIVER: an inbound message (or part)
	KindStatusReport                // SMS-STATUS-REPORT
)

// InboundPDU is one TPDU a modem received, stored or routed.
type InboundPDU struct {
	Modem    string    // modem name
	Kind     PDUKind   //
	TPDU     []byte    // the TPDU without the SMSC address
	Received time.Time // when the gateway read it
}

// InboundHandler takes PDUs from devices. HandlePDU returns nil only once the
// PDU is durably stored; only then may the driver delete it from the modem.
type InboundHandler interface {
	HandlePDU(ctx context.Context, p InboundPDU) error
}

// DeviceObserver hears about a device's status changes (up, down, hung ...).
type DeviceObserver interface {
	DeviceChanged(name string, st ModemStatus)
}
