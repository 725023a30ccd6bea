package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/api/webhook"
	"github.com/simgate/simgate/gateway"
)

// Input bounds of POST /v1/messages (documented in openapi.yaml).
const (
	MaxMetadataKeys    = 20
	MaxMetadataKeyLen  = 64
	MaxMetadataValLen  = 512
	MaxAgentLen        = 128
	MaxFromLen         = 64
	MaxURLLen          = webhook.MaxURLLen
	MaxIdempotencyKey  = 255
	MaxBodyChars       = 1600
	MaxOptOutImport    = 1000
	maxValiditySeconds = int64(gateway.MaxValidity / time.Second)
)

var (
	errTooLarge = &apiError{status: http.StatusRequestEntityTooLarge, kind: ProblemTooLarge, title: "Payload too large"}
	errMedia    = &apiError{status: http.StatusUnsupportedMediaType, kind: ProblemUnsupportedMedia, title: "Unsupported media type",
		detail: "the request body must be application/json"}
)

// readBody reads the request body, at most limit bytes. A Content-Type other
// than JSON is a 415; a body over the limit a 413.
func readBody(c echo.Context, limit int64) ([]byte, error) {
	r := c.Request()
	if ct := r.Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
			return nil, errMedia
		}
	}
	if r.ContentLength > limit {
		e := *errTooLarge
		e.detail = "the request body may be at most " + strconv.FormatInt(limit, 10) + " bytes"
		return nil, &e
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, badRequest("", "the request body could not be read")
	}
	if int64(len(b)) > limit {
		e := *errTooLarge
		e.detail = "the request body may be at most " + strconv.FormatInt(limit, 10) + " bytes"
		return nil, &e
	}
	return b, nil
}

// decodeStrict decodes one JSON object into the struct v points to. It is
// stricter than encoding/json: member names must match a field's JSON name
// exactly (encoding/json also takes "TO" or "To" for "to"), a name may occur
// only once in any object (encoding/json keeps the last), and unknown names,
// wrong types, trailing data and anything but an object are refused. Every
// refusal is a 400 naming the field where there is one.
func decodeStrict(b []byte, v any) error {
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) == 0 {
		return badRequest("", "the request body must be a JSON object")
	}
	if t[0] != '{' {
		return badRequest("", "the request body must be a JSON object")
	}
	if !utf8.Valid(t) {
		return badRequest("", "the request body is not valid UTF-8")
	}
	if err := checkMembers(t, fieldNames(reflect.TypeOf(v))); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("", "the request body must hold exactly one JSON object")
	}
	return nil
}

// maxJSONDepth bounds how deeply a request body may nest; no body of this
// API nests more than two levels.
const maxJSONDepth = 16

// checkMembers walks the first JSON value of b: every object's member names
// must be unique, and the top-level object's must be in fields. Syntax
// errors are left to the decoder that runs next (the walk stops at them).
func checkMembers(b []byte, fields map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var walk func(path string, depth int) error
	walk = func(path string, depth int) error {
		tok, err := dec.Token()
		if err != nil {
			return errSyntaxLater
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		if depth >= maxJSONDepth {
			return badRequest(path, "nested more than %d levels deep", maxJSONDepth)
		}
		switch d {
		case '[':
			for i := 0; dec.More(); i++ {
				if err := walk(path+"["+strconv.Itoa(i)+"]", depth+1); err != nil {
					return err
				}
			}
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return errSyntaxLater
				}
				name, _ := tok.(string)
				field := fieldPath(path, name)
				if depth == 0 && !fields[name] {
					return badRequest(field, "unknown field (names are case-sensitive)")
				}
				if seen[name] {
					return badRequest(field, "appears more than once")
				}
				seen[name] = true
				if err := walk(field, depth+1); err != nil {
					return err
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return errSyntaxLater
		}
		return nil
	}
	if err := walk("", 0); err != nil && err != errSyntaxLater {
		return err
	}
	return nil
}

// errSyntaxLater stops checkMembers at malformed JSON, which the decoder
// then reports with its offset.
var errSyntaxLater = errors.New("syntax error")

// fieldPath names member name of the object at path ("metadata.k"); a name
// too long or not printable is not echoed back.
func fieldPath(path, name string) string {
	if len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		name = "(a long or unprintable name)"
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

var fieldCache sync.Map // reflect.Type → map[string]bool

// fieldNames returns the JSON member names of the struct t (or *t) decodes.
func fieldNames(t reflect.Type) map[string]bool {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]bool)
	}
	st := t
	for st.Kind() == reflect.Pointer {
		st = st.Elem()
	}
	m := map[string]bool{}
	if st.Kind() == reflect.Struct {
		for f := range st.Fields() {
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch name {
			case "-":
				continue
			case "":
				name = f.Name
			}
			m[name] = true
		}
	}
	fieldCache.Store(t, m)
	return m
}

