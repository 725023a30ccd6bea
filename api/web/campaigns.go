package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/gateway/campaign"
)

// actorOf is the campaign actor of the logged-in user: a texter acts as
// themself (their user ID is their texter ID), an organiser on anything.
func actorOf(c echo.Context) campaign.Actor {
	u, _ := userOf(c)
	return campaign.Actor{ID: u.ID, Name: u.Name, Organiser: u.Role == account.RoleOrganiser}
}

// campaignErr turns the campaign domain's refusals into pages.
func campaignErr(err error) error {
	var ce *campaign.ComplianceError
	var he *campaign.HoursError
	var fe *campaign.FormatError
	switch {
	case errors.As(err, &ce):
		return &pageError{http.StatusUnprocessableEntity, "The campaign cannot start: " + strings.Join(ce.Missing, "; ") + "."}
	case errors.As(err, &he):
		return &pageError{http.StatusConflict, "This contact is outside their texting hours; they open at " + he.Opens.In(zoneOr(he.Zone)).Format("Mon 15:04") + " (" + he.Zone + ")."}
	case errors.As(err, &fe):
		return &pageError{http.StatusUnprocessableEntity, "The file is malformed: " + fe.Error() + "."}
	case errors.Is(err, campaign.ErrForbidden):
		return errForbidden
	case errors.Is(err, campaign.ErrNotAssigned):
		return &pageError{http.StatusForbidden, "This contact is not assigned to you."}
	case errors.Is(err, campaign.ErrState), errors.Is(err, campaign.ErrOpenReplies), errors.Is(err, campaign.ErrHasUnsent),
		errors.Is(err, campaign.ErrImportRunning), errors.Is(err, campaign.ErrContactClosed):
		return &pageError{http.StatusConflict, sentence(err.Error())}
	case errors.Is(err, gateway.ErrOptedOut):
		return &pageError{http.StatusConflict, "This person has opted out; nothing more is sent to them."}
	}
	return err
}

func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func zoneOr(z string) *time.Location {
	if loc, err := time.LoadLocation(z); err == nil {
		return loc
	}
	return time.UTC
}

// campaignRow is a campaign in the organiser's list.
type campaignRow struct {
	*campaign.Campaign
	Stats *campaign.Stats
}

func (r campaignRow) Count(s campaign.Status) int {
	if r.Stats == nil {
		return 0
	}
	return r.Stats.Contacts.ByStatus[s]
}

// Done counts contacts past their first message.
func (r campaignRow) Done() int {
	if r.Stats == nil {
		return 0
	}
	return r.Stats.Contacts.Total - r.Stats.Contacts.ByStatus[campaign.StatusNeedsMessage]
}

// Percent is how far the first messages are.
func (r campaignRow) Percent() int {
	if r.Stats == nil || r.Stats.Contacts.Total == 0 {
		return 0
	}
	return 100 * r.Done() / r.Stats.Contacts.Total
}

func (a *App) campaignRows(c echo.Context) ([]campaignRow, error) {
	ctx := c.Request().Context()
	list, err := a.camps.Campaigns(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]campaignRow, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- { // newest first
		st, err := a.camps.Stats(ctx, actorOf(c), list[i].ID)
		if err != nil {
			return nil, err
		}
		rows = append(rows, campaignRow{Campaign: list[i], Stats: st})
	}
	return rows, nil
}

type campaignsPage struct {
	Rows   []campaignRow
	Title  string
	Errors map[string]string
}

func (a *App) campaigns(c echo.Context) error {
	rows, err := a.campaignRows(c)
	if err != nil {
		return err
	}
	u, _ := userOf(c)
	return a.render(c, http.StatusOK, "campaigns", page{Title: "Campaigns", Nav: "campaigns", User: u, CSRF: csrfOf(c), Data: campaignsPage{Rows: rows}})
}

