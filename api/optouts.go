package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
)

func (s *Server) listOptOuts(c echo.Context) error {
	q := c.QueryParams()
	limit := DefaultLimit
	var fe fieldErrors
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			fe = append(fe, FieldError{Field: "limit", Reason: "must be a whole number from 1 to " + strconv.Itoa(MaxLimit)})
		}
		limit = n
	}
	after := ""
	if v := q.Get("cursor"); v != "" {
		a, ok := unwrapCursor(v)
		if !ok {
			fe = append(fe, FieldError{Field: "cursor", Reason: "is not a cursor this API returned"})
		}
		after = a
	}
	if len(fe) > 0 {
		return fe
	}
	// One more than asked tells whether there is a next page.
	list, err := s.optouts.ListOptOuts(c.Request().Context(), after, limit+1)
	if err != nil {
		return fmt.Errorf("list opt-outs: %w", err)
	}
	pg := OptOutPage{Data: list}
	if len(list) > limit {
		pg.Data = list[:limit]
		pg.NextCursor = wrapCursor(list[limit-1].Number)
	}
	if pg.Data == nil {
		pg.Data = []gateway.OptOut{}
	}
	return c.JSON(http.StatusOK, pg)
}

// importBody is the body of POST /v1/optouts.
type importBody struct {
	Numbers []string `json:"numbers"`
	Keyword string   `json:"keyword,omitempty"`
}

// importOptOuts adds numbers to the suppression list. Every number is
// normalised first; if any is wrong nothing is added and the errors name
// each by index ("numbers[3]").
func (s *Server) importOptOuts(c echo.Context) error {
	b, err := readBody(c, s.limit)
	if err != nil {
		return err
	}
	var ib importBody
	if err := decodeStrict(b, &ib); err != nil {
		return err
	}
	var fe fieldErrors
	switch {
	case len(ib.Numbers) == 0:
		fe = append(fe, FieldError{Field: "numbers", Reason: "at least one number is required"})
	case len(ib.Numbers) > MaxOptOutImport:
		fe = append(fe, FieldError{Field: "numbers", Reason: "at most " + strconv.Itoa(MaxOptOutImport) + " numbers per request"})
	}
	if len(ib.Keyword) > 32 {
		fe = append(fe, FieldError{Field: "keyword", Reason: "is longer than 32 bytes"})
	}
	if len(fe) > 0 {
		return fe
	}
	norm := make([]string, len(ib.Numbers))
	for i, raw := range ib.Numbers {
		n, err := gateway.NormalizeNumber(raw, s.cfg.DefaultRegion)
		if err != nil {
			reason := "is not a phone number"
			if ve, ok := err.(*gateway.ValidationError); ok {
				reason = ve.Reason
			}
			fe = append(fe, FieldError{Field: "numbers[" + strconv.Itoa(i) + "]", Reason: reason})
			if len(fe) >= 50 {
				break
			}
			continue
		}
		norm[i] = n
	}
	if len(fe) > 0 {
		return fe
	}
	ctx := c.Request().Context()
	source := "api"
	if len(norm) > 1 {
		source = "import"
	}
	now := s.now().UTC()
	for _, n := range norm {
		o := gateway.OptOut{Number: n, Keyword: ib.Keyword, Source: source, At: now}
		if err := s.optouts.AddOptOut(ctx, o); err != nil {
			return fmt.Errorf("add opt-out: %w", err)
		}
		s.emit(ctx, gateway.Event{Type: gateway.EventOptOut, Time: now, Data: o})
	}
	k, _ := keyOf(c)
	s.log.Info("opt-outs imported", "count", len(norm), "key_id", k.ID)
	return c.JSON(http.StatusOK, OptOutImport{Added: len(norm), Numbers: norm})
}

func (s *Server) deleteOptOut(c echo.Context) error {
	raw, err := url.PathUnescape(c.Param("number"))
	if err != nil {
		raw = c.Param("number")
	}
	n, err := gateway.NormalizeNumber(raw, s.cfg.DefaultRegion)
	if err != nil {
		return invalid("number", "is not a phone number")
	}
	ctx := c.Request().Context()
	if err := s.optouts.RemoveOptOut(ctx, n); err != nil {
		return err
	}
	now := s.now().UTC()
	s.emit(ctx, gateway.Event{Type: gateway.EventOptIn, Time: now, Data: gateway.OptOut{Number: n, Source: "api", At: now}})
	k, _ := keyOf(c)
	s.log.Info("opt-out removed", "number", gateway.MaskNumber(n), "key_id", k.ID)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) emit(ctx context.Context, e gateway.Event) {
	if s.events != nil {
		s.events.Emit(context.WithoutCancel(ctx), e)
	}
}
