package modem

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/warthog618/modem/at"
	"github.com/warthog618/sms/encoding/gsm7"

	"github.com/simgate/simgate/gateway"
)

var _ gateway.USSDRunner = (*Device)(nil)

// ussdReq is one USSD code handed to the run goroutine. res is buffered: the
// run goroutine never blocks on a caller that went away.
type ussdReq struct {
	code     string
	deadline time.Time
	res      chan ussdResult
}

type ussdResult struct {
	reply gateway.USSDReply
	err   error
}

// cusd is one parsed +CUSD: <m>[,<str>[,<dcs>]] line.
type cusd struct {
	m   int
	str string
	dcs int
}

// maxUSSDCode bounds a code ("*100#", "*123*1#" ...).
const maxUSSDCode = 64

// USSD runs a USSD code (e.g. "*100#") on the modem and returns the
// network's decoded answer. The code goes through the goroutine that owns
// the port: sends and receives go on while the network answers. The wait
// is bounded by USSDTimeout and ctx's deadline; a session that got no
// answer in time is cancelled with AT+CUSD=2 (gateway.ErrUSSDTimeout). One
// session runs at a time per modem (gateway.ErrUSSDBusy).
func (d *Device) USSD(ctx context.Context, code string) (gateway.USSDReply, error) {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > maxUSSDCode || strings.ContainsAny(code, "\"\r\n\x1a\x1b") {
		return gateway.USSDReply{}, fmt.Errorf("%w: not a USSD code", gateway.ErrUSSDRejected)
	}
	if st := d.Status(); !st.Usable() {
		return gateway.USSDReply{}, fmt.Errorf("%w: modem %s is %s", gateway.ErrUSSDUnavailable, d.name, st.State)
	}
	deadline := time.Now().Add(d.cfg.USSDTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	r := &ussdReq{code: code, deadline: deadline, res: make(chan ussdResult, 1)}
	tick := time.NewTicker(handoffCheck)
	defer tick.Stop()
handoff:
	for {
		select {
		case d.ussd <- r:
			break handoff
		case <-ctx.Done():
			return gateway.USSDReply{}, ctx.Err()
		case <-d.done:
			return gateway.USSDReply{}, fmt.Errorf("%w: %w", gateway.ErrUSSDUnavailable, gateway.ErrClosed)
		case <-tick.C:
			if st := d.Status(); !st.Usable() {
				return gateway.USSDReply{}, fmt.Errorf("%w: modem %s is %s", gateway.ErrUSSDUnavailable, d.name, st.State)
			}
		}
	}
	select {
	case res := <-r.res:
		return res.reply, res.err
	case <-ctx.Done():
		return gateway.USSDReply{}, ctx.Err() // the run goroutine cancels the session at the deadline
	case <-d.done:
		return gateway.USSDReply{}, fmt.Errorf("%w: %w", gateway.ErrUSSDUnavailable, gateway.ErrClosed)
	}
}

// ussdSession is the USSD session the run goroutine has open.
type ussdSession struct {
	req    *ussdReq
	timer  *time.Timer
	packed bool // the code went out packed (Huawei), so the answer is packed too
}

// startUSSD sends a code; the answer comes as a +CUSD URC (onCUSD). A
// firmware that refuses the plain code gets it GSM 7-bit packed in hex
// (Huawei), and is remembered as one that wants it so.
func (s *session) startUSSD(r *ussdReq) {
	if s.ussd != nil {
		r.res <- ussdResult{err: gateway.ErrUSSDBusy}
		return
	}
	ct := s.d.cfg.CommandTimeout
	packed := s.d.ussdPacked
	var err error
	for range 2 {
		arg := r.code
		if packed {
			arg = packUSSD(r.code)
		}
		_, err = s.cmd(fmt.Sprintf(`+CUSD=1,"%s",15`, arg), ct)
		var cme at.CMEError
		refused := errors.Is(err, at.ErrError) || errors.As(err, &cme)
		if !refused || packed {
			break
		}
		packed = true
	}
	if err != nil {
		s.d.log.Debug("ussd refused", "error", err)
		r.res <- ussdResult{err: fmt.Errorf("%w: %v", gateway.ErrUSSDRejected, err)}
		return
	}
	s.d.ussdPacked = packed
	wait := time.Until(r.deadline)
	s.ussd = &ussdSession{req: r, timer: time.NewTimer(max(wait, 0)), packed: packed}
}

// ussdTimer is the open session's deadline, or nil.
func (s *session) ussdTimer() <-chan time.Time {
	if s.ussd == nil {
		return nil
	}
	return s.ussd.timer.C
}

// endUSSD finishes the open session with res; cancel sends AT+CUSD=2.
func (s *session) endUSSD(res ussdResult, cancel bool) {
	u := s.ussd
	if u == nil {
		return
	}
	s.ussd = nil
	u.timer.Stop()
	if cancel {
		if _, err := s.cmd("+CUSD=2", s.d.cfg.CommandTimeout); err != nil {
			s.d.log.Debug("ussd cancel failed", "error", err)
		}
	}
	u.req.res <- res
}

// onUSSD applies a +CUSD URC to the open session.
func (s *session) onUSSD(c cusd) {
	u := s.ussd
	if u == nil {
		s.d.log.Debug("ussd from the network outside a session", "status", c.m)
		return
	}
	switch c.m {
	case 0, 1, 2:
		reply := gateway.USSDReply{Text: decodeUSSD(c.str, c.dcs, u.packed), Status: c.m, DCS: c.dcs}
		// 1: the network waits for an answer; menus are not supported, so
		// the session is closed rather than left open on the modem.
		s.endUSSD(ussdResult{reply: reply}, c.m == 1)
	case 5:
		s.endUSSD(ussdResult{err: gateway.ErrUSSDTimeout}, false)
	default: // 3 other client answered, 4 not supported
		s.endUSSD(ussdResult{err: fmt.Errorf("%w: +CUSD: %d", gateway.ErrUSSDRejected, c.m)}, false)
	}
}

// abortUSSD ends an open session when the session's port goes away.
func (s *session) abortUSSD() {
	if u := s.ussd; u != nil {
		s.ussd = nil
		u.timer.Stop()
		u.req.res <- ussdResult{err: fmt.Errorf("%w: the modem went away", gateway.ErrUSSDUnavailable)}
	}
}

// onCUSD passes a +CUSD URC to the owner (indication goroutine).
func (s *session) onCUSD(lines []string) {
	if len(lines) == 0 {
		return
	}
	c, ok := parseCUSD(lines[0])
	if !ok {
		return
	}
	select {
	case s.cusd <- c:
	default:
		s.d.log.Warn("ussd answer dropped: queue full")
	}
}

// parseCUSD parses "+CUSD: <m>[,<str>[,<dcs>]]".
func parseCUSD(line string) (cusd, bool) {
	rest, ok := afterPrefix(line, "+CUSD:")
	if !ok {
		return cusd{}, false
	}
	f := splitFields(rest)
	m, ok := atoi(f[0])
	if !ok || m > 5 {
		return cusd{}, false
	}
	c := cusd{m: m, dcs: 15}
	if len(f) >= 2 {
		// the tap wrote the line breaks of a multi-line answer as `\n`
		c.str = strings.ReplaceAll(f[1].val, `\n`, "\n")
	}
	if len(f) >= 3 {
		if dcs, ok := atoi(f[2]); ok && dcs <= 255 {
			c.dcs = dcs
		}
	}
	return c, true
}

// ussdAlphabet is what a CBS data coding scheme (TS 23.038 §5) says the
// string holds.
type ussdAlphabet int

const (
	alphaGSM7 ussdAlphabet = iota
	alpha8Bit
	alphaUCS2
)

func dcsAlphabet(dcs int) ussdAlphabet {
	switch g := dcs >> 4; {
	case dcs == 0x11:
		return alphaUCS2
	case g >= 4 && g <= 7, g == 9:
		switch (dcs >> 2) & 3 {
		case 1:
			return alpha8Bit
		case 2:
			return alphaUCS2
		}
	case g == 0xF && dcs&0x04 != 0:
		return alpha8Bit
	}
	return alphaGSM7
}

// decodeUSSD turns the <str> of a +CUSD into text. With a UCS-2 scheme the
// modem gives hex UTF-16; with GSM 7-bit it gives text in the TE character
// set, except Huawei firmwares that give the packed septets in hex (always
// when the code went out packed); some give UCS-2 hex whatever the scheme
// says. Whatever cannot be decoded is returned as the modem gave it.
func decodeUSSD(str string, dcs int, packed bool) string {
	var out string
	switch dcsAlphabet(dcs) {
	case alphaUCS2:
		if t, ok := decodeUTF16Hex(str); ok {
			out = t
		}
	case alpha8Bit:
		if b, err := hex.DecodeString(str); err == nil {
			r := make([]rune, len(b))
			for i, c := range b {
				r[i] = rune(c)
			}
			out = string(r)
		}
	default:
		switch {
		case !isHexLine(str):
		case packed:
			out, _ = decodePackedHex(str)
		case len(str)%4 == 0 && strings.HasPrefix(str, "00"):
			out, _ = decodeUTF16Hex(str)
		default:
			if t, ok := decodePackedHex(str); ok && len(str) >= 8 && strings.ContainsAny(t, " .:") {
				out = t
			}
		}
	}
	if out == "" {
		out = str
	}
	return cleanText(out)
}

func decodeUTF16Hex(s string) (string, bool) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return "", false
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u)), true
}

// decodePackedHex decodes GSM 7-bit septets packed as for USSD (TS 23.038
// §6.1.2.3.1) and written in hex.
func decodePackedHex(s string) (string, bool) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", false
	}
	t, err := gsm7.Decode(gsm7.Unpack7BitUSSD(b, 0))
	if err != nil {
		return "", false
	}
	return string(t), true
}

// packUSSD packs a code as Huawei firmwares want it: GSM 7-bit septets,
// packed, in upper-case hex.
func packUSSD(code string) string {
	sept, err := gsm7.Encode([]byte(code))
	if err != nil {
		return code
	}
	return strings.ToUpper(hex.EncodeToString(gsm7.Pack7BitUSSD(sept, 0)))
}

// maxUSSDText bounds a decoded answer (USSD carries at most 182 characters).
const maxUSSDText = 512

// cleanText drops control characters other than newlines and caps the length.
func cleanText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxUSSDText {
			break
		}
		if r == '\n' || r >= 0x20 && r != 0x7f && (r < 0x80 || r >= 0xa0) {
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
