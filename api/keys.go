package api

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
)

// KeyStore is what the API needs of the API keys: gateway.KeyStore and a
// way to record when a key was last used. store.DB implements it.
type KeyStore interface {
	gateway.KeyStore
	// TouchKey records that key id was used at at.
	TouchKey(ctx context.Context, id string, at time.Time) error
}

// touchEvery is how often, at most, a key's LastUsed is written: one
// small commit a minute per busy key, not one per request.
const touchEvery = time.Minute

// keyTouches throttles LastUsed writes per key.
type keyTouches struct {
	mu   sync.Mutex
	last map[string]time.Time // key id → last LastUsed written
}

// due reports whether k's use at now should be recorded, and marks it so.
func (t *keyTouches) due(k gateway.APIKey, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	last := t.last[k.ID]
	if k.LastUsed.After(last) {
		last = k.LastUsed
	}
	if now.Sub(last) < touchEvery {
		return false
	}
	if len(t.last) > 10000 { // keys are few; bound the map anyway
		clear(t.last)
	}
	t.last[k.ID] = now
	return true
}

// touch records k's use, throttled. A failure is logged, never the
// request's: the request was authenticated all the same.
func (s *Server) touch(ctx context.Context, k gateway.APIKey) {
	now := s.now().UTC()
	if !s.touches.due(k, now) {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.keys.TouchKey(ctx, k.ID, now); err != nil {
		s.log.Warn("record key use", "key_id", k.ID, "err", err)
	}
}

// KeyView is an API key as the API shows it: never its secret or hash.
// Secret is set only in the answer that created it.
type KeyView struct {
	ID        string     `json:"id"`
	Owner     string     `json:"owner"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Secret    string     `json:"secret,omitempty"`
}

// KeyList is the answer of GET /v1/keys.
type KeyList struct {
	Data []KeyView `json:"data"`
}

func viewKey(k gateway.APIKey) KeyView {
	v := KeyView{ID: k.ID, Owner: k.Owner, Scopes: k.Scopes, CreatedAt: k.CreatedAt.UTC()}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if !k.LastUsed.IsZero() {
		t := k.LastUsed.UTC()
		v.LastUsed = &t
	}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt.UTC()
		v.RevokedAt = &t
	}
	return v
}

// keyBody is the body of POST /v1/keys.
type keyBody struct {
	Owner  string   `json:"owner"`
	Scopes []string `json:"scopes"`
}

// createKey makes a key and answers 201 with its secret, shown this once.
func (s *Server) createKey(c echo.Context) error {
	b, err := readBody(c, s.limit)
	if err != nil {
		return err
	}
	var kb keyBody
	if err := decodeStrict(b, &kb); err != nil {
		return err
	}
	secret, k, err := GenerateKey(kb.Owner, kb.Scopes, s.now())
	if err != nil {
		return err
	}
	if err := s.keys.CreateKey(c.Request().Context(), k); err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	by, _ := keyOf(c)
	s.log.Info("api key created", "key_id", k.ID, "scopes", k.Scopes, "by_key_id", by.ID)
	v := viewKey(k)
	v.Secret = secret
	c.Response().Header().Set(echo.HeaderLocation, "/v1/keys/"+k.ID)
	return c.JSON(http.StatusCreated, v)
}

// listKeys lists every key, revoked ones included, oldest first.
func (s *Server) listKeys(c echo.Context) error {
	keys, err := s.keys.ListKeys(c.Request().Context())
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	slices.SortFunc(keys, func(a, b gateway.APIKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
	out := KeyList{Data: make([]KeyView, 0, len(keys))}
	for _, k := range keys {
		out.Data = append(out.Data, viewKey(k))
	}
	return c.JSON(http.StatusOK, out)
}

var errLastAdmin = &apiError{status: http.StatusConflict, kind: ProblemConflict, title: "Last admin key",
	detail: "this is the last active admin key; create another admin key before revoking it"}

// revokeKey revokes a key at once (the next request with it is a 401) and
// answers with the revoked key. The last active admin key cannot be
// revoked through the API (nobody could then manage keys without stopping
// the daemon).
func (s *Server) revokeKey(c echo.Context) error {
	id := c.Param("id")
	if id == "" || len(id) > 64 {
		return gateway.ErrNotFound
	}
	ctx := c.Request().Context()
	keys, err := s.keys.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	i := slices.IndexFunc(keys, func(k gateway.APIKey) bool { return k.ID == id })
	if i < 0 {
		return gateway.ErrNotFound
	}
	if k := keys[i]; k.RevokedAt.IsZero() && isAdmin(k) {
		admins := 0
		for _, o := range keys {
			if o.RevokedAt.IsZero() && isAdmin(o) {
				admins++
			}
		}
		if admins == 1 {
			return errLastAdmin
		}
	}
	now := s.now().UTC()
	if err := s.keys.RevokeKey(ctx, id, now); err != nil {
		return err
	}
	k := keys[i]
	if k.RevokedAt.IsZero() {
		k.RevokedAt = now
	}
	by, _ := keyOf(c)
	s.log.Info("api key revoked", "key_id", id, "by_key_id", by.ID)
	return c.JSON(http.StatusOK, viewKey(k))
}
