package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// Sender queues an outbound message. Dispatcher.Submit satisfies it. The
// Inbox sends its STOP confirmations and START/HELP answers through it with
// SendRequest.OptOutReply set (see optout.go for what a Sender must do with
// that).
type Sender interface {
	Submit(ctx context.Context, req SendRequest) (*Message, error)
}

// ReceivedCounter counts the inbound messages stored per modem (the
// Dispatcher's ModemView.Counters.Received, and the block detector's reply
// signal: contact answered modem). Dispatcher implements it.
type ReceivedCounter interface {
	CountReceived(modem, contact string)
}

// InboxStore is what the Inbox needs of the store. store.DB implements it.
type InboxStore interface {
	InboundStore
	OptOutStore
	GetMessage(ctx context.Context, id string) (*Message, error)
	ListMessages(ctx context.Context, f MessageFilter) (MessagePage, error)
}

// InboxConfig configures an Inbox. Zero fields take the defaults noted.
type InboxConfig struct {
	// DefaultRegion normalises senders that are not in international form
	// (ISO 3166-1 alpha-2, e.g. "US").
	DefaultRegion string
	// StopWords, StartWords, HelpWords: whole-body keywords, case-insensitive
	// (defaults DefaultStopWords, DefaultStartWords, DefaultHelpWords).
	StopWords, StartWords, HelpWords []string
	// StopReply, StartReply, HelpReply: the answers, sent from the SIM that
	// received the keyword (defaults DefaultStopReply ...). "-" sends none.
	StopReply, StartReply, HelpReply string
	// ReassemblyTimeout: a long message whose newest part is older than this
	// is delivered with the parts that came (default 24h).
	ReassemblyTimeout time.Duration
	// FlushInterval: how often Run looks for such messages (default 1m).
	FlushInterval time.Duration
	Logger        *slog.Logger
	Registerer    prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Counter hears of every stored inbound message (nil: none does).
	Counter ReceivedCounter
}

func (c *InboxConfig) setDefaults() {
	if c.StopWords == nil {
		c.StopWords = DefaultStopWords
	}
	if c.StartWords == nil {
		c.StartWords = DefaultStartWords
	}
	if c.HelpWords == nil {
		c.HelpWords = DefaultHelpWords
	}
	if c.StopReply == "" {
		c.StopReply = DefaultStopReply
	}
	if c.StartReply == "" {
		c.StartReply = DefaultStartReply
	}
	if c.HelpReply == "" {
		c.HelpReply = DefaultHelpReply
	}
	if c.ReassemblyTimeout <= 0 {
		c.ReassemblyTimeout = 24 * time.Hour
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Inbox implements InboundHandler. It decodes the TPDUs modems receive:
// status reports go to a ReportHandler; SMS-DELIVERs are stored as inbound
// messages, long ones reassembled durably through the InboundStore (parts in
// any order, across restarts), and STOP/START/HELP keywords maintain the
// suppression list and are answered once from the same SIM.
//
// HandlePDU returns nil only once what the PDU means is durable (message,
// fragment, opt-out, or the status report handled), so the driver may then
// delete it from the SIM. Re-reading a PDU already handled (a crash before
// AT+CMGD) is a no-op: single messages get a deterministic ID (a ULID whose
// time is the SMSC timestamp and whose entropy is a hash of modem and TPDU),
// and a part of a long message already delivered is recognised by the hash
// list kept in the message's metadata ("fragments").
//
// A PDU that cannot be decoded at all is kept as an inbound message with an
// empty body and Metadata "undecodable" and "tpdu_hex" (and no event), so the
// SIM slot is freed and the evidence kept.
//
// Inbox is safe for concurrent use. Run flushes stale long messages until
// its context ends.
type Inbox struct {
	cfg     InboxConfig
	st      InboxStore
	reports ReportHandler
	sender  Sender
	em      Emitter
	log     *slog.Logger

	flushMu sync.Mutex // one flush at a time

	received    *prometheus.CounterVec
	optouts     *prometheus.CounterVec
	undecodable *prometheus.CounterVec
}

// NewInbox returns an Inbox. reports, sender and em may be nil (status
// reports are then dropped with a warning, no replies are sent, no events
// emitted). It registers simgate_messages_received_total{modem},
// simgate_optouts_total{action} and simgate_inbound_undecodable_total{modem}
// on cfg.Registerer.
func NewInbox(cfg InboxConfig, st InboxStore, reports ReportHandler, sender Sender, em Emitter) *Inbox {
	cfg.setDefaults()
	in := &Inbox{
		cfg: cfg, st: st, reports: reports, sender: sender, em: em,
		log: cfg.Logger,
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_messages_received_total",
			Help: "Inbound messages stored (a long message counts once), by modem.",
		}, []string{"modem"}),
		optouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_optouts_total",
			Help: "Changes to the suppression list made by inbound keywords.",
		}, []string{"action"}),
		undecodable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_inbound_undecodable_total",
			Help: "Inbound PDUs that could not be decoded (kept with their raw bytes).",
		}, []string{"modem"}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(in.received, in.optouts, in.undecodable)
	}
	return in
}

