package campaign

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// State is where a campaign is in its life.
//
//	draft → active ⇄ paused → archived      (draft → archived too)
//
// A draft can be edited freely. Once active (or paused) the title,
// description, survey, canned responses, tags, batch size and texting hours
// may still change; the organisation name, modem group and script may change
// only while paused (a new script version is recorded, and the compliance
// check runs again on Resume). An archived campaign is read-only.
type State string

const (
	StateDraft    State = "draft"
	StateActive   State = "active"
	StatePaused   State = "paused"
	StateArchived State = "archived"
)

// CanMove reports whether a campaign in s may move to to.
func (s State) CanMove(to State) bool {
	switch s {
	case StateDraft:
		return to == StateActive || to == StateArchived
	case StateActive:
		return to == StatePaused || to == StateArchived
	case StatePaused:
		return to == StateActive || to == StateArchived
	}
	return false
}

// Campaign is one P2P campaign: who sends, what, when.
type Campaign struct {
	ID          string `json:"id"` // ULID
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// OrgName is the organisation's display name; the first message must name it.
	OrgName string `json:"org_name"`
	// ModemGroup is the modem or group the campaign sends from ("" = any).
	ModemGroup string `json:"modem_group,omitempty"`
	State      State  `json:"state"`
	Hours      Hours  `json:"hours"`
	// Script is the first message; ScriptVersion counts its saved versions.
	Script        string   `json:"script"`
	ScriptVersion int      `json:"script_version"`
	Survey        Survey   `json:"survey"`
	Canned        []Canned `json:"canned,omitempty"`
	Tags          []string `json:"tags,omitempty"`
	// BatchSize is how many contacts a texter gets per dynamic batch.
	BatchSize int `json:"batch_size"`
	// Fields are the custom column names seen in imports (merge fields).
	Fields []string `json:"fields,omitempty"`

	// NextContactID is the ID the next imported contact gets (from 1).
	NextContactID int64 `json:"next_contact_id"`
	// Importing is the import under way, if any: its contacts (IDs from
	// Import.FirstID) are not offered, assigned or counted until it is done.
	Importing *ImportRef `json:"importing,omitempty"`

	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	StartedAt time.Time `json:"started_at,omitzero"`
}

// ImportRef names the import a campaign is receiving.
type ImportRef struct {
	ID      string    `json:"id"`
	FirstID int64     `json:"first_id"`
	Started time.Time `json:"started"`
}

// Visible reports whether contact id is past any import under way.
func (c *Campaign) Visible(id int64) bool {
	return c.Importing == nil || id < c.Importing.FirstID
}

// Hours is a daily texting window in the contact's local time, "HH:MM"
// (End exclusive). TimeZone is the campaign's own zone (IANA name), used for
// contacts whose zone cannot be told from their number or zip.
type Hours struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	TimeZone string `json:"time_zone"`
}

// Question is one survey question: its answer options say what reply to
// suggest and which question comes next.
type Question struct {
	ID      string   `json:"id"`
	Text    string   `json:"text"`
	Options []Option `json:"options"`
}

// Option is one answer to a question.
type Option struct {
	Value string `json:"value"`
	Reply string `json:"reply,omitempty"` // suggested reply (a script: merge fields allowed)
	Next  string `json:"next,omitempty"`  // next question ID, "" = end
}

// Survey is a tree of questions; the first one is the root.
type Survey struct {
	Questions []Question `json:"questions,omitempty"`
}

// Question returns the question with id.
func (s Survey) Question(id string) (Question, bool) {
	for _, q := range s.Questions {
		if q.ID == id {
			return q, true
		}
	}
	return Question{}, false
}

// Canned is a canned response a texter can pick.
type Canned struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Body  string `json:"body"`
}

// Limits on campaign fields.
const (
	MaxTitle     = 200
	MaxScript    = 1600
	MaxQuestions = 100
	MaxOptions   = 20
	MaxCanned    = 100
	MaxTags      = 100
	MaxBatchSize = 1000
	// DefaultBatchSize is a dynamic batch when the campaign does not say.
	DefaultBatchSize = 100
)

