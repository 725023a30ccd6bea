package modem

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/warthog618/modem/at"

	"github.com/simgate/simgate/gateway"
)

// handoffCheck is how often a SendPDU waiting for the owner re-reads the state.
const handoffCheck = 100 * time.Millisecond

// maxTPDU is the largest SMS-SUBMIT TPDU (7 header octets + 12 address + 140 UD, rounded up).
const maxTPDU = 176

// sendReq is one SendPDU handed to the run goroutine. Exactly one of the
// caller (giving up before the run goroutine took it) and the run goroutine
// (taking it) wins the state; once taken, the result is always delivered.
type sendReq struct {
	ctx   context.Context
	tpdu  []byte
	state atomic.Int32 // reqPending, reqTaken, reqAbandoned
	res   chan sendResult
}

const (
	reqPending int32 = iota
	reqTaken
	reqAbandoned
)

type sendResult struct {
	mr  int
	err error
}

func (r *sendReq) finish(mr int, err error) {
	r.res <- sendResult{mr: mr, err: err}
}

// SendPDU submits one SMS-SUBMIT TPDU with AT+CMGS and returns the TP
// message reference. Failures are *gateway.SendError: a +CMS ERROR keeps its
// code and is classified by gateway.CMSTemporary; a failure before the PDU
// was written is Temporary; a timeout or port loss after the PDU was written
// is Ambiguous. ctx bounds the wait and, through its deadline, the time the
// modem is given to answer.
func (d *Device) SendPDU(ctx context.Context, tpdu []byte) (int, error) {
	if len(tpdu) == 0 || len(tpdu) > maxTPDU {
		return 0, &gateway.SendError{Err: fmt.Errorf("tpdu of %d octets", len(tpdu))}
	}
	if err := ctx.Err(); err != nil {
		return 0, &gateway.SendError{Temporary: true, Err: err}
	}
	if st := d.Status(); st.State != gateway.ModemUp {
		if st.State == gateway.ModemClosed {
			return 0, &gateway.SendError{Temporary: true, Err: gateway.ErrClosed}
		}
		return 0, &gateway.SendError{Temporary: true, Err: fmt.Errorf("modem %s is %s", d.name, st.State)}
	}
	r := &sendReq{ctx: ctx, tpdu: tpdu, res: make(chan sendResult, 1)}
	// Hand it over; while the owner is busy (a send, a sweep, a recovery),
	// keep an eye on the state so that a caller without a deadline does not
	// wait through a whole recovery.
	tick := time.NewTicker(handoffCheck)
	defer tick.Stop()
handoff:
	for {
		select {
		case d.reqs <- r:
			break handoff
		case <-ctx.Done():
			return 0, &gateway.SendError{Temporary: true, Err: ctx.Err()}
		case <-d.done:
			return 0, &gateway.SendError{Temporary: true, Err: gateway.ErrClosed}
		case <-tick.C:
			if st := d.Status(); st.State != gateway.ModemUp {
				return 0, &gateway.SendError{Temporary: true, Err: fmt.Errorf("modem %s is %s", d.name, st.State)}
			}
		}
	}
	select {
	case res := <-r.res:
		return res.mr, res.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqAbandoned) {
			return 0, &gateway.SendError{Temporary: true, Err: ctx.Err()}
		}
		// The run goroutine took it: the PDU may be on the wire, so wait for
		// the outcome (bounded by the deadline-derived timeout).
		res := <-r.res
		return res.mr, res.err
	}
}

// send runs one AT+CMGS on the session.
func (s *session) send(r *sendReq) (int, error) {
	if !r.state.CompareAndSwap(reqPending, reqTaken) {
		return 0, &gateway.SendError{Temporary: true, Err: context.Canceled}
	}
	if err := r.ctx.Err(); err != nil {
		return 0, &gateway.SendError{Temporary: true, Err: err}
	}
	s.quiesce()
	timeout := s.d.cfg.SendTimeout
	if dl, ok := r.ctx.Deadline(); ok {
		if rem := time.Until(dl); rem < timeout {
			timeout = rem
		}
	}
	if timeout <= 0 {
		return 0, &gateway.SendError{Temporary: true, Err: context.DeadlineExceeded}
	}
	pdu := strings.ToUpper(hex.EncodeToString(append([]byte{0}, r.tpdu...)))
	start := time.Now()
	for retried := false; ; retried = true {
		mr, stale, err := s.cmgs(pdu, len(r.tpdu), timeout-time.Since(start), start)
		if stale && !retried && r.ctx.Err() == nil && time.Since(start) < timeout {
			// The OK that ended AT+CMGS=<n> before its prompt was the late
			// final result of the previous send (which +CMGS answered):
			// the PDU did not go out, so asking again is safe, once the
			// answer to the escape has come.
			s.d.log.Debug("late final result of the previous send ended AT+CMGS; asking again")
			s.dirty = true
			s.quiesce()
			continue
		}
		s.d.log.Debug("cmgs", "octets", len(r.tpdu), "took", time.Since(start).String(), "error", err)
		return mr, err
	}
}

