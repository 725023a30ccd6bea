package api

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
)

// Pagination bounds: gateway's page limits, their one home.
const (
	DefaultLimit = gateway.DefaultPageLimit
	MaxLimit     = gateway.MaxPageLimit
	maxCursorLen = 1024
)

// postMessage accepts a message: 202 with the message as stored. With an
// Idempotency-Key (scoped by the key's owner), a repeat of the same request
// answers the first message again, another request with the same key is a
// 422 and a repeat while the first is still being processed a 409.
func (s *Server) postMessage(c echo.Context) error {
	k, _ := keyOf(c)
	idem := c.Request().Header.Get("Idempotency-Key")
	if err := checkIdempotencyKey(idem); err != nil {
		return err
	}
	b, err := readBody(c, s.limit)
	if err != nil {
		return err
	}
	req, hash, err := DecodeSendRequest(b)
	if err != nil {
		return err
	}
	if req.CallbackURL != "" {
		if err := s.guard.CheckURL(req.CallbackURL); err != nil {
			return invalid("callback_url", "%s", err.Error())
		}
	}
	switch {
	case req.Agent == "":
		req.Agent = k.Owner
	case req.Agent != k.Owner && !isAdmin(k):
		return errAgentForbidden
	}
	req.APIKeyID = k.ID
	req.RequestHash = hash
	s.applyDefaultValidity(&req)
	ctx := c.Request().Context()
	if idem != "" {
		scoped := url.PathEscape(k.Owner) + "/" + idem
		if !s.claim(scoped) {
			return gateway.ErrInFlight
		}
		defer s.release(scoped)
		req.IdempotencyKey = scoped
		old, err := s.msgs.MessageByIdempotencyKey(ctx, scoped)
		switch {
		case err == nil:
			if old.RequestHash != hash {
				return gateway.ErrIdempotencyMismatch
			}
			c.Response().Header().Set(echo.HeaderLocation, "/v1/messages/"+old.ID)
			return c.JSON(http.StatusAccepted, viewMessage(old))
		case !errors.Is(err, gateway.ErrNotFound):
			return fmt.Errorf("idempotency lookup: %w", err)
		}
	}
	release, err := s.admit(k)
	if err != nil {
		return err
	}
	m, err := s.sender.Submit(ctx, req)
	if err != nil {
		release()
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/messages/"+m.ID)
	return c.JSON(http.StatusAccepted, viewMessage(m))
}

// claim marks a scoped idempotency key in flight; false if it already is.
func (s *Server) claim(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.inflight[key]; ok {
		return false
	}
	s.inflight[key] = struct{}{}
	return true
}

func (s *Server) release(key string) {
	s.mu.Lock()
	delete(s.inflight, key)
	s.mu.Unlock()
}

func (s *Server) getMessage(c echo.Context) error {
	id, err := messageID(c)
	if err != nil {
		return err
	}
	m, err := s.msgs.GetMessage(c.Request().Context(), id)
	if err != nil {
		return err
	}
	v := viewMessage(m)
	v.Waiting = s.fleet.Waiting(c.Request().Context(), m)
	return c.JSON(http.StatusOK, v)
}

// cancelMessage cancels one of the key owner's messages (any message for
// an admin key). Another owner's message is not found: a send key learns
// nothing about it, its body and contact least of all.
func (s *Server) cancelMessage(c echo.Context) error {
	id, err := messageID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if k, _ := keyOf(c); !isAdmin(k) {
		m, err := s.msgs.GetMessage(ctx, id)
		if err != nil {
			return err
		}
		if m.Direction != gateway.Outbound || m.Agent != k.Owner {
			return gateway.ErrNotFound
		}
	}
	m, err := s.sender.Cancel(ctx, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewMessage(m))
}

// messageID returns the :id parameter; anything that cannot be a message id
// (ULIDs are 26 characters) is simply not found.
func messageID(c echo.Context) (string, error) {
	id := c.Param("id")
	if id == "" || len(id) > 64 {
		return "", gateway.ErrNotFound
	}
	return id, nil
}

func (s *Server) listMessages(c echo.Context) error {
	q := c.QueryParams()
	var fe fieldErrors
	bad := func(field, reason string) { fe = append(fe, FieldError{Field: field, Reason: reason}) }
	f := gateway.MessageFilter{}
	switch d := q.Get("direction"); d {
	case "":
	case string(gateway.Outbound), string(gateway.Inbound):
		f.Direction = gateway.Direction(d)
	default:
		bad("direction", `must be "in" or "out"`)
	}
	if st := q.Get("status"); st != "" {
		if !knownStatus(gateway.Status(st)) {
			bad("status", "is not a message status (one of "+statusList()+")")
		}
		f.Status = gateway.Status(st)
	}
	if ct := q.Get("contact"); ct != "" {
		n, err := s.contact(ct)
		if err != nil {
			bad("contact", "is not a phone number or sender name")
		}
		f.Contact = n
	}
	if v := q.Get("modem"); len(v) > MaxFromLen {
		bad("modem", "is too long")
	} else {
		f.Modem = v
	}
	if v := q.Get("agent"); len(v) > MaxAgentLen {
		bad("agent", "is too long")
	} else {
		f.Agent = v
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				bad(p.name, "must be an RFC 3339 date-time")
			}
			*p.t = t
		}
	}
	s.page(q, &f.Cursor, &f.Limit, bad)
	if len(fe) > 0 {
		return fe
	}
	pg, err := s.msgs.ListMessages(c.Request().Context(), f)
	if err != nil {
		return listError(err)
	}
	return c.JSON(http.StatusOK, MessagePage{Data: views(pg.Messages), NextCursor: wrapCursor(pg.Next)})
}

