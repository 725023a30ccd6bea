package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway/campaign"
)

// Campaign routes (/v1/campaigns…). The acting texter is the API key's
// owner; a key with the admin scope is an organiser (it may act on every
// contact and manage campaigns), any other key acts only on contacts
// assigned to its owner. The rules themselves live in campaign.Service.

// DefaultImportLimit bounds an uploaded contact file (Config.ImportLimit).
const DefaultImportLimit = 200 << 20

func actorOf(c echo.Context) campaign.Actor {
	k, _ := keyOf(c)
	return campaign.Actor{ID: k.Owner, Name: k.Owner, Organiser: isAdmin(k)}
}

func (s *Server) campaignRoutes(v1 *echo.Group, auth echo.MiddlewareFunc) {
	if s.camp == nil {
		return
	}
	send := []echo.MiddlewareFunc{auth, require(ScopeSend)}
	read := []echo.MiddlewareFunc{auth, require(ScopeRead)}
	admin := []echo.MiddlewareFunc{auth, require(ScopeAdmin)}
	g := v1.Group("/campaigns")
	g.POST("", s.createCampaign, admin...)
	g.GET("", s.listCampaigns, read...)
	g.GET("/inbox", s.campaignInbox, admin...)
	g.PUT("/texters/:texter", s.putTexter, send...)
	g.GET("/:id", s.getCampaign, read...)
	g.PATCH("/:id", s.patchCampaign, admin...)
	for _, st := range []string{"start", "pause", "resume", "archive"} {
		g.POST("/:id/"+st, s.campaignState(st), admin...)
	}
	g.POST("/:id/contacts", s.importContacts, admin...)
	g.GET("/:id/contacts", s.listCampaignContacts, read...)
	g.GET("/:id/contacts/:contact", s.getCampaignContact, read...)
	g.GET("/:id/contacts/:contact/events", s.contactEvents, read...)
	g.GET("/:id/contacts/:contact/conversation", s.contactConversation, read...)
	g.POST("/:id/contacts/:contact/send", s.sendFirst, send...)
	g.POST("/:id/contacts/:contact/reply", s.replyContact, send...)
	g.POST("/:id/contacts/:contact/answers", s.answerContact, send...)
	g.POST("/:id/contacts/:contact/tags", s.tagContact, send...)
	g.POST("/:id/contacts/:contact/optout", s.optOutContact, send...)
	g.POST("/:id/contacts/:contact/close", s.closeContact, send...)
	g.GET("/:id/imports", s.listImports, admin...)
	g.GET("/:id/imports/:import", s.getImport, admin...)
	g.GET("/:id/imports/:import/rejects", s.importRejects, admin...)
	g.POST("/:id/assignments", s.assignContacts, admin...)
	g.POST("/:id/reassign", s.reassignContacts, admin...)
	g.POST("/:id/batch", s.nextBatch, send...)
	g.POST("/:id/release", s.releaseContacts, send...)
	g.GET("/:id/queue", s.texterQueue, send...)
	g.GET("/:id/replies", s.texterReplies, send...)
	g.GET("/:id/stats", s.campaignStats, admin...)
	g.GET("/:id/events", s.campaignEvents, admin...)
	g.GET("/:id/export/contacts", s.exportContacts, admin...)
	g.GET("/:id/export/messages", s.exportMessages, admin...)
}

// decodeJSON reads a strict JSON body into v (an empty body leaves v as is
// when allowEmpty).
func (s *Server) decodeJSON(c echo.Context, v any, allowEmpty bool) error {
	b, err := readBody(c, s.limit)
	if err != nil {
		return err
	}
	if allowEmpty && len(strings.TrimSpace(string(b))) == 0 {
		return nil
	}
	return decodeStrict(b, v)
}

func contactParam(c echo.Context) (int64, error) {
	n, err := strconv.ParseInt(c.Param("contact"), 10, 64)
	if err != nil || n < 1 {
		return 0, badRequest("contact", "the contact ID must be a positive integer")
	}
	return n, nil
}

