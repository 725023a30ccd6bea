package modemsim

import (
	"errors"
	"fmt"
)

// SIMCard is a SIM as it moves between modems: its identity, its number
// (the network routes the number to whichever modem holds the card), its
// PIN and its credit.
type SIMCard struct {
	MSISDN      string `json:"msisdn"`
	IMSI        string `json:"imsi"`
	ICCID       string `json:"iccid"`
	PIN         string `json:"pin,omitempty"`
	BalanceCode string `json:"balance_code,omitempty"`
	Balance     string `json:"balance,omitempty"`
}

// Errors of TakeSIM, InsertSIM and MoveSIM.
var (
	ErrNoSIM      = errors.New("modemsim: no SIM in the modem")
	ErrSIMPresent = errors.New("modemsim: the modem holds a SIM already")
)

// hotSwap reports whether the modem notices a SIM taken out or put in
// while it runs, announcing it with ^SIMST (Huawei: ^SIMST: 255 when the
// SIM goes, ^SIMST: 1 when a valid one comes). Other firmwares read the
// SIM only when they boot (AT+CFUN=1,1, a replug): until then a new card
// goes unseen and the modem answers as if it had none. m.mu held.
func (m *Modem) hotSwap() bool { return m.cfg.Manufacturer == "huawei" }

// TakeSIM takes the SIM out of the modem. From then on the modem answers
// +CME ERROR: 10 (SIM not inserted) to SIM commands (+CPIN?, +CIMI,
// +CCID ...) and +CMS ERROR: 310 to SMS commands, is not registered
// (+CREG: n,0), and the network no longer routes the card's number to it.
func (m *Modem) TakeSIM() (SIMCard, error) {
	m.mu.Lock()
	if m.noSIM {
		m.mu.Unlock()
		return SIMCard{}, ErrNoSIM
	}
	c := SIMCard{MSISDN: m.cfg.MSISDN, IMSI: m.cfg.IMSI, ICCID: m.cfg.ICCID, PIN: m.cfg.PIN,
		BalanceCode: m.cfg.BalanceCode, Balance: m.balance}
	m.cfg.MSISDN, m.cfg.IMSI, m.cfg.ICCID, m.cfg.PIN = "", "", "", ""
	m.noSIM, m.waitingCard = true, nil
	m.pinState, m.pinTries = pinAbsent, 0
	m.ussdOpen = false
	if m.hotSwap() {
		m.urc("^SIMST: 255")
	}
	m.regChanged()
	m.mu.Unlock()
	m.net.route(c.MSISDN, m, nil)
	m.log.Info("SIM taken out")
	return c, nil
}

// InsertSIM puts card into the modem, which must have none. A hot-swap
// modem (hotSwap) reads it at once and announces it (^SIMST: 1); it asks
// for the card's PIN if it has one. Any other modem reads it at its next
// boot. The network routes the card's number to this modem from now on.
func (m *Modem) InsertSIM(card SIMCard) error {
	if card.ICCID == "" || card.IMSI == "" || card.MSISDN == "" {
		return fmt.Errorf("modemsim: a SIM needs an ICCID, an IMSI and a number")
	}
	m.mu.Lock()
	if !m.noSIM || m.waitingCard != nil {
		m.mu.Unlock()
		return ErrSIMPresent
	}
	if m.hotSwap() {
		m.readCardLocked(card)
		m.urc("^SIMST: 1")
		m.regChanged()
	} else {
		m.waitingCard = &card
	}
	m.mu.Unlock()
	m.net.route(card.MSISDN, nil, m)
	m.log.Info("SIM inserted")
	return nil
}

// readCardLocked makes card the modem's SIM. m.mu held.
func (m *Modem) readCardLocked(card SIMCard) {
	m.cfg.MSISDN, m.cfg.IMSI, m.cfg.ICCID, m.cfg.PIN = card.MSISDN, card.IMSI, card.ICCID, card.PIN
	if card.BalanceCode != "" {
		m.cfg.BalanceCode = card.BalanceCode
	}
	m.balance = card.Balance
	m.noSIM, m.waitingCard = false, nil
	m.pinTries = 0
	m.pinState = pinReady
	if card.PIN != "" {
		m.pinState = pinSIM
	}
}

// HasSIM reports whether the modem holds a SIM it has read.
func (m *Modem) HasSIM() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.noSIM
}

// MoveSIM takes the SIM out of modem from and puts it into modem to
// (which must have none), as an operator moving a card between slots.
func (n *Network) MoveSIM(from, to string) (SIMCard, error) {
	src, dst := n.Modem(from), n.Modem(to)
	if src == nil || dst == nil {
		return SIMCard{}, fmt.Errorf("modemsim: no modem %q or %q", from, to)
	}
	if dst.HasSIM() {
		return SIMCard{}, fmt.Errorf("modem %s: %w", to, ErrSIMPresent)
	}
	card, err := src.TakeSIM()
	if err != nil {
		return SIMCard{}, fmt.Errorf("modem %s: %w", from, err)
	}
	if err := dst.InsertSIM(card); err != nil {
		src.InsertSIM(card) // put it back
		return SIMCard{}, fmt.Errorf("modem %s: %w", to, err)
	}
	return card, nil
}

// NewSIM returns a fresh card with unique defaults (as AddModem gives).
func (n *Network) NewSIM() SIMCard {
	n.mu.Lock()
	n.serial++
	k := n.serial
	n.mu.Unlock()
	return SIMCard{
		MSISDN:  fmt.Sprintf("+1555%07d", 1000+k),
		IMSI:    fmt.Sprintf("310260%09d", k),
		ICCID:   withLuhn(fmt.Sprintf("890126%012d", k)),
		Balance: "12.34 USD",
	}
}

// route points number at modem to (nil: nowhere), unless it points at
// another modem than from (not nil).
func (n *Network) route(number string, from, to *Modem) {
	if number == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	k := numberKey(number)
	if from != nil && n.byNumber[k] != from {
		return
	}
	if to == nil {
		delete(n.byNumber, k)
		return
	}
	n.byNumber[k] = to
}