var _ InboundHandler = (*Inbox)(nil)

// HandlePDU implements InboundHandler.
func (in *Inbox) HandlePDU(ctx context.Context, p InboundPDU) error {
	if p.Received.IsZero() {
		p.Received = in.cfg.Now()
	}
	t, err := unmarshalTPDU(p.TPDU)
	if err != nil {
		return in.keepUndecodable(ctx, p, err)
	}
	switch t.SmsType() {
	case tpdu.SmsStatusReport:
		return in.handleReport(ctx, p, t)
	case tpdu.SmsDeliver:
	default:
		return in.keepUndecodable(ctx, p, fmt.Errorf("unexpected %s", t.SmsType()))
	}
	segs, seq, ref, ok := t.ConcatInfo()
	if !ok || segs < 2 || seq < 1 || seq > segs {
		return in.handleSingle(ctx, p, t)
	}
	return in.handleFragment(ctx, p, t, segs, seq, ref)
}

// unmarshalTPDU decodes b as a mobile-terminated TPDU. The library is
// third-party: a panic on hostile input becomes an error.
func unmarshalTPDU(b []byte) (t *tpdu.TPDU, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("tpdu decoder panic: %v", r)
		}
	}()
	return sms.Unmarshal(b)
}

// decodeBody decodes the user data of segs (in order). For 8-bit data the body
// is the bytes made valid UTF-8 and dataHex holds them exactly.
func decodeBody(segs []*tpdu.TPDU) (body, encoding, dataHex string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("user data decoder panic: %v", r)
		}
	}()
	encoding = "gsm7"
	if len(segs) > 0 {
		switch a, _ := segs[0].Alphabet(); a {
		case tpdu.AlphaUCS2:
			encoding = "ucs2"
		case tpdu.Alpha8Bit:
			encoding = "8bit"
		}
	}
	b, err := sms.Decode(segs)
	if err != nil {
		return "", encoding, "", err
	}
	if encoding == "8bit" {
		dataHex = hex.EncodeToString(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), encoding, dataHex, nil
}

// contactOf returns the contact (E.164 when it is a phone number, else the
// sender as given) and the raw sender.
func (in *Inbox) contactOf(t *tpdu.TPDU) (contact, raw string) {
	raw = t.OA.Number()
	if t.OA.TypeOfNumber() == tpdu.TonAlphanumeric || !IsPhoneNumber(raw) {
		return raw, raw
	}
	if e, err := NormalizeNumber(raw, in.cfg.DefaultRegion); err == nil {
		return e, raw
	}
	// Some networks send international digits with TON "unknown".
	if !strings.HasPrefix(raw, "+") && len(raw) >= 8 {
		if e, err := NormalizeNumber("+"+raw, ""); err == nil {
			return e, raw
		}
	}
	return raw, raw // a short code or a number we cannot normalise
}

// inboundID is the deterministic ID of an inbound message: a ULID whose time
// is at (clamped to the ULID range) and whose entropy is the first 10 bytes of
// a SHA-256 over parts.
func inboundID(at time.Time, parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(p)>>24), byte(len(p)>>16), byte(len(p)>>8), byte(len(p))
		h.Write(n[:])
		h.Write(p)
	}
	var id ulid.ULID
	ms := at.UnixMilli()
	if ms < 0 {
		ms = 0
	}
	if uint64(ms) > ulid.MaxTime() {
		ms = int64(ulid.MaxTime())
	}
	_ = id.SetTime(uint64(ms))
	_ = id.SetEntropy(h.Sum(nil)[:10])
	return id.String()
}