func (s *Server) createCampaign(c echo.Context) error {
	var sp campaign.Spec
	if err := s.decodeJSON(c, &sp, false); err != nil {
		return err
	}
	cp, err := s.camp.Create(c.Request().Context(), actorOf(c), sp)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/v1/campaigns/"+cp.ID)
	return c.JSON(http.StatusCreated, cp)
}

// CampaignList is a list of campaigns.
type CampaignList struct {
	Campaigns []*campaign.Campaign `json:"campaigns"`
}

func (s *Server) listCampaigns(c echo.Context) error {
	cs, err := s.camp.Campaigns(c.Request().Context())
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []*campaign.Campaign{}
	}
	return c.JSON(http.StatusOK, CampaignList{Campaigns: cs})
}

func (s *Server) getCampaign(c echo.Context) error {
	cp, err := s.camp.Campaign(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cp)
}

func (s *Server) patchCampaign(c echo.Context) error {
	var p campaign.Patch
	if err := s.decodeJSON(c, &p, false); err != nil {
		return err
	}
	cp, err := s.camp.Update(c.Request().Context(), actorOf(c), c.Param("id"), p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cp)
}

func (s *Server) campaignState(action string) echo.HandlerFunc {
	to := map[string]campaign.State{"start": campaign.StateActive, "resume": campaign.StateActive,
		"pause": campaign.StatePaused, "archive": campaign.StateArchived}[action]
	return func(c echo.Context) error {
		cp, err := s.camp.SetState(c.Request().Context(), actorOf(c), c.Param("id"), to)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, cp)
	}
}

func (s *Server) putTexter(c echo.Context) error {
	var t campaign.Texter
	if err := s.decodeJSON(c, &t, false); err != nil {
		return err
	}
	if t.ID != "" && t.ID != c.Param("texter") {
		return invalid("id", "must match the path (or be left out)")
	}
	t.ID = c.Param("texter")
	if err := s.camp.PutTexter(c.Request().Context(), actorOf(c), t); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, t)
}

// importContacts streams a CSV body (text/csv) into the campaign and
// answers the import report: 201 when it completed, a 422 problem
// (malformed-csv) naming line and column when the file is malformed (the
// campaign is then unchanged).
func (s *Server) importContacts(c echo.Context) error {
	r := c.Request()
	if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || (mt != "text/csv" && mt != "application/csv") {
		return &apiError{status: http.StatusUnsupportedMediaType, kind: ProblemUnsupportedMedia, title: "Unsupported media type",
			detail: "the contact file must be sent as text/csv"}
	}
	limit := s.importLimit
	if r.ContentLength > limit {
		return &apiError{status: http.StatusRequestEntityTooLarge, kind: ProblemTooLarge, title: "Payload too large",
			detail: "the contact file may be at most " + strconv.FormatInt(limit, 10) + " bytes"}
	}
	body := http.MaxBytesReader(c.Response(), r.Body, limit)
	rep, err := s.camp.Import(r.Context(), actorOf(c), c.Param("id"), body, campaign.ImportOptions{})
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, kind: ProblemTooLarge, title: "Payload too large",
				detail: "the contact file may be at most " + strconv.FormatInt(limit, 10) + " bytes; the campaign is unchanged"}
		}
		return err
	}
	return c.JSON(http.StatusCreated, rep)
}

// ImportList lists a campaign's imports.
type ImportList struct {
	Imports []*campaign.ImportReport `json:"imports"`
}

