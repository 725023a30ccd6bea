package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
)

// usersPage is the people page's model: the list and the create form.
type usersPage struct {
	List                 []account.User
	Login, Name, Role    string
	Errors               map[string]string
	Created, NewPassword string
}

func (a *App) usersList(c echo.Context, p *usersPage) error {
	list, err := a.accounts.Users(c.Request().Context())
	p.List = list
	return err
}

func (a *App) users(c echo.Context) error {
	u, _ := userOf(c)
	p := usersPage{Role: string(account.RoleTexter)}
	if err := a.usersList(c, &p); err != nil {
		return err
	}
	return a.render(c, http.StatusOK, "users", page{Title: "People", Nav: "users", User: u, CSRF: csrfOf(c), Data: p})
}

func (a *App) createUser(c echo.Context) error {
	me, _ := userOf(c)
	p := usersPage{
		Login: strings.TrimSpace(c.FormValue("login")), Name: strings.TrimSpace(c.FormValue("name")),
		Role: c.FormValue("role"), Errors: map[string]string{},
	}
	pw := c.FormValue("password")
	status := http.StatusOK
	nu, err := a.accounts.Create(c.Request().Context(), account.NewUser{Login: p.Login, Name: p.Name, Role: account.Role(p.Role), Password: pw})
	var ve *gateway.ValidationError
	switch {
	case errors.As(err, &ve):
		p.Errors[ve.Field] = "The " + ve.Field + " " + ve.Reason + "."
		status = http.StatusUnprocessableEntity
	case errors.Is(err, gateway.ErrExists):
		p.Errors["login"] = "This login is taken."
		status = http.StatusUnprocessableEntity
	case err != nil:
		return err
	default:
		a.log.Info("web: user created", "user", nu.ID, "role", string(nu.Role), "by", me.ID)
		p = usersPage{Created: nu.Login, Role: string(account.RoleTexter)}
	}
	if err := a.usersList(c, &p); err != nil {
		return err
	}
	return a.render(c, status, "users", page{Title: "People", Nav: "users", User: me, CSRF: csrfOf(c), Data: p})
}

func (a *App) disableUser(c echo.Context) error { return a.setDisabled(c, true) }
func (a *App) enableUser(c echo.Context) error  { return a.setDisabled(c, false) }

func (a *App) setDisabled(c echo.Context, disabled bool) error {
	me, _ := userOf(c)
	id := c.Param("id")
	if id == me.ID && disabled {
		return &pageError{http.StatusUnprocessableEntity, "You cannot disable your own account."}
	}
	if err := a.accounts.SetDisabled(c.Request().Context(), id, disabled); err != nil {
		return err
	}
	a.log.Info("web: user disabled", "user", id, "disabled", disabled, "by", me.ID)
	return c.Redirect(http.StatusSeeOther, Prefix+"/users")
}
