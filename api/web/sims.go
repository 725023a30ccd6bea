package web

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
)

// simRow is one SIM of the inventory on the SIMs page: what the API's GET
// /v1/sims shows, less the SIM's own number (MSISDN), which the page
// leaves out (the ICCID identifies the card).
type simRow struct {
	gateway.SIMView
	Factors []string
	// Hold is the SIM's pause or drain: its modem's while it is in one,
	// else the one kept in its record.
	Hold *gateway.ModemHold
	// LastBalance is the latest balance reading (nil: none).
	LastBalance *gateway.BalanceReading
	// RecentMoves are its last moves, newest first; EarlierMoves how many
	// older ones the record keeps.
	RecentMoves  []gateway.SIMMove
	EarlierMoves int
}

// recentMoves is how many moves a SIM's row lists.
const recentMoves = 3

func (a *App) simRows() []simRow {
	sims := a.fleet.SIMs()
	rows := make([]simRow, len(sims))
	for i, s := range sims {
		s.MSISDN = ""
		r := simRow{SIMView: s, Hold: s.Budget.Hold}
		if s.InModem {
			r.Factors = healthFactors(s.Health)
			r.Hold = nil
			if s.Paused || s.Draining {
				r.Hold = &gateway.ModemHold{Paused: s.Paused, Reason: s.PauseReason, Until: s.PausedUntil, Draining: s.Draining}
			}
		}
		if n := len(s.Balance); n > 0 {
			r.LastBalance = &s.Balance[n-1]
		}
		moves := slices.Clone(s.Moves)
		slices.Reverse(moves)
		r.RecentMoves = moves[:min(len(moves), recentMoves)]
		r.EarlierMoves = len(moves) - len(r.RecentMoves)
		rows[i] = r
	}
	return rows
}

// opsSIMs is the SIMs page: every SIM the gateway has seen, in a modem or not.
func (a *App) opsSIMs(c echo.Context) error {
	u, _ := userOf(c)
	return a.render(c, http.StatusOK, "sims", page{Title: "SIMs", Nav: "sims", User: u, CSRF: csrfOf(c), Data: a.simRows()})
}

// simTail shortens a SIM's ID for the modems table: "…" and its last 6
// characters.
func simTail(id string) string {
	if r := []rune(id); len(r) > 7 {
		return "…" + string(r[len(r)-6:])
	}
	return id
}