// conversation lists both directions of the exchange with one contact,
// oldest first.
func (s *Server) conversation(c echo.Context) error {
	raw, err := url.PathUnescape(c.Param("number"))
	if err != nil {
		raw = c.Param("number")
	}
	n, err := s.contact(raw)
	if err != nil {
		return invalid("number", "is not a phone number or sender name")
	}
	var fe fieldErrors
	f := gateway.MessageFilter{Contact: n, Ascending: true}
	s.page(c.QueryParams(), &f.Cursor, &f.Limit, func(field, reason string) { fe = append(fe, FieldError{Field: field, Reason: reason}) })
	if len(fe) > 0 {
		return fe
	}
	pg, err := s.msgs.ListMessages(c.Request().Context(), f)
	if err != nil {
		return listError(err)
	}
	return c.JSON(http.StatusOK, ConversationPage{Contact: n, Data: views(pg.Messages), NextCursor: wrapCursor(pg.Next)})
}

// listError keeps a store's complaint about a cursor a 422.
func listError(err error) error {
	var ve *gateway.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	return fmt.Errorf("list messages: %w", err)
}

func views(ms []*gateway.Message) []MessageView {
	out := make([]MessageView, 0, len(ms))
	for _, m := range ms {
		out = append(out, viewMessage(m))
	}
	return out
}

// contact normalises a contact filter: phone numbers to E.164, alphanumeric
// sender names as given.
func (s *Server) contact(raw string) (string, error) {
	if raw == "" || len(raw) > 64 {
		return "", errors.New("bad contact")
	}
	if gateway.IsPhoneNumber(raw) {
		return gateway.NormalizeNumber(raw, s.cfg.DefaultRegion)
	}
	for _, r := range raw {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("bad contact")
		}
	}
	return raw, nil
}

// page reads the cursor and limit query parameters.
func (s *Server) page(q url.Values, cursor *string, limit *int, bad func(field, reason string)) {
	*limit = DefaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			bad("limit", "must be a whole number from 1 to "+strconv.Itoa(MaxLimit))
		} else {
			*limit = n
		}
	}
	if v := q.Get("cursor"); v != "" {
		c, ok := unwrapCursor(v)
		if !ok {
			bad("cursor", "is not a cursor this API returned")
		}
		*cursor = c
	}
}

func knownStatus(st gateway.Status) bool { return st.Known() }

func statusList() string {
	sts := gateway.Statuses()
	s := make([]string, len(sts))
	for i, st := range sts {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// wrapCursor makes a store cursor opaque to clients and tamper-evident:
// base64url(4-byte checksum + cursor), so garbage is refused with a 422
// before it reaches the store.
func wrapCursor(c string) string {
	if c == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(c))
	return base64.RawURLEncoding.EncodeToString(append(sum[:4:4], c...))
}

func unwrapCursor(s string) (string, bool) {
	if len(s) > maxCursorLen {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 5 {
		return "", false
	}
	c := string(b[4:])
	sum := sha256.Sum256([]byte(c))
	if string(sum[:4]) != string(b[:4]) {
		return "", false
	}
	return c, true
}