func (s *Server) listImports(c echo.Context) error {
	list, err := s.camp.Imports(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	if _, err := s.camp.Campaign(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	if list == nil {
		list = []*campaign.ImportReport{}
	}
	return c.JSON(http.StatusOK, ImportList{Imports: list})
}

func (s *Server) getImport(c echo.Context) error {
	rep, err := s.camp.ImportReport(c.Request().Context(), actorOf(c), c.Param("id"), c.Param("import"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, rep)
}

// startCSV starts a text/csv download answer.
func startCSV(c echo.Context, name string) io.Writer {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Response().WriteHeader(http.StatusOK)
	return c.Response()
}

func (s *Server) importRejects(c echo.Context) error {
	ctx, a, id, imp := c.Request().Context(), actorOf(c), c.Param("id"), c.Param("import")
	if _, err := s.camp.ImportReport(ctx, a, id, imp); err != nil {
		return err
	}
	w := csv.NewWriter(startCSV(c, "rejects-"+imp+".csv"))
	_ = w.Write([]string{"line", "reason", "detail", "cell"})
	err := s.camp.Rejects(ctx, a, id, imp, func(r campaign.Reject) error {
		return w.Write([]string{strconv.Itoa(r.Line), r.Reason, campaign.Neutralise(r.Detail), campaign.Neutralise(r.Cell)})
	})
	w.Flush()
	if err != nil {
		s.log.Warn("rejects download cut short", "err", err)
	}
	return nil
}

// ContactList is a page of contacts; Next is the after= of the next page (0 at the end).
type ContactList struct {
	Contacts []*campaign.Contact `json:"contacts"`
	Next     int64               `json:"next,omitempty"`
}

func (s *Server) listCampaignContacts(c echo.Context) error {
	f := campaign.ContactFilter{Texter: c.QueryParam("texter"), Status: campaign.Status(c.QueryParam("status")), Limit: DefaultLimit}
	if f.Status != "" && !validStatus(f.Status) {
		return invalid("status", "unknown status %q", f.Status)
	}
	if v := c.QueryParam("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return badRequest("after", "must be a contact ID")
		}
		f.After = n
	}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return badRequest("limit", "must be between 1 and %d", MaxLimit)
		}
		f.Limit = n
	}
	f.Unassigned = c.QueryParam("unassigned") == "true"
	cs, err := s.camp.Contacts(c.Request().Context(), actorOf(c), c.Param("id"), f)
	if err != nil {
		return err
	}
	out := ContactList{Contacts: cs}
	if out.Contacts == nil {
		out.Contacts = []*campaign.Contact{}
	}
	if len(cs) == f.Limit {
		out.Next = cs[len(cs)-1].ID
	}
	return c.JSON(http.StatusOK, out)
}

func validStatus(st campaign.Status) bool {
	for _, s := range campaign.Statuses {
		if s == st {
			return true
		}
	}
	return false
}

func (s *Server) getCampaignContact(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	ct, err := s.camp.Contact(c.Request().Context(), actorOf(c), c.Param("id"), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ct)
}

// EventList lists campaign events.
type EventList struct {
	Events []campaign.Event `json:"events"`
}

func (s *Server) contactEvents(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	evs, err := s.camp.Events(c.Request().Context(), actorOf(c), c.Param("id"), id)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []campaign.Event{}
	}
	return c.JSON(http.StatusOK, EventList{Events: evs})
}

func (s *Server) campaignEvents(c echo.Context) error {
	evs, err := s.camp.Events(c.Request().Context(), actorOf(c), c.Param("id"), 0)
	if err != nil {
		return err
	}
	if _, err := s.camp.Campaign(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	if evs == nil {
		evs = []campaign.Event{}
	}
	return c.JSON(http.StatusOK, EventList{Events: evs})
}

func (s *Server) contactConversation(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	cv, err := s.camp.Conversation(c.Request().Context(), actorOf(c), c.Param("id"), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, cv)
}

// sendFirst sends the first message to one contact: 201 when sent now, 200
// when it had been sent already (the same message, nothing new sent).
func (s *Server) sendFirst(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	res, err := s.camp.SendFirst(c.Request().Context(), actorOf(c), c.Param("id"), id)
	if err != nil {
		return err
	}
	if res.Repeated {
		return c.JSON(http.StatusOK, res)
	}
	return c.JSON(http.StatusCreated, res)
}

func (s *Server) replyContact(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	var in campaign.ReplyInput
	if err := s.decodeJSON(c, &in, false); err != nil {
		return err
	}
	if k := c.Request().Header.Get("Idempotency-Key"); k != "" {
		if err := checkIdempotencyKey(k); err != nil {
			return err
		}
		in.Key = k
	}
	res, err := s.camp.Reply(c.Request().Context(), actorOf(c), c.Param("id"), id, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, res)
}

type answerBody struct {
	Question string `json:"question"`
	Value    string `json:"value"`
}

func (s *Server) answerContact(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	var b answerBody
	if err := s.decodeJSON(c, &b, false); err != nil {
		return err
	}
	res, err := s.camp.Answer(c.Request().Context(), actorOf(c), c.Param("id"), id, b.Question, b.Value)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

type tagBody struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

func (s *Server) tagContact(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	var b tagBody
	if err := s.decodeJSON(c, &b, false); err != nil {
		return err
	}
	ct, err := s.camp.Tag(c.Request().Context(), actorOf(c), c.Param("id"), id, b.Add, b.Remove)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ct)
}

type optOutBody struct {
	Confirm bool `json:"confirm"`
}

func (s *Server) optOutContact(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	var b optOutBody
	if err := s.decodeJSON(c, &b, true); err != nil {
		return err
	}
	ct, err := s.camp.OptOut(c.Request().Context(), actorOf(c), c.Param("id"), id, b.Confirm)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ct)
}