// jsonError turns an encoding/json error into a 400 naming what it can.
func jsonError(err error) error {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		return badRequest("", "malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		f := te.Field
		if f == "" {
			return badRequest("", "wrong JSON type: %s where %s is expected", te.Value, jsonType(te.Type.Kind().String()))
		}
		return badRequest(f, "must be %s, not %s", jsonType(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("", "the JSON body is truncated")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		if len(name) > 64 || !utf8.ValidString(name) {
			name = name[:0]
		}
		return badRequest(name, "unknown field")
	}
	return badRequest("", "malformed JSON")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "bool":
		return "a boolean"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "another type"
}

// sendBody is the JSON body of POST /v1/messages.
type sendBody struct {
	To           string            `json:"to"`
	Body         string            `json:"body"`
	From         string            `json:"from,omitempty"`
	Agent        string            `json:"agent,omitempty"`
	SendAt       string            `json:"send_at,omitempty"`
	Validity     json.RawMessage   `json:"validity,omitempty"`
	Priority     int               `json:"priority,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CallbackURL  string            `json:"callback_url,omitempty"`
	AtLeastOnce  bool              `json:"at_least_once,omitempty"`
	StatusReport *bool             `json:"status_report,omitempty"`
	// TextingWindow is checked by the Sender (gateway.TextingWindow.Validate).
	TextingWindow *gateway.TextingWindow `json:"texting_window,omitempty"`
}

// DecodeSendRequest decodes and checks a POST /v1/messages body into a
// gateway.SendRequest. It does what the API owns (types, bounds, formats);
// the Sender validates the rest (number, priority range, encoding). hash is
// the hex SHA-256 of the canonical form of the request (the same request
// written with other spacing or key order has the same hash). Errors are
// *apiError (400) or validation errors (422).
func DecodeSendRequest(b []byte) (req gateway.SendRequest, hash string, err error) {
	var sb sendBody
	if err := decodeStrict(b, &sb); err != nil {
		return req, "", err
	}
	var fe fieldErrors
	bad := func(field, reason string) { fe = append(fe, FieldError{Field: field, Reason: reason}) }
	if strings.TrimSpace(sb.To) == "" {
		bad("to", "is required")
	}
	if sb.Body == "" {
		bad("body", "is required")
	} else if utf8.RuneCountInString(sb.Body) > MaxBodyChars {
		bad("body", "is longer than "+strconv.Itoa(MaxBodyChars)+" characters")
	}
	if len(sb.From) > MaxFromLen {
		bad("from", "is longer than "+strconv.Itoa(MaxFromLen)+" bytes")
	}
	if len(sb.Agent) > MaxAgentLen {
		bad("agent", "is longer than "+strconv.Itoa(MaxAgentLen)+" bytes")
	}
	if sb.Priority < gateway.MinPriority || sb.Priority > gateway.MaxPriority {
		bad("priority", "must be between "+strconv.Itoa(gateway.MinPriority)+" and "+strconv.Itoa(gateway.MaxPriority))
	}
	var sendAt time.Time
	if sb.SendAt != "" {
		t, perr := time.Parse(time.RFC3339, sb.SendAt)
		if perr != nil {
			bad("send_at", "must be an RFC 3339 date-time such as 2026-01-02T15:04:05Z")
		} else {
			sendAt = t
		}
	}
	validity, verr := parseValidity(sb.Validity)
	if verr != nil {
		var ae *apiError
		if errors.As(verr, &ae) {
			return req, "", verr
		}
		bad("validity", verr.Error())
	}
	if len(sb.Metadata) > MaxMetadataKeys {
		bad("metadata", "has more than "+strconv.Itoa(MaxMetadataKeys)+" keys")
	} else {
		for k, v := range sb.Metadata {
			if k == "" || len(k) > MaxMetadataKeyLen {
				bad("metadata", "keys must be 1 to "+strconv.Itoa(MaxMetadataKeyLen)+" bytes")
				break
			}
			if strings.HasPrefix(k, "simgate.") || k == gateway.OptOutExemptKey {
				bad("metadata", "keys starting with \"simgate.\" are reserved")
				break
			}
			if len(v) > MaxMetadataValLen {
				bad("metadata", "values must be at most "+strconv.Itoa(MaxMetadataValLen)+" bytes")
				break
			}
		}
	}
	if sb.CallbackURL != "" {
		if err := webhook.CheckURL(sb.CallbackURL); err != nil {
			bad("callback_url", err.Error())
		}
	}
	if len(fe) > 0 {
		return req, "", fe
	}
	canon, err := json.Marshal(struct {
		sendBody
		SendAt   time.Time `json:"send_at,omitzero"`
		Validity int64     `json:"validity,omitempty"`
	}{sb, sendAt.UTC(), int64(validity)})
	if err != nil {
		return req, "", err
	}
	sum := sha256.Sum256(canon)
	req = gateway.SendRequest{
		To:            sb.To,
		Body:          sb.Body,
		From:          sb.From,
		Agent:         sb.Agent,
		SendAt:        sendAt,
		Validity:      validity,
		Priority:      sb.Priority,
		Metadata:      sb.Metadata,
		CallbackURL:   sb.CallbackURL,
		AtLeastOnce:   sb.AtLeastOnce,
		StatusReport:  sb.StatusReport,
		TextingWindow: sb.TextingWindow,
	}
	return req, hex.EncodeToString(sum[:]), nil
}

// parseValidity accepts a Go duration string ("90m", "24h") or a whole
// number of seconds. A value of another JSON type is a 400; a bad duration
// or one out of range is returned as a plain error (the 422 reason).
func parseValidity(raw json.RawMessage) (time.Duration, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, badRequest("validity", "must be a duration string or a number of seconds")
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, errors.New(`must be a duration such as "90m" or "24h", or a number of seconds`)
		}
		if d <= 0 || d > gateway.MaxValidity {
			return 0, errors.New("must be more than 0 and at most " + gateway.MaxValidity.String())
		}
		return d, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return 0, badRequest("validity", "must be a whole number of seconds or a duration string")
		}
		if n <= 0 || n > maxValiditySeconds {
			return 0, errors.New("must be more than 0 and at most " + strconv.FormatInt(maxValiditySeconds, 10) + " seconds")
		}
		return time.Duration(n) * time.Second, nil
	}
	return 0, badRequest("validity", "must be a duration string or a number of seconds")
}

// checkIdempotencyKey validates the Idempotency-Key header value.
func checkIdempotencyKey(k string) error {
	if len(k) > MaxIdempotencyKey {
		return invalid("Idempotency-Key", "must be at most %d characters", MaxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return invalid("Idempotency-Key", "must be printable ASCII without spaces")
		}
	}
	return nil
}
