package api

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
)

func (s *Server) listWebhooks(c echo.Context) error {
	ws, err := s.hooks.ListWebhooks(c.Request().Context())
	if err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	out := WebhookList{Data: make([]WebhookView, 0, len(ws))}
	for _, w := range ws {
		out.Data = append(out.Data, viewWebhook(w))
	}
	return c.JSON(http.StatusOK, out)
}

// webhookBody is the body of POST /v1/webhooks.
type webhookBody struct {
	URL    string              `json:"url"`
	Events []gateway.EventType `json:"events,omitempty"`
}

// createWebhook stores a new endpoint and answers 201 with its signing
// secret, shown this once.
func (s *Server) createWebhook(c echo.Context) error {
	b, err := readBody(c, s.limit)
	if err != nil {
		return err
	}
	var wb webhookBody
	if err := decodeStrict(b, &wb); err != nil {
		return err
	}
	var fe fieldErrors
	if wb.URL == "" {
		fe = append(fe, FieldError{Field: "url", Reason: "is required"})
	} else if err := s.guard.CheckURL(wb.URL); err != nil {
		fe = append(fe, FieldError{Field: "url", Reason: err.Error()})
	}
	if len(wb.Events) > len(gateway.EventTypes()) {
		fe = append(fe, FieldError{Field: "events", Reason: "lists too many events"})
	} else {
		for i, e := range wb.Events {
			if !e.Known() {
				fe = append(fe, FieldError{Field: "events[" + strconv.Itoa(i) + "]", Reason: "is not an event type"})
			}
		}
	}
	if len(fe) > 0 {
		return fe
	}
	slices.Sort(wb.Events)
	secret := webhook.GenerateSecret()
	w := gateway.Webhook{
		ID:        "wh_" + gateway.NewID(s.now()),
		URL:       wb.URL,
		Events:    slices.Compact(wb.Events),
		Secret:    secret,
		CreatedAt: s.now().UTC(),
		Source:    "api",
	}
	if err := s.hooks.PutWebhook(c.Request().Context(), w); err != nil {
		return fmt.Errorf("put webhook: %w", err)
	}
	k, _ := keyOf(c)
	s.log.Info("webhook created", "webhook", w.ID, "key_id", k.ID)
	v := viewWebhook(w)
	v.Secret = secret
	c.Response().Header().Set(echo.HeaderLocation, "/v1/webhooks/"+w.ID)
	return c.JSON(http.StatusCreated, v)
}

func (s *Server) deleteWebhook(c echo.Context) error {
	id := c.Param("id")
	if id == "" || len(id) > 64 {
		return gateway.ErrNotFound
	}
	ctx := c.Request().Context()
	ws, err := s.hooks.ListWebhooks(ctx)
	if err != nil {
		return fmt.Errorf("list webhooks: %w", err)
	}
	i := slices.IndexFunc(ws, func(w gateway.Webhook) bool { return w.ID == id })
	if i < 0 {
		return gateway.ErrNotFound
	}
	if ws[i].Source == "config" {
		return &apiError{status: http.StatusConflict, kind: ProblemConflict, title: "Configured webhook",
			detail: "this webhook comes from the configuration file; remove it there"}
	}
	if err := s.hooks.DeleteWebhook(ctx, id); err != nil {
		return err
	}
	k, _ := keyOf(c)
	s.log.Info("webhook deleted", "webhook", id, "key_id", k.ID)
	return c.NoContent(http.StatusNoContent)
}
