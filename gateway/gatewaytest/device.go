package gatewaytest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/simgate/simgate/gateway"
)

// Device is a modem whose answers a test scripts: up and registered until
// SetUsable(false); each SendPDU waits Latency, then asks the answer
// function (SetAnswer; nil = success) and records the send.
type Device struct {
	name string
	// Latency is how long each SendPDU takes; set it before use.
	Latency time.Duration

	mu     sync.Mutex
	iccid  string // the SIM's ICCID (SetSIM); "" = none reported
	status gateway.ModemStatus
	mr     int
	sends  []Send
	answer func(n int, pdu []byte) error
}

// Send is one SendPDU as the Device saw it.
type Send struct {
	At   time.Time // start (wall clock)
	End  time.Time
	PDU  []byte
	MR   int
	Fail bool
}

var _ gateway.Device = (*Device)(nil)

// NewDevice returns a Device named name, up and registered.
func NewDevice(name string) *Device {
	return &Device{name: name, status: gateway.ModemStatus{State: gateway.ModemUp, Registration: gateway.RegHome, RSSI: 20}}
}

// Name is the device's name.
func (d *Device) Name() string { return d.name }

// Info is a fixed identity, with the ICCID SetSIM gave (none by default).
func (d *Device) Info() gateway.ModemInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return gateway.ModemInfo{Manufacturer: "fake", Model: "F1", Firmware: "1.0", IMEI: "35" + d.name, ICCID: d.iccid}
}

// SetSIM makes the device report a SIM with that ICCID ("": none), as a
// modem does after its SIM was changed and it initialised again.
func (d *Device) SetSIM(iccid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.iccid = iccid
}

// Status is the scripted status.
func (d *Device) Status() gateway.ModemStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// SetUsable makes the device up (true) or down (false).
func (d *Device) SetUsable(ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok {
		d.status.State = gateway.ModemUp
	} else {
		d.status.State = gateway.ModemDown
	}
}

// SetAnswer scripts the outcome of send number n (from 0): nil succeeds.
// It runs with the device's lock held.
func (d *Device) SetAnswer(fn func(n int, pdu []byte) error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.answer = fn
}

// SendPDU waits Latency (or ctx: an ambiguous failure) and answers.
func (d *Device) SendPDU(ctx context.Context, pdu []byte) (int, error) {
	start := time.Now()
	if d.Latency > 0 {
		t := time.NewTimer(d.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, &gateway.SendError{Ambiguous: true, Err: ctx.Err()}
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.sends)
	var err error
	if d.answer != nil {
		err = d.answer(n, pdu)
	}
	s := Send{At: start, End: time.Now(), PDU: slices.Clone(pdu), Fail: err != nil}
	if err == nil {
		d.mr = (d.mr + 1) % 256
		s.MR = d.mr
	}
	d.sends = append(d.sends, s)
	return s.MR, err
}

// Sends returns every send tried, failed ones included.
func (d *Device) Sends() []Send {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sends)
}

// Sent returns the successful sends.
func (d *Device) Sent() []Send {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Send
	for _, s := range d.sends {
		if !s.Fail {
			out = append(out, s)
		}
	}
	return out
}

// Attempts is the number of sends tried.
func (d *Device) Attempts() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.sends)
}