func (s *Server) closeContact(c echo.Context) error {
	id, err := contactParam(c)
	if err != nil {
		return err
	}
	ct, err := s.camp.Close(c.Request().Context(), actorOf(c), c.Param("id"), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ct)
}

// Assigned says how many contacts an assignment call moved.
type Assigned struct {
	Assigned int `json:"assigned"`
}

type assignBody struct {
	Texter string `json:"texter"`
	Count  int    `json:"count"`
}

func (s *Server) assignContacts(c echo.Context) error {
	var b assignBody
	if err := s.decodeJSON(c, &b, false); err != nil {
		return err
	}
	n, err := s.camp.Assign(c.Request().Context(), actorOf(c), c.Param("id"), b.Texter, b.Count)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Assigned{Assigned: n})
}

type reassignBody struct {
	From     string  `json:"from"`
	To       string  `json:"to"`
	Contacts []int64 `json:"contacts"`
}

func (s *Server) reassignContacts(c echo.Context) error {
	var b reassignBody
	if err := s.decodeJSON(c, &b, false); err != nil {
		return err
	}
	if len(b.Contacts) > campaign.MaxAssign {
		return invalid("contacts", "at most %d", campaign.MaxAssign)
	}
	n, err := s.camp.Reassign(c.Request().Context(), actorOf(c), c.Param("id"), b.From, b.To, b.Contacts)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Assigned{Assigned: n})
}

func (s *Server) nextBatch(c echo.Context) error {
	n, err := s.camp.NextBatch(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Assigned{Assigned: n})
}

type releaseBody struct {
	Texter string `json:"texter"`
}

func (s *Server) releaseContacts(c echo.Context) error {
	var b releaseBody
	if err := s.decodeJSON(c, &b, true); err != nil {
		return err
	}
	n, err := s.camp.Release(c.Request().Context(), actorOf(c), c.Param("id"), b.Texter)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, Assigned{Assigned: n})
}

func (s *Server) texterQueue(c echo.Context) error {
	limit := 20
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxLimit {
			return badRequest("limit", "must be between 1 and %d", MaxLimit)
		}
		limit = n
	}
	q, err := s.camp.Queue(c.Request().Context(), actorOf(c), c.Param("id"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, q)
}