// cmgsFinalGrace bounds how long the final OK may lag behind the "+CMGS:
// <mr>" that answered a PDU (some SIMCom and Quectel firmwares drop it
// under load, or send it much later): the part is sent either way.
const cmgsFinalGrace = time.Second

// cmgs runs one AT+CMGS. stale says that it ended on a stale final result
// before the PDU was written.
func (s *session) cmgs(pdu string, octets int, timeout time.Duration, start time.Time) (mr int, stale bool, err error) {
	if timeout <= 0 {
		return 0, false, &gateway.SendError{Temporary: true, Err: context.DeadlineExceeded}
	}
	s.tap.startSend()
	// Two deadlines: the prompt comes from the modem itself, within
	// PromptTimeout; only the answer after the PDU waits on the network.
	// Once "+CMGS:" answered the PDU, a final result missing after
	// cmgsFinalGrace is taken as given.
	disarm := s.tap.expect(min(s.d.cfg.PromptTimeout, timeout), "+CMGS:", min(cmgsFinalGrace, timeout/2))
	lines, err := s.at.SMSCommand(fmt.Sprintf("+CMGS=%d", octets), pdu, at.WithTimeout(timeout))
	disarm()
	written := s.tap.pduSent.Load()
	if isMark(err, markNoPrompt) {
		err = fmt.Errorf("no prompt within %s: %w", s.d.cfg.PromptTimeout, at.ErrDeadlineExceeded)
	}
	noFinal := isMark(err, markNoFinal)
	if noFinal {
		err = nil
		s.dirty = true // the final result may still come
	}
	s.account(err)
	if written && errors.Is(err, at.ErrDeadlineExceeded) {
		// The caller's deadline may have cut the wait short: the modem may
		// still be waiting on the network until SendTimeout, which the
		// probe must allow for (a slow network is not a hang).
		s.busyFor = max(0, s.d.cfg.SendTimeout-time.Since(start))
	}
	if mr, ok := s.tap.accepted(); ok {
		// "+CMGS: <mr>" answered the PDU: the network took the part,
		// whatever followed (no OK, a timeout, a lost port). It must never
		// be sent again.
		s.finalOwed = noFinal
		if noFinal || err != nil {
			s.d.log.Debug("+CMGS without its final result: taken as sent", "error", err)
		}
		return mr, false, nil
	}
	// Any "+CMGS:" among the lines came before the PDU: the late answer of
	// an earlier send, not this part's reference.
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "+CMGS:") })
	mr, serr := classifySend(lines, err, written)
	stale = s.finalOwed && !written && errors.Is(serr, errNoPrompt)
	s.finalOwed = false
	if !written && serr != nil && !errors.Is(err, at.ErrClosed) {
		// A prompt may still come (or a stale answer ended the command
		// early): cancel it so the next command is not taken for a PDU.
		s.at.Escape()
	}
	if serr != nil {
		return 0, stale, serr
	}
	return mr, false, nil
}

// errNoPrompt: the modem answered AT+CMGS without asking for the PDU; the
// answer is a stale one from an earlier command.
var errNoPrompt = errors.New("answer came before the PDU was written")

// classifySend turns the AT layer's result of an AT+CMGS into an mr or a
// *gateway.SendError. written says whether the PDU went out.
func classifySend(lines []string, err error, written bool) (int, error) {
	var cms at.CMSError
	var cme at.CMEError
	switch {
	case err == nil:
		if !written {
			return 0, &gateway.SendError{Temporary: true, Err: errNoPrompt}
		}
		if mr, ok := parseCMGS(lines); ok {
			return mr, nil
		}
		return 0, &gateway.SendError{Ambiguous: true, Err: errors.New("OK without +CMGS reference")}
	case errors.As(err, &cms):
		code := errCode(string(cms))
		if code == 0 {
			return 0, &gateway.SendError{Temporary: !written, Err: err}
		}
		e := gateway.CMSError(code)
		e.Err = err
		return 0, e
	case errors.As(err, &cme):
		return 0, &gateway.SendError{CME: errCode(string(cme)), Temporary: true, Err: err}
	case errors.Is(err, at.ErrError):
		// The modem refused: the command line (temporary, maybe state) or the PDU (not).
		return 0, &gateway.SendError{Temporary: !written, Err: err}
	case written:
		return 0, &gateway.SendError{Ambiguous: true, Err: err}
	default:
		return 0, &gateway.SendError{Temporary: true, Err: err}
	}
}
