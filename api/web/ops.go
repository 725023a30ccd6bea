package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/balance"
)

func (a *App) home(c echo.Context) error {
	u, _ := userOf(c)
	if u.Role == account.RoleOrganiser {
		if a.camps != nil {
			return c.Redirect(http.StatusSeeOther, Prefix+"/campaigns")
		}
		return c.Redirect(http.StatusSeeOther, Prefix+"/ops")
	}
	return a.texterHome(c)
}

func (a *App) help(c echo.Context) error {
	u, _ := userOf(c)
	return a.render(c, http.StatusOK, "help", page{Title: "Keyboard shortcuts", Nav: "help", User: u, CSRF: csrfOf(c)})
}

// modemRow is one modem in the operations view.
type modemRow struct {
	gateway.ModemView
	Signal string
	// Factors are the health score's parts known, as "signal 93%".
	Factors []string
	Balance *balance.Result
}

// healthFactors lists h's known parts in the order of the README.
func healthFactors(h gateway.SIMHealth) []string {
	var out []string
	for _, f := range []struct {
		name string
		v    *float64
	}{{"signal", h.Signal}, {"registration", h.Registration}, {"failures", h.Failures}, {"reports", h.Reports}, {"replies", h.Replies}, {"budget", h.Budget}} {
		if f.v != nil {
			out = append(out, fmt.Sprintf("%s %.0f%%", f.name, 100**f.v))
		}
	}
	return out
}

func (a *App) modemRows() []modemRow {
	ms := a.fleet.Modems()
	slices.SortFunc(ms, func(x, y gateway.ModemView) int { return strings.Compare(x.Name, y.Name) })
	rows := make([]modemRow, len(ms))
	for i, m := range ms {
		rows[i] = modemRow{ModemView: m, Signal: signalText(m.Status), Factors: healthFactors(m.Health)}
		if a.balances != nil {
			if b, ok := a.balances.Last(m.Name); ok {
				rows[i].Balance = &b
			}
		}
	}
	return rows
}

func (a *App) ops(c echo.Context) error {
	u, _ := userOf(c)
	return a.render(c, http.StatusOK, "ops", page{Title: "Modems", Nav: "ops", User: u, CSRF: csrfOf(c), Data: a.modemRows()})
}

// opsModems is the modems table alone, which the page polls.
func (a *App) opsModems(c echo.Context) error {
	return a.renderBlock(c, http.StatusOK, "ops", "modems", page{CSRF: csrfOf(c), Data: a.modemRows()})
}

func (a *App) pauseModem(c echo.Context) error {
	name := c.Param("name")
	reason := strings.TrimSpace(c.FormValue("reason"))
	if reason == "" {
		reason = "paused from the web app"
	}
	if len(reason) > 200 {
		return gateway.Invalid("reason", "is longer than 200 characters")
	}
	u, _ := userOf(c)
	if err := a.fleet.Pause(name, reason, time.Time{}); err != nil {
		return modemErr(err)
	}
	a.log.Info("web: modem paused", "modem", name, "user", u.ID)
	return a.afterModemChange(c)
}

func (a *App) resumeModem(c echo.Context) error {
	name := c.Param("name")
	u, _ := userOf(c)
	if err := a.fleet.Resume(name); err != nil {
		return modemErr(err)
	}
	a.log.Info("web: modem resumed", "modem", name, "user", u.ID)
	return a.afterModemChange(c)
}

func modemErr(err error) error {
	if errors.Is(err, gateway.ErrNoModem) || errors.Is(err, gateway.ErrNotFound) {
		return &pageError{http.StatusNotFound, "There is no such modem."}
	}
	return err
}

func (a *App) afterModemChange(c echo.Context) error {
	if isHTMX(c) {
		return a.opsModems(c)
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/ops")
}

// optOutPage is the opt-out list's model.
type optOutPage struct {
	List       []gateway.OptOut
	Next       string // the number to list after, for the next page
	Number     string // the add form's value
	Error      string // the add form's error
	Added      string
	OptOutSize int
}

const optOutPageSize = 100

func (a *App) optOutList(c echo.Context, p *optOutPage) error {
	after := c.QueryParam("after")
	list, err := a.optouts.ListOptOuts(c.Request().Context(), after, optOutPageSize+1)
	if err != nil {
		return err
	}
	if len(list) > optOutPageSize {
		list = list[:optOutPageSize]
		p.Next = list[len(list)-1].Number
	}
	p.List = list
	return nil
}

func (a *App) optOuts(c echo.Context) error {
	u, _ := userOf(c)
	var p optOutPage
	if err := a.optOutList(c, &p); err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "optouts", page{Title: "Opt-outs", Nav: "optouts", User: u, CSRF: csrfOf(c), Data: p})
}

func (a *App) addOptOut(c echo.Context) error {
	u, _ := userOf(c)
	p := optOutPage{Number: strings.TrimSpace(c.FormValue("number"))}
	status := http.StatusOK
	n, err := gateway.NormalizeNumber(p.Number, a.cfg.DefaultRegion)
	if err != nil {
		p.Error = "This is not a phone number."
		var ve *gateway.ValidationError
		if errors.As(err, &ve) {
			p.Error = "This number " + ve.Reason + "."
		}
		status = http.StatusUnprocessableEntity
	} else {
		ctx := c.Request().Context()
		o := gateway.OptOut{Number: n, Source: "web", At: a.now().UTC()}
		if err := a.optouts.AddOptOut(ctx, o); err != nil {
			return err
		}
		if a.events != nil {
			a.events.Emit(ctx, gateway.Event{Type: gateway.EventOptOut, Time: o.At, Data: o})
		}
		a.log.Info("web: opt-out added", "number", gateway.MaskNumber(n), "user", u.ID)
		p.Added, p.Number = n, ""
	}
	if err := a.optOutList(c, &p); err != nil {
		return err
	}
	return a.render(c, status, "optouts", page{Title: "Opt-outs", Nav: "optouts", User: u, CSRF: csrfOf(c), Data: p})
}