func (s *Server) texterReplies(c echo.Context) error {
	if _, err := s.camp.Campaign(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	cs, err := s.camp.Replies(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []*campaign.Contact{}
	}
	return c.JSON(http.StatusOK, ContactList{Contacts: cs})
}

func (s *Server) campaignStats(c echo.Context) error {
	st, err := s.camp.Stats(c.Request().Context(), actorOf(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

// InboxList is the organisation inbox.
type InboxList struct {
	Messages []campaign.InboxItem `json:"messages"`
}

func (s *Server) campaignInbox(c echo.Context) error {
	items, err := s.camp.Inbox(c.Request().Context(), actorOf(c), DefaultLimit)
	if err != nil {
		return err
	}
	if items == nil {
		items = []campaign.InboxItem{}
	}
	return c.JSON(http.StatusOK, InboxList{Messages: items})
}

// export streams one CSV export. Errors before the first byte are problem
// documents; a failure mid-stream ends the body early (logged).
func (s *Server) export(c echo.Context, kind string, fn func(w io.Writer) (int, error)) error {
	ctx, id := c.Request().Context(), c.Param("id")
	if _, err := s.camp.Campaign(ctx, id); err != nil {
		return err
	}
	if !actorOf(c).Organiser {
		return campaign.ErrForbidden
	}
	w := startCSV(c, fmt.Sprintf("campaign-%s-%s-%s.csv", id, kind, s.now().UTC().Format("20060102T150405Z")))
	start := time.Now()
	n, err := fn(w)
	if err != nil {
		s.log.Warn("export cut short", "kind", kind, "rows", n, "err", err)
		return nil
	}
	s.log.Info("export", "kind", kind, "rows", n, "took", time.Since(start))
	return nil
}

func (s *Server) exportContacts(c echo.Context) error {
	return s.export(c, "contacts", func(w io.Writer) (int, error) {
		return s.camp.ExportContacts(c.Request().Context(), actorOf(c), c.Param("id"), w, nil)
	})
}

func (s *Server) exportMessages(c echo.Context) error {
	return s.export(c, "messages", func(w io.Writer) (int, error) {
		return s.camp.ExportMessages(c.Request().Context(), actorOf(c), c.Param("id"), w, nil)
	})
}

// Campaign problem types (appended to ProblemBase).
const (
	ProblemCampaignState = "campaign-state"
	ProblemNotAssigned   = "not-assigned"
	ProblemImportRunning = "import-running"
	ProblemOpenReplies   = "open-replies"
	ProblemUnsent        = "unsent-contacts"
	ProblemContactClosed = "contact-closed"
	ProblemNotCompliant  = "not-compliant"
	ProblemOutsideHours  = "outside-texting-hours"
	ProblemMalformedCSV  = "malformed-csv"
	ProblemMissingField  = "missing-merge-field"
)

// campaignProblem classifies the campaign package's errors; their texts
// say what is wrong in the client's terms and hold no internals.
func campaignProblem(err error) (Problem, bool) {
	var (
		ce *campaign.ComplianceError
		he *campaign.HoursError
		fe *campaign.FormatError
		me *campaign.MissingFieldError
	)
	switch {
	case errors.As(err, &ce):
		p := Problem{Type: ProblemBase + ProblemNotCompliant, Title: "Campaign does not comply", Status: http.StatusUnprocessableEntity, Detail: ce.Error()}
		for _, m := range ce.Missing {
			p.Errors = append(p.Errors, FieldError{Field: "script", Reason: m})
		}
		return p, true
	case errors.As(err, &he):
		return Problem{Type: ProblemBase + ProblemOutsideHours, Title: "Outside texting hours", Status: http.StatusConflict, Detail: he.Error()}, true
	case errors.As(err, &fe):
		return Problem{Type: ProblemBase + ProblemMalformedCSV, Title: "Malformed CSV file", Status: http.StatusUnprocessableEntity,
			Detail: fe.Error() + "; nothing was imported",
			Errors: []FieldError{{Field: fmt.Sprintf("line %d, column %d", fe.Line, fe.Column), Reason: fe.Reason}}}, true
	case errors.As(err, &me):
		return Problem{Type: ProblemBase + ProblemMissingField, Title: "Missing merge value", Status: http.StatusUnprocessableEntity, Detail: me.Error()}, true
	}
	for _, s := range []struct {
		err    error
		status int
		kind   string
		title  string
	}{
		{campaign.ErrState, http.StatusConflict, ProblemCampaignState, "Not allowed in the campaign's state"},
		{campaign.ErrNotAssigned, http.StatusForbidden, ProblemNotAssigned, "Not your contact"},
		{campaign.ErrForbidden, http.StatusForbidden, ProblemForbidden, "Forbidden"},
		{campaign.ErrImportRunning, http.StatusConflict, ProblemImportRunning, "Import under way"},
		{campaign.ErrOpenReplies, http.StatusConflict, ProblemOpenReplies, "Open replies"},
		{campaign.ErrHasUnsent, http.StatusConflict, ProblemUnsent, "Contacts still to message"},
		{campaign.ErrContactClosed, http.StatusConflict, ProblemContactClosed, "Contact closed"},
	} {
		if errors.Is(err, s.err) {
			return Problem{Type: ProblemBase + s.kind, Title: s.title, Status: s.status, Detail: err.Error()}, true
		}
	}
	return Problem{}, false
}
