package web

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
)

// The survey editor is a textarea in a small line format:
//
//	? q1 Will you vote on Tuesday?
//	- Yes | Great! Can we count on you to bring a friend? | q2
//	- No | Thanks for your time, {firstName}.
//	? q2 Will you bring a friend?
//	- Yes | Wonderful!
//	- No
//
// "? ID text" starts a question; "- value | suggested reply | next ID"
// adds an answer option (reply and next are optional).

// ParseSurvey reads the survey editor's text.
func ParseSurvey(text string) (campaign.Survey, error) {
	var sv campaign.Survey
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		n := i + 1
		switch {
		case line == "":
		case strings.HasPrefix(line, "?"):
			id, q, _ := strings.Cut(strings.TrimSpace(line[1:]), " ")
			if id == "" || strings.TrimSpace(q) == "" {
				return sv, gateway.Invalid("survey", "line %d: write a question as \"? ID question text\"", n)
			}
			sv.Questions = append(sv.Questions, campaign.Question{ID: id, Text: strings.TrimSpace(q)})
		case strings.HasPrefix(line, "-"):
			if len(sv.Questions) == 0 {
				return sv, gateway.Invalid("survey", "line %d: an answer before any question", n)
			}
			parts := strings.Split(line[1:], "|")
			if len(parts) > 3 {
				return sv, gateway.Invalid("survey", "line %d: write an answer as \"- value | reply | next question ID\"", n)
			}
			o := campaign.Option{Value: strings.TrimSpace(parts[0])}
			if len(parts) > 1 {
				o.Reply = strings.TrimSpace(parts[1])
			}
			if len(parts) > 2 {
				o.Next = strings.TrimSpace(parts[2])
			}
			q := &sv.Questions[len(sv.Questions)-1]
			q.Options = append(q.Options, o)
		default:
			return sv, gateway.Invalid("survey", "line %d: start a line with ? (a question) or - (an answer)", n)
		}
	}
	return sv, nil
}

// FormatSurvey writes a survey in the editor's format.
func FormatSurvey(sv campaign.Survey) string {
	var b strings.Builder
	for _, q := range sv.Questions {
		fmt.Fprintf(&b, "? %s %s\n", q.ID, q.Text)
		for _, o := range q.Options {
			b.WriteString("- " + o.Value)
			if o.Reply != "" || o.Next != "" {
				b.WriteString(" | " + o.Reply)
			}
			if o.Next != "" {
				b.WriteString(" | " + o.Next)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

// ParseCanned reads canned responses, one "Title | message" a line.
func ParseCanned(text string) ([]campaign.Canned, error) {
	var out []campaign.Canned
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		title, body, ok := strings.Cut(line, "|")
		title, body = strings.TrimSpace(title), strings.TrimSpace(body)
		if !ok || title == "" || body == "" {
			return nil, gateway.Invalid("canned", "line %d: write \"Title | message\"", i+1)
		}
		id := strings.Trim(slugRE.ReplaceAllString(strings.ToLower(title), "-"), "-")
		if id == "" {
			id = "canned"
		}
		if len(id) > 40 {
			id = id[:40]
		}
		for base, k := id, 2; seen[id]; k++ {
			id = fmt.Sprintf("%s-%d", base, k)
		}
		seen[id] = true
		out = append(out, campaign.Canned{ID: id, Title: title, Body: body})
	}
	return out, nil
}

// FormatCanned writes canned responses in the editor's format.
func FormatCanned(cs []campaign.Canned) string {
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.Title + " | " + c.Body + "\n")
	}
	return b.String()
}

// ParseTags reads a comma-separated tag list.
func ParseTags(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, t := range strings.Split(text, ",") {
		if t = strings.TrimSpace(t); t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// formField is the form field a validation error belongs to: its first
// path element ("hours.start" → "hours", "canned[1].body" → "canned").
func formField(f string) string {
	if i := strings.IndexAny(f, ".["); i >= 0 {
		return f[:i]
	}
	return f
}