// fragmentHash identifies one part of a long message for duplicate detection.
func fragmentHash(modem string, b []byte) string {
	h := sha256.New()
	h.Write([]byte(modem))
	h.Write([]byte{0})
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (in *Inbox) handleSingle(ctx context.Context, p InboundPDU, t *tpdu.TPDU) error {
	contact, raw := in.contactOf(t)
	body, enc, dataHex, err := decodeBody([]*tpdu.TPDU{t})
	if err != nil {
		return in.keepUndecodable(ctx, p, err)
	}
	msg := &Message{
		ID:         inboundID(t.SCTS.Time, []byte(p.Modem), p.TPDU),
		Direction:  Inbound,
		Status:     StatusReceived,
		Contact:    contact,
		ContactRaw: raw,
		Modem:      p.Modem,
		Body:       body,
		Encoding:   enc,
		Segments:   1,
		SentAt:     t.SCTS.Time,
		CreatedAt:  p.Received,
		UpdatedAt:  p.Received,
	}
	if dataHex != "" {
		msg.Metadata = map[string]string{"data_hex": dataHex}
	}
	return in.deliver(ctx, msg, "")
}

func fragmentKey(modem, sender string, t *tpdu.TPDU, ref, segs int) string {
	bits := "8"
	if _, _, _, ok := t.UDH.ConcatInfo8(); !ok {
		bits = "16"
	}
	return fmt.Sprintf("%s|%s|%s:%d|%d", modem, sender, bits, ref, segs)
}

func (in *Inbox) handleFragment(ctx context.Context, p InboundPDU, t *tpdu.TPDU, segs, seq, ref int) error {
	contact, raw := in.contactOf(t)
	key := fragmentKey(p.Modem, raw, t, ref, segs)
	fh := fragmentHash(p.Modem, p.TPDU)

	// A part re-read after its message was completed (crash before AT+CMGD)
	// must not start a new set that would be flushed as a duplicate.
	done, err := in.alreadyDelivered(ctx, contact, p.Modem, t.SCTS.Time, fh)
	if err != nil {
		return err
	}
	if done {
		in.log.Debug("inbound part already delivered", "modem", p.Modem, "seq", seq, "total", segs)
		return nil
	}

	frags, err := in.st.AddFragment(ctx, key, Fragment{Seq: seq, Total: segs, TPDU: append([]byte(nil), p.TPDU...), Received: p.Received})
	if err != nil {
		return fmt.Errorf("inbound: store part %d/%d: %w", seq, segs, err)
	}
	have := map[int]bool{}
	for _, f := range frags {
		if f.Total == segs && f.Seq >= 1 && f.Seq <= segs {
			have[f.Seq] = true
		}
	}
	in.log.Debug("inbound part stored", "modem", p.Modem, "seq", seq, "total", segs, "have", len(have))
	if len(have) < segs {
		return nil
	}
	msg, err := in.assemble(p.Modem, contact, raw, frags, segs)
	if err != nil {
		return err
	}
	return in.deliver(ctx, msg, key)
}

// alreadyDelivered reports whether a delivered inbound message from contact
// on modem lists the fragment hash fh. Only messages created since a day
// before the part's SMSC timestamp are searched (the message was completed
// after the part was first read).
func (in *Inbox) alreadyDelivered(ctx context.Context, contact, modem string, scts time.Time, fh string) (bool, error) {
	since := scts.Add(-24 * time.Hour)
	if since.IsZero() || scts.IsZero() {
		since = time.Time{}
	}
	page, err := in.st.ListMessages(ctx, MessageFilter{Direction: Inbound, Contact: contact, Modem: modem, Since: since, Limit: 200})
	if err != nil {
		return false, fmt.Errorf("inbound: look up delivered parts: %w", err)
	}
	for _, m := range page.Messages {
		if m.Modem != modem {
			continue
		}
		for _, h := range strings.Split(m.Metadata["fragments"], ",") {
			if h == fh {
				return true, nil
			}
		}
	}
	return false, nil
}

// assemble decodes the fragments of a set (those of total segs, ordered by
// seq, one per seq) into one message. A set missing parts (a flush after
// the timeout) is marked incomplete in its metadata.
func (in *Inbox) assemble(modem, contact, raw string, frags []Fragment, segs int) (*Message, error) {
	bySeq := map[int]Fragment{}
	for _, f := range frags {
		if f.Total != segs || f.Seq < 1 || f.Seq > segs {
			continue
		}
		if _, dup := bySeq[f.Seq]; !dup {
			bySeq[f.Seq] = f
		}
	}
	seqs := make([]int, 0, len(bySeq))
	for s := range bySeq {
		seqs = append(seqs, s)
	}
	sort.Ints(seqs)

	var (
		tpdus   []*tpdu.TPDU
		idParts = [][]byte{[]byte(modem)}
		hashes  []string
		newest  time.Time
		first   time.Time
		used    []int
	)
	for _, s := range seqs {
		f := bySeq[s]
		t, err := unmarshalTPDU(f.TPDU)
		if err != nil {
			in.log.Warn("stored inbound part undecodable; skipped", "modem", modem, "seq", s, "err", err)
			continue
		}
		tpdus = append(tpdus, t)
		idParts = append(idParts, f.TPDU)
		hashes = append(hashes, fragmentHash(modem, f.TPDU))
		used = append(used, s)
		if f.Received.After(newest) {
			newest = f.Received
		}
		if first.IsZero() {
			first = t.SCTS.Time
		}
	}
	if len(tpdus) == 0 {
		return nil, errors.New("inbound: no decodable part in set")
	}
	md := map[string]string{"fragments": strings.Join(hashes, ",")}
	body, enc, dataHex, err := decodeBody(tpdus)
	complete := len(used) == segs
	if err != nil || !complete {
		// Decode part by part: a missing part may split a surrogate pair.
		var b strings.Builder
		for i, t := range tpdus {
			if i > 0 && used[i] != used[i-1]+1 {
				b.WriteString("…")
			}
			s, e, _, derr := decodeBody([]*tpdu.TPDU{t})
			if derr != nil {
				b.WriteString("\uFFFD")
				continue
			}
			enc = e
			b.WriteString(s)
		}
		body = b.String()
		dataHex = ""
	}
	if dataHex != "" {
		md["data_hex"] = dataHex
	}
	if !complete {
		md["incomplete"] = "true"
		md["parts_total"] = strconv.Itoa(segs)
		var got []string
		for _, s := range used {
			got = append(got, strconv.Itoa(s))
		}
		md["parts_received"] = strings.Join(got, ",")
	}
	return &Message{
		ID:         inboundID(first, idParts...),
		Direction:  Inbound,
		Status:     StatusReceived,
		Contact:    contact,
		ContactRaw: raw,
		Modem:      modem,
		Body:       body,
		Encoding:   enc,
		Segments:   len(used),
		SentAt:     first,
		Metadata:   md,
		CreatedAt:  newest,
		UpdatedAt:  newest,
	}, nil
}

// deliver stores msg (deleting the fragments of key in the same transaction),
// applies any keyword, then emits events and counts it. A message that is
// already stored is a re-read: nothing else happens.
func (in *Inbox) deliver(ctx context.Context, msg *Message, key string) error {
	if _, err := in.st.GetMessage(ctx, msg.ID); err == nil {
		in.log.Debug("inbound message already stored", "id", msg.ID, "modem", msg.Modem)
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("inbound: look up %s: %w", msg.ID, err)
	}

	kw := KeywordNone
	if msg.Metadata["incomplete"] == "" && strings.HasPrefix(msg.Contact, "+") {
		kw = MatchKeyword(msg.Body, in.cfg.StopWords, in.cfg.StartWords, in.cfg.HelpWords)
	}
	var change *Event
	if kw != KeywordNone {
		ev, err := in.applyKeyword(ctx, msg, kw)
		if err != nil {
			return err
		}
		change = ev
	}

	if err := in.st.CompleteInbound(ctx, msg, key); err != nil {
		if errors.Is(err, ErrExists) {
			return nil // stored by a concurrent read of the same PDU
		}
		return fmt.Errorf("inbound: store message: %w", err)
	}
	in.received.WithLabelValues(msg.Modem).Inc()
	if in.cfg.Counter != nil {
		in.cfg.Counter.CountReceived(msg.Modem, msg.Contact)
	}
	in.log.Info("inbound message stored", "id", msg.ID, "modem", msg.Modem,
		"from", MaskNumber(msg.Contact), "segments", msg.Segments, "incomplete", msg.Metadata["incomplete"] == "true", "keyword", kw.String())
	if in.em != nil {
		in.em.Emit(ctx, Event{Type: EventMessageReceived, MessageID: msg.ID, Modem: msg.Modem, Data: msg.Clone()})
		if change != nil {
			in.em.Emit(ctx, *change)
		}
	}
	return nil
}

// applyKeyword updates the suppression list for a keyword message that is
// not yet stored, and queues the one reply. It runs before the message is
// stored so that a crash in between is repaired by the re-read: the reply
// carries an IdempotencyKey derived from the message ID (a second Submit
// returns the first message), and the list change is idempotent. It returns
// the event to emit once the message is stored (nil for none).
func (in *Inbox) applyKeyword(ctx context.Context, msg *Message, kw Keyword) (*Event, error) {
	at := msg.SentAt // when the person sent the keyword
	if at.IsZero() {
		at = msg.CreatedAt
	}
	keyword := strings.ToUpper(strings.TrimRight(strings.TrimSpace(msg.Body), ".! \t\r\n"))
	entry, was, err := in.optOutEntry(ctx, msg.Contact)
	if err != nil {
		return nil, fmt.Errorf("inbound: opt-out check: %w", err)
	}
	switch kw {
	case KeywordStop:
		// An entry written by an earlier attempt at this very message (a
		// crash before it was stored) is finished, not treated as old.
		ours := was && entry.Source == "sms" && entry.Modem == msg.Modem && entry.Keyword == keyword && entry.At.Equal(at)
		if was && !ours {
			return nil, nil // one confirmation per opt-out, nothing more
		}
		in.reply(ctx, msg, kw, in.cfg.StopReply)
		o := OptOut{Number: msg.Contact, Keyword: keyword, Source: "sms", Modem: msg.Modem, At: at}
		if err := in.st.AddOptOut(ctx, o); err != nil {
			return nil, fmt.Errorf("inbound: add opt-out: %w", err)
		}
		in.optouts.WithLabelValues("added").Inc()
		in.log.Info("opt-out added", "number", MaskNumber(msg.Contact), "modem", msg.Modem)
		return &Event{Type: EventOptOut, MessageID: msg.ID, Modem: msg.Modem, Data: o}, nil
	case KeywordStart:
		if !was {
			return nil, nil
		}
		in.reply(ctx, msg, kw, in.cfg.StartReply)
		if err := in.st.RemoveOptOut(ctx, msg.Contact); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("inbound: remove opt-out: %w", err)
		}
		in.optouts.WithLabelValues("removed").Inc()
		in.log.Info("opt-out removed", "number", MaskNumber(msg.Contact), "modem", msg.Modem)
		o := OptOut{Number: msg.Contact, Keyword: keyword, Source: "sms", Modem: msg.Modem, At: at}
		return &Event{Type: EventOptIn, MessageID: msg.ID, Modem: msg.Modem, Data: o}, nil
	case KeywordHelp:
		in.reply(ctx, msg, kw, in.cfg.HelpReply)
	}
	return nil, nil
}

