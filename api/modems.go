package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// MaxReasonLen bounds a pause reason.
const MaxReasonLen = 200

func (s *Server) listModems(c echo.Context) error {
	ms := s.fleet.Modems()
	out := ModemList{Data: make([]ModemView, 0, len(ms))}
	for _, m := range ms {
		out.Data = append(out.Data, s.viewModem(m))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getModem(c echo.Context) error {
	m, err := s.fleet.Modem(c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewModem(m))
}

// pauseBody is the optional body of POST /v1/modems/{name}/pause.
type pauseBody struct {
	Reason string `json:"reason"`
	Until  string `json:"until,omitempty"`
}

func (s *Server) pauseModem(c echo.Context) error {
	b, err := readBody(c, s.limit)
	if err != nil {
		return err
	}
	var pb pauseBody
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := decodeStrict(b, &pb); err != nil {
			return err
		}
	}
	var until time.Time
	var fe fieldErrors
	if len(pb.Reason) > MaxReasonLen {
		fe = append(fe, FieldError{Field: "reason", Reason: "is longer than 200 bytes"})
	}
	if pb.Until != "" {
		t, err := time.Parse(time.RFC3339, pb.Until)
		switch {
		case err != nil:
			fe = append(fe, FieldError{Field: "until", Reason: "must be an RFC 3339 date-time"})
		case !t.After(s.now()):
			fe = append(fe, FieldError{Field: "until", Reason: "must be in the future"})
		}
		until = t
	}
	if len(fe) > 0 {
		return fe
	}
	if pb.Reason == "" {
		pb.Reason = "paused through the API"
	}
	return s.steer(c, func(name string) error { return s.fleet.Pause(name, pb.Reason, until) })
}

func (s *Server) resumeModem(c echo.Context) error {
	return s.steer(c, s.fleet.Resume)
}

func (s *Server) drainModem(c echo.Context) error {
	return s.steer(c, s.fleet.Drain)
}

// steer applies op to the modem named in the path and answers its view.
func (s *Server) steer(c echo.Context, op func(name string) error) error {
	name := c.Param("name")
	if err := op(name); err != nil {
		return err
	}
	m, err := s.fleet.Modem(name)
	if err != nil {
		return err
	}
	k, _ := keyOf(c)
	s.log.Info("modem steered", "modem", name, "route", c.Path(), "key_id", k.ID)
	return c.JSON(http.StatusOK, s.viewModem(m))
}
