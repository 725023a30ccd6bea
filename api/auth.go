package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
)

// Scopes an API key can carry. admin implies read and send.
const (
	ScopeSend  = "send"  // POST /v1/messages, cancel
	ScopeRead  = "read"  // GET messages, conversations, modems, opt-outs
	ScopeAdmin = "admin" // modem pause/resume/drain, opt-out import/removal, webhooks
)

// KeyPrefix starts every API key secret.
const KeyPrefix = "sg_"

// maxKeyLen bounds the bearer token looked at; real keys are 46 characters.
const maxKeyLen = 128

// ValidScope reports whether s is a scope name (send, read or admin).
func ValidScope(s string) bool {
	switch s {
	case ScopeSend, ScopeRead, ScopeAdmin:
		return true
	}
	return false
}

// HashKey returns the SHA-256 of an API key secret, as stored in gateway.APIKey.Hash.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// GenerateKey makes a new API key for owner with scopes. secret is
// "sg_" + base64url(32 random bytes), to be shown once; k holds only its
// SHA-256 hash, a short random public ID, the owner and the sorted,
// de-duplicated scopes. It fails on an empty owner or an unknown scope.
func GenerateKey(owner string, scopes []string, now time.Time) (secret string, k gateway.APIKey, err error) {
	owner = strings.TrimSpace(owner)
	if owner == "" || len(owner) > 128 {
		return "", gateway.APIKey{}, gateway.Invalid("owner", "must be 1 to 128 characters")
	}
	if len(scopes) == 0 {
		return "", gateway.APIKey{}, gateway.Invalid("scopes", "at least one scope is required (send, read, admin)")
	}
	sc := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if !ValidScope(s) {
			return "", gateway.APIKey{}, gateway.Invalid("scopes", "unknown scope %q (send, read, admin)", s)
		}
		sc = append(sc, s)
	}
	slices.Sort(sc)
	sc = slices.Compact(sc)
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", gateway.APIKey{}, fmt.Errorf("generate key: %w", err)
	}
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", gateway.APIKey{}, fmt.Errorf("generate key id: %w", err)
	}
	secret = KeyPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	k = gateway.APIKey{
		ID:        "key_" + hex.EncodeToString(id[:]),
		Hash:      HashKey(secret),
		Owner:     owner,
		Scopes:    sc,
		CreatedAt: now.UTC(),
	}
	return secret, k, nil
}

// hasScope reports whether k may use a route that needs scope. admin
// implies every scope.
func hasScope(k gateway.APIKey, scope string) bool {
	return slices.Contains(k.Scopes, scope) || slices.Contains(k.Scopes, ScopeAdmin)
}

// isAdmin reports whether k has the admin scope, which overrides the
// owner scoping of agent and cancel.
func isAdmin(k gateway.APIKey) bool { return slices.Contains(k.Scopes, ScopeAdmin) }

// errAgentForbidden refuses a non-admin key's "agent" naming someone else.
var errAgentForbidden = &apiError{status: http.StatusForbidden, kind: ProblemForbidden, title: "Forbidden",
	detail: "agent: only an admin key may send on behalf of another agent than its owner",
	fields: []FieldError{{Field: "agent", Reason: "must be empty or the key's owner (an admin key may name anyone)"}}}

const echoKeyAPIKey = "simgate.apikey"

// keyOf returns the API key of an authenticated request.
func keyOf(c echo.Context) (gateway.APIKey, bool) {
	k, ok := c.Get(echoKeyAPIKey).(gateway.APIKey)
	return k, ok
}

var (
	errUnauthorized = &apiError{status: http.StatusUnauthorized, kind: ProblemUnauthorized, title: "Unauthorized",
		detail: "a valid API key is required: Authorization: Bearer <key>"}
	errForbidden = &apiError{status: http.StatusForbidden, kind: ProblemForbidden, title: "Forbidden"}
)

// authenticate checks the bearer token of every /v1 request. Secrets are
// looked up by their SHA-256 hash, so no comparison runs over the secret
// itself; a malformed, unknown or revoked key gets the same 401.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, tok, ok := strings.Cut(h, " ")
		tok = strings.TrimSpace(tok)
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > maxKeyLen || !strings.HasPrefix(tok, KeyPrefix) {
			return errUnauthorized
		}
		k, err := s.keys.KeyByHash(c.Request().Context(), HashKey(tok))
		switch {
		case errors.Is(err, gateway.ErrNotFound):
			return errUnauthorized
		case err != nil:
			if errors.Is(err, context.Canceled) {
				return errUnauthorized
			}
			return fmt.Errorf("key lookup: %w", err)
		case !k.RevokedAt.IsZero():
			return errUnauthorized
		}
		c.Set(echoKeyAPIKey, k)
		s.touch(c.Request().Context(), k)
		return next(c)
	}
}

// require answers 403 unless the request's key has scope.
func require(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			k, ok := keyOf(c)
			if !ok {
				return errUnauthorized
			}
			if !hasScope(k, scope) {
				e := *errForbidden
				e.detail = "this route needs an API key with the " + scope + " scope"
				return &e
			}
			return next(c)
		}
	}
}