// optOutEntry returns number's suppression-list entry, if any. OptOutStore
// has no point lookup; ListOptOuts lists after a key (exclusive), so it is
// asked for the first entry after the greatest string below number that no
// E.164 number lies between.
func (in *Inbox) optOutEntry(ctx context.Context, number string) (OptOut, bool, error) {
	if number == "" {
		return OptOut{}, false, nil
	}
	last := number[len(number)-1]
	after := ""
	if last > 0 {
		after = number[:len(number)-1] + string([]byte{last - 1, 0x7f})
	}
	list, err := in.st.ListOptOuts(ctx, after, 1)
	if err != nil {
		return OptOut{}, false, err
	}
	if len(list) == 1 && list[0].Number == number {
		return list[0], true, nil
	}
	// Fall back to the authoritative check (a store whose ordering differs).
	out, err := in.st.OptedOut(ctx, number)
	return OptOut{}, out, err
}

// reply queues text to msg's sender from the modem that received msg. A
// failure is logged, not returned: the opt-out itself must not wait for a
// modem.
func (in *Inbox) reply(ctx context.Context, msg *Message, kw Keyword, text string) {
	if in.sender == nil || text == "-" || text == "" {
		return
	}
	key := "system:" + kw.String() + ":" + msg.ID
	req := SendRequest{
		To:             msg.Contact,
		From:           msg.Modem,
		Body:           text,
		Agent:          OptOutAgent,
		Metadata:       map[string]string{"reply_to": msg.ID, "keyword": kw.String()},
		IdempotencyKey: key,
		RequestHash:    key,
		OptOutReply:    true,
	}
	out, err := in.sender.Submit(ctx, req)
	if err != nil {
		in.log.Error("keyword reply not queued", "keyword", kw.String(), "modem", msg.Modem, "number", MaskNumber(msg.Contact), "err", err)
		return
	}
	in.log.Info("keyword reply queued", "keyword", kw.String(), "id", out.ID, "modem", msg.Modem)
}