// campaignsProgress is the campaigns table alone, which the list polls.
func (a *App) campaignsProgress(c echo.Context) error {
	rows, err := a.campaignRows(c)
	if err != nil {
		return err
	}
	return a.renderBlock(c, http.StatusOK, "campaigns", "campaign-rows", page{CSRF: csrfOf(c), Data: campaignsPage{Rows: rows}})
}

func (a *App) createCampaign(c echo.Context) error {
	title := strings.TrimSpace(c.FormValue("title"))
	cp, err := a.camps.Create(c.Request().Context(), actorOf(c), campaign.Spec{Title: title, OrgName: strings.TrimSpace(c.FormValue("org_name"))})
	var ve *gateway.ValidationError
	if errors.As(err, &ve) {
		rows, err := a.campaignRows(c)
		if err != nil {
			return err
		}
		u, _ := userOf(c)
		return a.render(c, http.StatusUnprocessableEntity, "campaigns", page{Title: "Campaigns", Nav: "campaigns", User: u, CSRF: csrfOf(c),
			Data: campaignsPage{Rows: rows, Title: title, Errors: map[string]string{formField(ve.Field): sentence(ve.Reason)}}})
	}
	if err != nil {
		return campaignErr(err)
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/campaigns/"+cp.ID)
}

// campaignForm is the settings form's values (as typed) and errors.
type campaignForm struct {
	Title, Description, OrgName, ModemGroup string
	Start, End, TimeZone                    string
	BatchSize                               string
	Script, Survey, Canned, Tags            string
}

func formOf(cp *campaign.Campaign) campaignForm {
	return campaignForm{
		Title: cp.Title, Description: cp.Description, OrgName: cp.OrgName, ModemGroup: cp.ModemGroup,
		Start: cp.Hours.Start, End: cp.Hours.End, TimeZone: cp.Hours.TimeZone, BatchSize: strconv.Itoa(cp.BatchSize),
		Script: cp.Script, Survey: FormatSurvey(cp.Survey), Canned: FormatCanned(cp.Canned), Tags: strings.Join(cp.Tags, ", "),
	}
}

func readForm(c echo.Context) campaignForm {
	f := func(k string) string { return c.FormValue(k) }
	return campaignForm{
		Title: strings.TrimSpace(f("title")), Description: f("description"), OrgName: strings.TrimSpace(f("org_name")),
		ModemGroup: strings.TrimSpace(f("modem_group")), Start: strings.TrimSpace(f("start")), End: strings.TrimSpace(f("end")),
		TimeZone: strings.TrimSpace(f("time_zone")), BatchSize: strings.TrimSpace(f("batch_size")),
		Script: f("script"), Survey: f("survey"), Canned: f("canned"), Tags: f("tags"),
	}
}

// patch turns the form into a campaign patch; on an active campaign the
// fields that may change only while paused are left out when unchanged.
func (f campaignForm) patch(cp *campaign.Campaign) (campaign.Patch, error) {
	p := campaign.Patch{Title: &f.Title, Description: &f.Description, Hours: &campaign.Hours{Start: f.Start, End: f.End, TimeZone: f.TimeZone}}
	if f.OrgName != cp.OrgName {
		p.OrgName = &f.OrgName
	}
	if f.ModemGroup != cp.ModemGroup {
		p.ModemGroup = &f.ModemGroup
	}
	script := strings.ReplaceAll(f.Script, "\r\n", "\n")
	if script != cp.Script {
		p.Script = &script
	}
	n, err := strconv.Atoi(f.BatchSize)
	if err != nil {
		return p, gateway.Invalid("batch_size", "must be a whole number")
	}
	p.BatchSize = &n
	sv, err := ParseSurvey(f.Survey)
	if err != nil {
		return p, err
	}
	p.Survey = &sv
	cn, err := ParseCanned(f.Canned)
	if err != nil {
		return p, err
	}
	p.Canned = &cn
	tags := ParseTags(f.Tags)
	p.Tags = &tags
	return p, nil
}

// texterRow is a texter and their contacts in one campaign.
type texterRow struct {
	account.User
	Counts map[campaign.Status]int
	Total  int
}

// Count is the texter's contacts in status s.
func (t texterRow) Count(s campaign.Status) int { return t.Counts[s] }

// campaignPage is the organiser's page of one campaign.
type campaignPage struct {
	C        *campaign.Campaign
	Stats    *campaign.Stats
	Form     campaignForm
	Errors   map[string]string
	Saved    bool
	Notice   string
	Texters  []texterRow
	Imports  []*campaign.ImportReport
	Report   *campaign.ImportReport
	Preview  previewData
	Compiles error
}

func (p campaignPage) Count(s campaign.Status) int {
	if p.Stats == nil {
		return 0
	}
	return p.Stats.Contacts.ByStatus[s]
}

func (a *App) loadCampaignPage(c echo.Context, cp *campaign.Campaign, p *campaignPage) error {
	ctx := c.Request().Context()
	act := actorOf(c)
	st, err := a.camps.Stats(ctx, act, cp.ID)
	if err != nil {
		return err
	}
	p.C, p.Stats = cp, st
	users, err := a.accounts.Users(ctx)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u.Role != account.RoleTexter {
			continue
		}
		tr := texterRow{User: u, Counts: st.Contacts.ByTexter[u.ID]}
		for _, n := range tr.Counts {
			tr.Total += n
		}
		if u.Disabled && tr.Total == 0 {
			continue
		}
		p.Texters = append(p.Texters, tr)
	}
	if p.Imports, err = a.camps.Imports(ctx, act, cp.ID); err != nil {
		return err
	}
	slices.Reverse(p.Imports)
	if p.Report == nil && len(p.Imports) > 0 {
		p.Report = p.Imports[0]
	}
	if p.Form == (campaignForm{}) {
		p.Form = formOf(cp)
	}
	p.Preview = a.preview(c, cp, p.Form.Script, p.Form.OrgName)
	return nil
}

