package api

import (
	"net/http"
	"regexp"

	"github.com/labstack/echo/v4"
)

// ussdBody is the body of POST /v1/modems/{name}/ussd.
type ussdBody struct {
	Code string `json:"code"`
}

// USSDAnswer is the network's answer to a USSD code run on a modem.
type USSDAnswer struct {
	Modem  string `json:"modem"`
	Code   string `json:"code"`
	Text   string `json:"text"`
	Status int    `json:"status"`
	DCS    int    `json:"dcs"`
}

// ussdCode is what a USSD code may hold: digits, * and #, + (TS 22.030).
var ussdCode = regexp.MustCompile(`^[0-9*#+]{1,32}$`)

// runUSSD runs a code on a modem through the modem's own goroutine; the
// answer can take the network up to the driver's USSD timeout (30 s).
func (s *Server) runUSSD(c echo.Context) error {
	b, err := readBody(c, s.limit)
	if err != nil {
		return err
	}
	var ub ussdBody
	if err := decodeStrict(b, &ub); err != nil {
		return err
	}
	if !ussdCode.MatchString(ub.Code) {
		return fieldErrors{{Field: "code", Reason: "must be a USSD code of digits, * and # (at most 32), e.g. *100#"}}
	}
	name := c.Param("name")
	reply, err := s.ussd.RunUSSD(c.Request().Context(), name, ub.Code)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, USSDAnswer{Modem: name, Code: ub.Code, Text: reply.Text, Status: reply.Status, DCS: reply.DCS})
}