func (in *Inbox) handleReport(ctx context.Context, p InboundPDU, t *tpdu.TPDU) error {
	r := StatusReport{Modem: p.Modem, MR: int(t.MR), Status: int(t.ST), Recipient: t.RA.Number(), Received: p.Received}
	if in.reports == nil {
		in.log.Warn("status report dropped: no report handler", "modem", p.Modem, "mr", r.MR)
		return nil
	}
	if err := in.reports.HandleReport(ctx, r); err != nil {
		return fmt.Errorf("inbound: status report: %w", err)
	}
	return nil
}

// keepUndecodable stores a PDU that cannot be decoded, so that the SIM slot is
// freed and the bytes are kept. Its ID hashes modem and TPDU with the hour it
// was read, so a re-read within the hour is a no-op.
func (in *Inbox) keepUndecodable(ctx context.Context, p InboundPDU, cause error) error {
	reason := cause.Error()
	if len(reason) > 200 || !utf8.ValidString(reason) {
		reason = strings.ToValidUTF8(reason[:min(len(reason), 200)], "")
	}
	at := p.Received.Truncate(time.Hour)
	msg := &Message{
		ID:        inboundID(at, []byte("undecodable"), []byte(p.Modem), p.TPDU),
		Direction: Inbound,
		Status:    StatusReceived,
		Modem:     p.Modem,
		Metadata:  map[string]string{"undecodable": reason, "tpdu_hex": hex.EncodeToString(p.TPDU)},
		CreatedAt: p.Received,
		UpdatedAt: p.Received,
	}
	if err := in.st.CompleteInbound(ctx, msg, ""); err != nil && !errors.Is(err, ErrExists) {
		return fmt.Errorf("inbound: store undecodable pdu: %w", err)
	}
	in.undecodable.WithLabelValues(p.Modem).Inc()
	in.log.Warn("inbound pdu undecodable; kept raw", "id", msg.ID, "modem", p.Modem, "err", reason)
	return nil
}