func (a *App) campaignByParam(c echo.Context) (*campaign.Campaign, error) {
	return a.camps.Campaign(c.Request().Context(), c.Param("id"))
}

func (a *App) campaignPage(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	p := campaignPage{Notice: c.QueryParam("notice")}
	if err := a.loadCampaignPage(c, cp, &p); err != nil {
		return err
	}
	return a.showCampaign(c, http.StatusOK, p)
}

func (a *App) showCampaign(c echo.Context, status int, p campaignPage) error {
	u, _ := userOf(c)
	return a.render(c, status, "campaign", page{Title: p.C.Title, Nav: "campaigns", User: u, CSRF: csrfOf(c), Data: p})
}

// campaignProgress is the progress block alone (polled).
func (a *App) campaignProgress(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	st, err := a.camps.Stats(c.Request().Context(), actorOf(c), cp.ID)
	if err != nil {
		return err
	}
	return a.renderBlock(c, http.StatusOK, "campaign", "progress", page{CSRF: csrfOf(c), Data: campaignPage{C: cp, Stats: st}})
}

func (a *App) updateCampaign(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	f := readForm(c)
	p := campaignPage{Form: f, Errors: map[string]string{}}
	patch, err := f.patch(cp)
	if err == nil {
		if _, err = a.camps.Update(c.Request().Context(), actorOf(c), cp.ID, patch); err == nil {
			return c.Redirect(http.StatusSeeOther, Prefix+"/campaigns/"+cp.ID+"?notice=saved")
		}
	}
	var ve *gateway.ValidationError
	switch {
	case errors.As(err, &ve):
		msg := ve.Reason
		if formField(ve.Field) != ve.Field {
			msg = ve.Field + ": " + msg
		}
		p.Errors[formField(ve.Field)] = sentence(msg)
	case errors.Is(err, campaign.ErrState):
		p.Errors["form"] = sentence(err.Error())
	default:
		return campaignErr(err)
	}
	if err := a.loadCampaignPage(c, cp, &p); err != nil {
		return err
	}
	return a.showCampaign(c, http.StatusUnprocessableEntity, p)
}

