package modem

import (
	"errors"
	"fmt"

	"github.com/warthog618/modem/at"
)

// poll lists every stored message (AT+CMGL=4, PDU mode "all") and hands the
// inbound ones to the handler. It is the safety net for lost +CMTI and
// +CDSI, and it reads what arrived while nobody listened: at the start of
// every session, status reports the modem stored in its "SR" memory while
// the daemon was down are read (and deleted once handled) like messages.
func (s *session) poll() {
	if s.d.in == nil {
		return // nobody to hand messages to: leave them stored
	}
	s.sweep(storageMem)
	if s.srStore && !s.hung() && !s.lost() {
		ct := s.d.cfg.CommandTimeout
		if _, err := s.cmd(`+CPMS="SR"`, ct); err != nil {
			s.d.log.Debug("cannot select the SR memory", "error", err)
			return
		}
		s.sweep("SR")
		s.cmd(fmt.Sprintf(`+CPMS="%s"`, storageMem), ct)
	}
}

// sweep lists the selected read memory and takes what it holds.
func (s *session) sweep(mem string) {
	lines, err := s.cmd("+CMGL=4", s.d.cfg.CommandTimeout)
	if err != nil {
		s.d.log.Debug("cmgl failed", "mem", mem, "error", err)
		return
	}
	for _, m := range parseCMGL(lines) {
		s.take(mem, m)
	}
}

// readIndicated reads the messages announced by +CMTI / +CDSI.
func (s *session) readIndicated() {
	refs := s.takePending()
	if s.d.in == nil {
		return
	}
	for _, r := range refs {
		if s.lost() || s.hung() {
			return
		}
		if !s.readOne(r) {
			// could not read it by index: let a full listing find it
			s.poll()
			return
		}
	}
}

// storageMem is the memory the session selected for reading and deleting.
const storageMem = "SM"

// readOne reads one indicated message by index (switching the read memory
// for status reports stored in "SR" and back). false if it could not.
func (s *session) readOne(r indexRef) bool {
	ct := s.d.cfg.CommandTimeout
	other := r.mem != "" && r.mem != storageMem && r.mem != "MT"
	if other {
		if _, err := s.cmd(fmt.Sprintf(`+CPMS="%s"`, r.mem), ct); err != nil {
			return false
		}
		defer s.cmd(fmt.Sprintf(`+CPMS="%s"`, storageMem), ct)
	}
	lines, err := s.cmd(fmt.Sprintf("+CMGR=%d", r.index), ct)
	if err != nil {
		var cms at.CMSError
		if errors.As(err, &cms) && errCode(string(cms)) == 321 {
			return true // already gone (read by the poll)
		}
		return false
	}
	m, ok := parseCMGR(lines, r.index)
	if !ok {
		return true // empty slot
	}
	s.take(r.mem, m)
	return true
}

// take hands one stored message to the handler and deletes it from the
// modem only when the handler returned nil.
func (s *session) take(mem string, m stored) {
	d := s.d
	if m.Stat == 2 || m.Stat == 3 {
		return // a stored outgoing message, not ours to take
	}
	tpdu, err := splitSMSC(m.PDU)
	if err != nil {
		d.log.Warn("stored pdu unreadable; left on the modem", "index", m.Index, "error", err)
		return
	}
	kind, ok := pduKind(tpdu)
	if !ok {
		d.log.Debug("stored pdu is not inbound; left on the modem", "index", m.Index)
		return
	}
	if err := d.handle(kind, tpdu); err != nil {
		d.log.Warn("inbound handler failed; message kept on the modem", "index", m.Index, "error", err)
		return
	}
	if _, err := s.cmd(fmt.Sprintf("+CMGD=%d", m.Index), d.cfg.CommandTimeout); err != nil {
		d.log.Warn("delete failed", "index", m.Index, "mem", mem, "error", err)
	}
}

// handleRouted hands a PDU the modem routed to the port (+CMT / +CDS) to the
// handler; it is not stored on the modem, so there is nothing to delete.
func (s *session) handleRouted(p routedPDU) {
	d := s.d
	if d.in == nil {
		return
	}
	kind, ok := pduKind(p.tpdu)
	if !ok {
		return
	}
	if err := d.handle(kind, p.tpdu); err != nil {
		d.log.Warn("inbound handler failed for a routed pdu; it is lost", "error", err)
	}
}