// validateSurvey checks IDs are unique and Next points at a question, and
// that the tree has no cycle.
func validateSurvey(s Survey, known map[string]bool) error {
	if len(s.Questions) > MaxQuestions {
		return Invalid("survey", "at most %d questions", MaxQuestions)
	}
	ids := map[string]bool{}
	for i, q := range s.Questions {
		f := fmt.Sprintf("survey.questions[%d]", i)
		if strings.TrimSpace(q.ID) == "" || len(q.ID) > 64 {
			return Invalid(f+".id", "must be 1 to 64 characters")
		}
		if ids[q.ID] {
			return Invalid(f+".id", "duplicate question id %q", q.ID)
		}
		ids[q.ID] = true
		if strings.TrimSpace(q.Text) == "" || len(q.Text) > 500 {
			return Invalid(f+".text", "must be 1 to 500 characters")
		}
		if len(q.Options) == 0 || len(q.Options) > MaxOptions {
			return Invalid(f+".options", "must have 1 to %d options", MaxOptions)
		}
		vals := map[string]bool{}
		for j, o := range q.Options {
			of := fmt.Sprintf("%s.options[%d]", f, j)
			if strings.TrimSpace(o.Value) == "" || len(o.Value) > 200 {
				return Invalid(of+".value", "must be 1 to 200 characters")
			}
			if vals[o.Value] {
				return Invalid(of+".value", "duplicate option %q", o.Value)
			}
			vals[o.Value] = true
			if o.Reply != "" {
				if _, err := ParseScript(o.Reply, known); err != nil {
					return prefixField(of+".reply", err)
				}
			}
		}
	}
	for i, q := range s.Questions {
		for j, o := range q.Options {
			if o.Next != "" && !ids[o.Next] {
				return Invalid(fmt.Sprintf("survey.questions[%d].options[%d].next", i, j), "no question %q", o.Next)
			}
		}
	}
	// No cycles: a depth-first walk from every question.
	state := map[string]int{} // 1 visiting, 2 done
	var walk func(id string) bool
	walk = func(id string) bool {
		switch state[id] {
		case 1:
			return false
		case 2:
			return true
		}
		state[id] = 1
		q, _ := s.Question(id)
		for _, o := range q.Options {
			if o.Next != "" && !walk(o.Next) {
				return false
			}
		}
		state[id] = 2
		return true
	}
	for _, q := range s.Questions {
		if !walk(q.ID) {
			return Invalid("survey", "the questions form a cycle through %q", q.ID)
		}
	}
	return nil
}

// validate checks every field of c that a caller sets.
func (c *Campaign) validate(known map[string]bool, bounds Hours) error {
	switch {
	case strings.TrimSpace(c.Title) == "" || len(c.Title) > MaxTitle:
		return Invalid("title", "must be 1 to %d characters", MaxTitle)
	case len(c.Description) > 5000:
		return Invalid("description", "at most 5000 characters")
	case len(c.OrgName) > 100:
		return Invalid("org_name", "at most 100 characters")
	case len(c.ModemGroup) > 100:
		return Invalid("modem_group", "at most 100 characters")
	case c.BatchSize < 0 || c.BatchSize > MaxBatchSize:
		return Invalid("batch_size", "must be between 1 and %d (0 = %d)", MaxBatchSize, DefaultBatchSize)
	case len(c.Script) > MaxScript:
		return Invalid("script", "at most %d characters", MaxScript)
	case len(c.Canned) > MaxCanned:
		return Invalid("canned", "at most %d canned responses", MaxCanned)
	case len(c.Tags) > MaxTags:
		return Invalid("tags", "at most %d tags", MaxTags)
	}
	if err := c.Hours.validate(bounds); err != nil {
		return err
	}
	if c.Script != "" {
		if _, err := ParseScript(c.Script, known); err != nil {
			return err
		}
	}
	ids := map[string]bool{}
	for i, cr := range c.Canned {
		f := fmt.Sprintf("canned[%d]", i)
		if cr.ID == "" || len(cr.ID) > 64 || ids[cr.ID] {
			return Invalid(f+".id", "must be unique and 1 to 64 characters")
		}
		ids[cr.ID] = true
		if strings.TrimSpace(cr.Body) == "" {
			return Invalid(f+".body", "must not be empty")
		}
		if _, err := ParseScript(cr.Body, known); err != nil {
			return prefixField(f+".body", err)
		}
	}
	for i, t := range c.Tags {
		if strings.TrimSpace(t) == "" || len(t) > 64 {
			return Invalid(fmt.Sprintf("tags[%d]", i), "must be 1 to 64 characters")
		}
	}
	if len(uniq(c.Tags)) != len(c.Tags) {
		return Invalid("tags", "must not repeat")
	}
	return validateSurvey(c.Survey, known)
}

func uniq(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

// hasTag reports whether the campaign defines tag t.
func (c *Campaign) hasTag(t string) bool { return slices.Contains(c.Tags, t) }

// canned returns the canned response with id.
func (c *Campaign) canned(id string) (Canned, bool) {
	for _, cr := range c.Canned {
		if cr.ID == id {
			return cr, true
		}
	}
	return Canned{}, false
}