// Run delivers long messages whose newest part is older than
// ReassemblyTimeout with the parts that came, once at start and then every
// FlushInterval, until ctx ends. It returns nil when ctx ends.
func (in *Inbox) Run(ctx context.Context) error {
	tick := time.NewTicker(in.cfg.FlushInterval)
	defer tick.Stop()
	for {
		if err := in.FlushStale(ctx); err != nil && ctx.Err() == nil {
			in.log.Error("flush stale inbound parts", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// FlushStale delivers, incomplete, every long message whose newest part is
// older than ReassemblyTimeout. Run calls it; it is exported for tests and
// for operators' tools.
func (in *Inbox) FlushStale(ctx context.Context) error {
	in.flushMu.Lock()
	defer in.flushMu.Unlock()
	sets, err := in.st.StaleFragments(ctx, in.cfg.Now().Add(-in.cfg.ReassemblyTimeout))
	if err != nil {
		return fmt.Errorf("inbound: stale parts: %w", err)
	}
	keys := make([]string, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, key := range keys {
		frags := sets[key]
		if len(frags) == 0 {
			continue
		}
		modem, segs := keyModemTotal(key, frags)
		t, err := unmarshalTPDU(frags[0].TPDU)
		if err != nil {
			errs = append(errs, fmt.Errorf("set %q: %w", key, err))
			continue
		}
		contact, raw := in.contactOf(t)
		msg, err := in.assemble(modem, contact, raw, frags, segs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := in.deliver(ctx, msg, key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// keyModemTotal recovers the modem and the part count of a fragment key
// ("modem|sender|bits:ref|total"); the total falls back to the fragments'.
func keyModemTotal(key string, frags []Fragment) (string, int) {
	modem := key
	if i := strings.Index(key, "|"); i >= 0 {
		modem = key[:i]
	}
	total := 0
	if i := strings.LastIndex(key, "|"); i >= 0 {
		total, _ = strconv.Atoi(key[i+1:])
	}
	if total == 0 && len(frags) > 0 {
		total = frags[0].Total
	}
	return modem, total
}
