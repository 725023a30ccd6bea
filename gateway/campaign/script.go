package campaign

import (
	"strings"
	"unicode/utf8"

	"github.com/simgate/simgate/gateway"
)

// Standard merge fields, always known. Any other name must be a custom
// column of the campaign's imports.
const (
	FieldFirstName       = "firstName"
	FieldLastName        = "lastName"
	FieldTexterFirstName = "texterFirstName"
	FieldZip             = "zip"
	FieldCell            = "cell"
	FieldExternalID      = "external_id"
)

var standardFields = []string{FieldFirstName, FieldLastName, FieldTexterFirstName, FieldZip, FieldCell, FieldExternalID}

// Script is a parsed message template: literal text and merge fields
// "{name}" or "{name|fallback}". "{{" and "}}" write a literal brace.
type Script struct {
	segs []segment
}

type segment struct {
	text     string // literal, when field == ""
	field    string
	fallback string
	hasFB    bool
}

// maxFieldName bounds a merge field's name.
const maxFieldName = 64

// ParseScript parses body. Every field must be a standard one or in known
// (custom columns); known == nil accepts any name. Errors are a
// *gateway.ValidationError for field "script" naming the position.
func ParseScript(body string, known map[string]bool) (*Script, error) {
	if !utf8.ValidString(body) {
		return nil, Invalid("script", "is not valid UTF-8")
	}
	s := &Script{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			s.segs = append(s.segs, segment{text: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '{' && i+1 < len(body) && body[i+1] == '{':
			lit.WriteByte('{')
			i += 2
		case c == '}' && i+1 < len(body) && body[i+1] == '}':
			lit.WriteByte('}')
			i += 2
		case c == '}':
			return nil, Invalid("script", "unmatched \"}\" at character %d (write \"}}\" for a brace)", utf8.RuneCountInString(body[:i])+1)
		case c == '{':
			end := strings.IndexByte(body[i+1:], '}')
			if end < 0 {
				return nil, Invalid("script", "unclosed \"{\" at character %d", utf8.RuneCountInString(body[:i])+1)
			}
			inner := body[i+1 : i+1+end]
			name, fb, hasFB := strings.Cut(inner, "|")
			name = strings.TrimSpace(name)
			if name == "" || len(name) > maxFieldName || strings.ContainsAny(name, "{") {
				return nil, Invalid("script", "bad merge field {%s} at character %d", inner, utf8.RuneCountInString(body[:i])+1)
			}
			if strings.ContainsAny(fb, "{") {
				return nil, Invalid("script", "a fallback may not contain \"{\" (field {%s})", name)
			}
			if known != nil && !isStandard(name) && !known[name] {
				return nil, Invalid("script", "unknown merge field {%s} (known: %s)", name, knownList(known))
			}
			flush()
			s.segs = append(s.segs, segment{field: name, fallback: fb, hasFB: hasFB})
			i += end + 2
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return s, nil
}

func isStandard(name string) bool {
	for _, f := range standardFields {
		if f == name {
			return true
		}
	}
	return false
}

func knownList(known map[string]bool) string {
	names := append([]string(nil), standardFields...)
	for k := range known {
		if !isStandard(k) {
			names = append(names, k)
		}
	}
	return strings.Join(names, ", ")
}

// Required returns the fields the script needs a value for (those without
// a fallback), each once, in order of appearance.
func (s *Script) Required() []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range s.segs {
		if g.field != "" && !g.hasFB && !seen[g.field] {
			seen[g.field] = true
			out = append(out, g.field)
		}
	}
	return out
}

// Fields returns every merge field used, each once.
func (s *Script) Fields() []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range s.segs {
		if g.field != "" && !seen[g.field] {
			seen[g.field] = true
			out = append(out, g.field)
		}
	}
	return out
}

// MissingFieldError: a value the script needs (no fallback) is blank.
type MissingFieldError struct{ Field string }

func (e *MissingFieldError) Error() string {
	return "merge field {" + e.Field + "} has no value and no fallback"
}

// Render fills the script with value(name). A blank value uses the
// fallback; a blank value with no fallback is a *MissingFieldError.
func (s *Script) Render(value func(name string) string) (string, error) {
	var b strings.Builder
	for _, g := range s.segs {
		if g.field == "" {
			b.WriteString(g.text)
			continue
		}
		v := strings.TrimSpace(value(g.field))
		if v == "" {
			if !g.hasFB {
				return "", &MissingFieldError{Field: g.field}
			}
			v = g.fallback
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// Values returns the merge values of c for texter t.
func Values(c *Contact, t Texter) func(string) string {
	return func(name string) string {
		switch name {
		case FieldFirstName:
			return c.FirstName
		case FieldLastName:
			return c.LastName
		case FieldTexterFirstName:
			n := strings.TrimSpace(t.Name)
			if f, _, ok := strings.Cut(n, " "); ok {
				return f
			}
			return n
		case FieldZip:
			return c.Zip
		case FieldCell:
			return c.Cell
		case FieldExternalID:
			return c.ExternalID
		}
		return c.Fields[name]
	}
}

// Rendered is a message as the contact will get it.
type Rendered struct {
	Body     string `json:"body"`
	Encoding string `json:"encoding"` // gsm7 or ucs2
	Parts    int    `json:"parts"`
}

// Measure encodes body as gateway would and reports encoding and part count.
func Measure(body string) (Rendered, error) {
	enc, err := gateway.EncodeSubmit("+10000000000", body, false, 1)
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{Body: body, Encoding: enc.Encoding, Parts: len(enc.PDUs)}, nil
}

// DefaultOptOutPhrases are the opt-out wordings a first message may carry
// (case-insensitive substrings), if the configuration names none.
var DefaultOptOutPhrases = []string{
	"reply stop", "text stop", "txt stop", "send stop", "stop to opt out", "stop to end",
	"stop to unsubscribe", "stop to quit", "opt out", "opt-out", "unsubscribe",
}

// CheckCompliance checks that script names org and carries one of phrases;
// it returns a *ComplianceError listing what is missing, or nil.
func CheckCompliance(script, org string, phrases []string) error {
	var missing []string
	low := strings.ToLower(script)
	switch {
	case strings.TrimSpace(script) == "":
		missing = append(missing, "the campaign has no first-message script")
	default:
		if strings.TrimSpace(org) == "" {
			missing = append(missing, "the campaign has no organisation name (org_name)")
		} else if !strings.Contains(low, strings.ToLower(strings.TrimSpace(org))) {
			missing = append(missing, "the first message does not name the organisation \""+strings.TrimSpace(org)+"\"")
		}
		ok := false
		for _, p := range phrases {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" && strings.Contains(low, p) {
				ok = true
				break
			}
		}
		if !ok {
			missing = append(missing, "the first message has no opt-out wording (one of: \""+strings.Join(phrases, "\", \"")+"\")")
		}
	}
	if len(missing) > 0 {
		return &ComplianceError{Missing: missing}
	}
	return nil
}