func (a *App) setCampaignState(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	to := campaign.State(c.FormValue("to"))
	switch to {
	case campaign.StateActive, campaign.StatePaused, campaign.StateArchived:
	default:
		return gateway.Invalid("to", "must be active, paused or archived")
	}
	_, err = a.camps.SetState(c.Request().Context(), actorOf(c), cp.ID, to)
	var ce *campaign.ComplianceError
	if errors.As(err, &ce) {
		p := campaignPage{Errors: map[string]string{"state": "The campaign cannot start: " + strings.Join(ce.Missing, "; ") + "."}}
		if err := a.loadCampaignPage(c, cp, &p); err != nil {
			return err
		}
		return a.showCampaign(c, http.StatusUnprocessableEntity, p)
	}
	if err != nil {
		return campaignErr(err)
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/campaigns/"+cp.ID+"?notice="+string(to))
}

// previewData is the script preview: the message for real contacts.
type previewData struct {
	Items   []previewItem
	Sample  bool // no contacts yet: a made-up one
	Error   string
	Missing []string // compliance: what the first message lacks
}

type previewItem struct {
	Name     string
	Body     string
	Parts    int
	Encoding string
	Problem  string
}

// preview renders script for up to three contacts of the campaign.
func (a *App) preview(c echo.Context, cp *campaign.Campaign, script, org string) previewData {
	var p previewData
	if err := campaign.CheckCompliance(script, org, campaign.DefaultOptOutPhrases); err != nil {
		var ce *campaign.ComplianceError
		if errors.As(err, &ce) {
			p.Missing = ce.Missing
		}
	}
	if strings.TrimSpace(script) == "" {
		return p
	}
	known := map[string]bool{}
	for _, f := range cp.Fields {
		known[f] = true
	}
	sc, err := campaign.ParseScript(script, known)
	if err != nil {
		var ve *gateway.ValidationError
		if errors.As(err, &ve) {
			p.Error = sentence(ve.Reason)
		} else {
			p.Error = sentence(err.Error())
		}
		return p
	}
	contacts, err := a.camps.Contacts(c.Request().Context(), actorOf(c), cp.ID, campaign.ContactFilter{Limit: 3})
	if err != nil || len(contacts) == 0 {
		p.Sample = true
		contacts = []*campaign.Contact{{FirstName: "Sam", LastName: "Lee", Zip: "10001", Cell: "+15551230000"}}
	}
	texter := campaign.Texter{Name: "Ana"}
	for _, ct := range contacts {
		it := previewItem{Name: strings.TrimSpace(ct.FirstName + " " + ct.LastName)}
		if it.Name == "" {
			it.Name = gateway.MaskNumber(ct.Cell)
		}
		body, err := sc.Render(campaign.Values(ct, texter))
		if err != nil {
			it.Problem = sentence(err.Error())
		} else if r, err := campaign.Measure(body); err != nil {
			it.Problem = sentence(err.Error())
		} else {
			it.Body, it.Parts, it.Encoding = r.Body, r.Parts, r.Encoding
		}
		p.Items = append(p.Items, it)
	}
	return p
}

// previewScript answers the script editor as it is typed (htmx).
func (a *App) previewScript(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	pv := a.preview(c, cp, c.FormValue("script"), strings.TrimSpace(c.FormValue("org_name")))
	return a.renderBlock(c, http.StatusOK, "campaign", "preview", []any{pv})
}

// importCSV reads an uploaded contact file into the campaign and shows its report.
func (a *App) importCSV(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	p := campaignPage{Errors: map[string]string{}}
	fh, err := c.FormFile("file")
	if err != nil {
		p.Errors["file"] = "Choose a CSV file to upload."
	} else {
		f, err := fh.Open()
		if err != nil {
			return err
		}
		defer f.Close()
		rep, err := a.camps.Import(c.Request().Context(), actorOf(c), cp.ID, f, campaign.ImportOptions{})
		var fe *campaign.FormatError
		switch {
		case errors.As(err, &fe):
			p.Errors["file"] = fmt.Sprintf("The file is malformed at line %d, column %d: %s. Nothing was imported.", fe.Line, fe.Column, fe.Reason)
		case errors.Is(err, campaign.ErrImportRunning), errors.Is(err, campaign.ErrState):
			p.Errors["file"] = sentence(err.Error())
		case err != nil:
			return campaignErr(err)
		default:
			p.Report = rep
			a.log.Info("web: contacts imported", "campaign", cp.ID, "rows", rep.Rows, "imported", rep.Imported)
		}
		if cp, err = a.campaignByParam(c); err != nil {
			return err
		}
	}
	if err := a.loadCampaignPage(c, cp, &p); err != nil {
		return err
	}
	status := http.StatusOK
	if len(p.Errors) > 0 {
		status = http.StatusUnprocessableEntity
	}
	if isHTMX(c) {
		return a.renderBlock(c, status, "campaign", "import", page{CSRF: csrfOf(c), Data: p})
	}
	return a.showCampaign(c, status, p)
}

// rejects downloads the rows an import refused, as CSV.
func (a *App) rejects(c echo.Context) error {
	id, iid := c.Param("id"), c.Param("import")
	if _, err := a.camps.ImportReport(c.Request().Context(), actorOf(c), id, iid); err != nil {
		return campaignErr(err)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="rejected-rows-`+safeName(iid)+`.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := c.Response()
	_, _ = w.Write([]byte("line,reason,detail,cell\r\n"))
	return a.camps.Rejects(c.Request().Context(), actorOf(c), id, iid, func(r campaign.Reject) error {
		_, err := fmt.Fprintf(w, "%d,%s,%s,%s\r\n", r.Line, csvCell(r.Reason), csvCell(r.Detail), csvCell(r.Cell))
		return err
	})
}

// csvCell quotes a cell and neutralises what a spreadsheet would run.
func csvCell(v string) string {
	v = campaign.Neutralise(v)
	if strings.ContainsAny(v, ",\"\r\n") {
		v = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	return v
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// texterByID checks that id is an enabled texter's and records their name.
func (a *App) texterByID(c echo.Context, field, id string) (account.User, error) {
	u, err := a.accounts.User(c.Request().Context(), id)
	if err != nil || u.Role != account.RoleTexter {
		return u, gateway.Invalid(field, "pick a texter")
	}
	if err := a.camps.PutTexter(c.Request().Context(), actorOf(c), campaign.Texter{ID: u.ID, Name: u.Name}); err != nil {
		return u, err
	}
	return u, nil
}

func (a *App) assign(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var notice string
	u, err := a.texterByID(c, "texter", c.FormValue("texter"))
	if err == nil {
		var n int
		switch c.FormValue("action") {
		case "release":
			n, err = a.camps.Release(ctx, actorOf(c), cp.ID, u.ID)
			notice = fmt.Sprintf("Released %d unsent contacts of %s.", n, u.Name)
		case "reassign":
			var to account.User
			if to, err = a.texterByID(c, "to", c.FormValue("to")); err == nil {
				n, err = a.camps.Reassign(ctx, actorOf(c), cp.ID, u.ID, to.ID, nil)
				notice = fmt.Sprintf("Moved %d contacts from %s to %s.", n, u.Name, to.Name)
			}
		default:
			count, cerr := strconv.Atoi(strings.TrimSpace(c.FormValue("count")))
			if cerr != nil {
				err = gateway.Invalid("count", "must be a whole number")
				break
			}
			n, err = a.camps.Assign(ctx, actorOf(c), cp.ID, u.ID, count)
			notice = fmt.Sprintf("Gave %s %d contacts.", u.Name, n)
		}
	}
	var ve *gateway.ValidationError
	if errors.As(err, &ve) {
		p := campaignPage{Errors: map[string]string{"assign": sentence(ve.Field + " " + ve.Reason)}}
		if err := a.loadCampaignPage(c, cp, &p); err != nil {
			return err
		}
		return a.showCampaign(c, http.StatusUnprocessableEntity, p)
	}
	if err != nil {
		return campaignErr(err)
	}
	a.log.Info("web: assignment", "campaign", cp.ID, "action", c.FormValue("action"), "texter", u.ID)
	p := campaignPage{Notice: notice}
	if err := a.loadCampaignPage(c, cp, &p); err != nil {
		return err
	}
	return a.showCampaign(c, http.StatusOK, p)
}

// export streams the contacts or messages CSV as a download.
func (a *App) export(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	kind := c.Param("kind")
	fn := a.camps.ExportContacts
	switch kind {
	case "contacts.csv":
	case "messages.csv":
		fn = a.camps.ExportMessages
	default:
		return errPageNotFound
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+safeName(cp.Title)+"-"+kind+`"`)
	c.Response().WriteHeader(http.StatusOK)
	_, err = fn(c.Request().Context(), actorOf(c), cp.ID, c.Response(), nil)
	if err != nil {
		a.log.Error("web: export failed midway", "campaign", cp.ID, "kind", kind, "err", err)
	}
	return nil
}

// reviewPage is message review: one campaign's messages, filtered.
type reviewPage struct {
	C                      *campaign.Campaign
	Texters                []account.User
	Texter, Status, Tag, Q string
	Rows                   []reviewRow
	Total, Shown           int
}

type reviewRow struct {
	Msg     *campaign.Message
	Contact *campaign.Contact
	Texter  string
}

const maxReviewRows = 500

func (a *App) review(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	act := actorOf(c)
	p := reviewPage{C: cp, Texter: c.QueryParam("texter"), Status: c.QueryParam("status"), Tag: c.QueryParam("tag"), Q: strings.TrimSpace(c.QueryParam("q"))}
	users, err := a.accounts.Users(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, u := range users {
		names[u.ID] = u.Name
		if u.Role == account.RoleTexter {
			p.Texters = append(p.Texters, u)
		}
	}
	// The contacts the filters on contacts select (texter, status, tag).
	contacts := map[int64]*campaign.Contact{}
	err = a.forContacts(c, cp.ID, campaign.ContactFilter{Texter: p.Texter, Status: campaign.Status(p.Status)}, func(ct *campaign.Contact) {
		if p.Tag == "" || slices.Contains(ct.Tags, p.Tag) {
			contacts[ct.ID] = ct
		}
	})
	if err != nil {
		return err
	}
	q := strings.ToLower(p.Q)
	err = a.camps.Messages(ctx, act, cp.ID, func(m *campaign.Message) error {
		ct, ok := contacts[m.ContactID]
		if !ok || q != "" && !strings.Contains(strings.ToLower(m.Body), q) {
			return nil
		}
		p.Total++
		if len(p.Rows) < maxReviewRows {
			p.Rows = append(p.Rows, reviewRow{Msg: m, Contact: ct, Texter: names[ct.Texter]})
		}
		return nil
	})
	if err != nil {
		return campaignErr(err)
	}
	slices.Reverse(p.Rows) // newest first
	p.Shown = len(p.Rows)
	u, _ := userOf(c)
	return a.render(c, http.StatusOK, "review", page{Title: "Messages of " + cp.Title, Nav: "campaigns", User: u, CSRF: csrfOf(c), Data: p})
}

// forContacts walks every contact f selects, a page at a time.
func (a *App) forContacts(c echo.Context, id string, f campaign.ContactFilter, fn func(*campaign.Contact)) error {
	f.Limit = 1000
	for {
		page, err := a.camps.Contacts(c.Request().Context(), actorOf(c), id, f)
		if err != nil {
			return err
		}
		for _, ct := range page {
			fn(ct)
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].ID
	}
}
