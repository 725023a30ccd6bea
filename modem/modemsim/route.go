package modemsim

import (
	"fmt"
	"time"

	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// submit records an SMS-SUBMIT accepted from modem from and routes it:
// to a simulated modem after DeliveryDelay, with a status report back after
// ReportDelay when TP-SRR is set (from.mu held).
func (n *Network) submit(from *Modem, t *tpdu.TPDU, raw []byte, mr int, ambiguous bool) {
	rec := append([]byte(nil), raw...)
	if len(rec) > 1 {
		rec[1] = byte(mr) // the modem assigns TP-MR
	}
	sub := Submission{
		Modem:      from.cfg.Name,
		FromMSISDN: from.cfg.MSISDN,
		To:         t.DA.Number(),
		MR:         mr,
		TPDU:       rec,
		SRR:        t.FirstOctet.SRR(),
		At:         time.Now(),
		Ambiguous:  ambiguous,
		Part:       1,
		Parts:      1,
	}
	if segs, seq, ref, ok := t.ConcatInfo(); ok {
		sub.Parts, sub.Part, sub.ConcatRef = segs, seq, ref
	}
	if b, err := sms.Decode([]*tpdu.TPDU{t}); err == nil {
		sub.Text = string(b)
	}
	n.mu.Lock()
	sub.Seq = len(n.subs) + 1
	n.subs = append(n.subs, sub)
	n.mu.Unlock()
	from.log.Debug("sms submitted", "mr", mr, "part", sub.Part, "parts", sub.Parts, "ambiguous", ambiguous)

	deliver, err := deliverFor(t, from.cfg.MSISDN)
	if err != nil {
		from.log.Debug("cannot build deliver", "err", err)
		return
	}
	da := t.DA
	lost, st := from.faults.ReportsLost, from.faults.ReportStatus
	n.after(n.opts.DeliveryDelay, func() {
		report := func() {
			if !sub.SRR || lost {
				return
			}
			rep, err := statusReport(mr, da, sub.At, time.Now(), st)
			if err != nil {
				return
			}
			n.after(n.opts.ReportDelay, func() {
				from.enqueue(inbound{tpdu: rep, report: true})
			})
		}
		dest := n.lookup(sub.To)
		if dest == nil {
			report() // delivered to the outside world
			n.answer(sub)
			return
		}
		dest.enqueue(inbound{tpdu: deliver, onStored: report})
	})
}

// answer asks NetworkOptions.Recipients for the outside recipient's answer
// to sub (the last part of a message) and sends it back to the SIM.
func (n *Network) answer(sub Submission) {
	if n.opts.Recipients == nil || sub.Part != sub.Parts {
		return
	}
	text, ok := n.opts.Recipients(sub)
	if !ok {
		return
	}
	n.after(n.opts.ReplyDelay, func() {
		if err := n.InjectSMS(sub.FromMSISDN, sub.To, text); err != nil {
			n.log.Debug("recipient answer", "modem", sub.Modem, "err", err)
		}
	})
}

// deliverFor turns an SMS-SUBMIT into the SMS-DELIVER the recipient sees.
func deliverFor(t *tpdu.TPDU, from string) ([]byte, error) {
	d := tpdu.TPDU{Direction: tpdu.MT, FirstOctet: tpdu.FirstOctet(0x04)} // SMS-DELIVER, TP-MMS
	d.OA = numberAddress(from)
	d.PID = t.PID
	d.DCS = t.DCS
	if len(t.UDH) > 0 {
		d.SetUDH(t.UDH)
	}
	d.UD = t.UD
	d.SCTS = tpdu.Timestamp{Time: time.Now().Truncate(time.Second)}
	return d.MarshalBinary()
}

// statusReport builds an SMS-STATUS-REPORT with TP-ST st (0: delivered).
func statusReport(mr int, ra tpdu.Address, sent, done time.Time, st int) ([]byte, error) {
	r := tpdu.TPDU{Direction: tpdu.MT, FirstOctet: tpdu.FirstOctet(0x06)} // SMS-STATUS-REPORT, TP-MMS
	r.MR = byte(mr)
	r.RA = ra
	r.SCTS = tpdu.Timestamp{Time: sent.Truncate(time.Second)}
	r.DT = tpdu.Timestamp{Time: done.Truncate(time.Second)}
	r.ST = byte(st)
	return r.MarshalBinary()
}

// InjectSMS delivers text from the outside world (from may be a number or
// an alphanumeric sender) to the simulated modem with MSISDN toMSISDN. A
// long text becomes concatenated parts (UDH). The modem stores it and
// announces +CMTI (or routes +CMT) per its AT+CNMI; while it is not
// registered or its storage is full the network holds the message. A
// modem with Faults.RepliesLost never gets a message from a number outside
// the network (nil is returned: the network took it).
func (n *Network) InjectSMS(toMSISDN, from, text string) error {
	m := n.lookup(toMSISDN)
	if m == nil {
		return ErrUnknownNumber
	}
	if n.lookup(from) == nil && m.Faults().RepliesLost {
		m.log.Debug("sms from outside dropped (RepliesLost)")
		return nil
	}
	enc := sms.NewEncoder(sms.AsDeliver, sms.WithTemplateOption(tpdu.WithOA(numberAddress(from))))
	enc.ConcatRef = &n.concatRef
	pdus, err := enc.Encode([]byte(text))
	if err != nil {
		return fmt.Errorf("modemsim: encode: %w", err)
	}
	now := time.Now().Truncate(time.Second)
	for i := range pdus {
		pdus[i].SCTS = tpdu.Timestamp{Time: now}
		b, err := pdus[i].MarshalBinary()
		if err != nil {
			return fmt.Errorf("modemsim: marshal: %w", err)
		}
		m.enqueue(inbound{tpdu: b})
	}
	return nil
}

// InjectPDU delivers a raw SMS-DELIVER (or SMS-STATUS-REPORT) TPDU to the
// simulated modem with MSISDN toMSISDN, e.g. concatenated parts out of order.
func (n *Network) InjectPDU(toMSISDN string, b []byte) error {
	m := n.lookup(toMSISDN)
	if m == nil {
		return ErrUnknownNumber
	}
	t, err := sms.Unmarshal(b)
	if err != nil {
		return fmt.Errorf("modemsim: bad tpdu: %w", err)
	}
	switch t.SmsType() {
	case tpdu.SmsDeliver:
		m.enqueue(inbound{tpdu: append([]byte(nil), b...)})
	case tpdu.SmsStatusReport:
		m.enqueue(inbound{tpdu: append([]byte(nil), b...), report: true})
	default:
		return fmt.Errorf("modemsim: tpdu is %v, not SMS-DELIVER or SMS-STATUS-REPORT", t.SmsType())
	}
	return nil
}
