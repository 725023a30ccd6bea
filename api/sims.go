package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
)

// SIMView is a SIM as the API shows it: its inventory record (identity,
// the modem it is in, counters, budget, pause, balance readings) and, while
// it is in a modem, that modem's live state.
type SIMView struct {
	gateway.SIMView
}

// SIMList is the answer of GET /v1/sims.
type SIMList struct {
	Data []SIMView `json:"data"`
}

func viewSIM(s gateway.SIMView) SIMView { return SIMView{SIMView: s} }

func (s *Server) listSIMs(c echo.Context) error {
	sims := s.fleet.SIMs()
	out := SIMList{Data: make([]SIMView, 0, len(sims))}
	for _, v := range sims {
		out.Data = append(out.Data, viewSIM(v))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getSIM(c echo.Context) error {
	v, err := s.fleet.SIM(c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewSIM(v))
}
