package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/campaign"
)

// myCampaign is a campaign on a texter's start page with their counts.
type myCampaign struct {
	C                     *campaign.Campaign
	ToSend, Replies, Done int
	Total                 int
}

func (a *App) myCampaigns(c echo.Context) ([]myCampaign, error) {
	list, err := a.camps.Campaigns(c.Request().Context())
	if err != nil {
		return nil, err
	}
	var out []myCampaign
	for _, cp := range list {
		if cp.State != campaign.StateActive && cp.State != campaign.StatePaused {
			continue
		}
		m := myCampaign{C: cp}
		err := a.forContacts(c, cp.ID, campaign.ContactFilter{}, func(ct *campaign.Contact) {
			m.Total++
			switch {
			case ct.Status == campaign.StatusNeedsMessage && !ct.OptedOut:
				m.ToSend++
			case ct.Status == campaign.StatusNeedsResponse:
				m.Replies++
			default:
				m.Done++
			}
		})
		if err != nil {
			return nil, err
		}
		if m.Total > 0 || cp.State == campaign.StateActive {
			out = append(out, m)
		}
	}
	return out, nil
}

func (a *App) texterHome(c echo.Context) error {
	u, _ := userOf(c)
	var list []myCampaign
	if a.camps != nil {
		// The texter's display name is what {texterFirstName} renders.
		if err := a.camps.PutTexter(c.Request().Context(), actorOf(c), campaign.Texter{ID: u.ID, Name: u.Name}); err != nil {
			return err
		}
		var err error
		if list, err = a.myCampaigns(c); err != nil {
			return err
		}
	}
	return a.render(c, http.StatusOK, "home", page{Title: "Your campaigns", Nav: "home", User: u, CSRF: csrfOf(c),
		Data: struct {
			List   []myCampaign
			Notice string
		}{list, c.QueryParam("notice")}})
}

// more asks for the next dynamic batch.
func (a *App) more(c echo.Context) error {
	id := c.Param("id")
	n, err := a.camps.NextBatch(c.Request().Context(), actorOf(c), id)
	if err != nil {
		return campaignErr(err)
	}
	notice := "You got " + strconv.Itoa(n) + " more contacts."
	if n == 0 {
		notice = "No contacts are left to hand out in this campaign."
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/?notice="+notice)
}

// sendCard is the first-message screen's card: one contact, or why none.
type sendCard struct {
	C     *campaign.Campaign
	Item  *campaign.QueueItem
	Queue campaign.Queue
	Sent  string // who was just sent to
	Error string
	Opens string // when the first waiting contact opens, in words
	Token string
}

func (a *App) sendCardFor(c echo.Context, cp *campaign.Campaign) (sendCard, error) {
	q, err := a.camps.Queue(c.Request().Context(), actorOf(c), cp.ID, 1)
	if err != nil {
		return sendCard{}, err
	}
	sc := sendCard{C: cp, Queue: q}
	if len(q.Items) > 0 {
		sc.Item = &q.Items[0]
	}
	if q.Waiting > 0 && !q.NextOpen.IsZero() {
		sc.Opens = q.NextOpen.UTC().Format("Mon 2 Jan 15:04 MST")
	}
	return sc, nil
}

func (a *App) sendPage(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	sc, err := a.sendCardFor(c, cp)
	if err != nil {
		return campaignErr(err)
	}
	u, _ := userOf(c)
	return a.render(c, http.StatusOK, "send", page{Title: "First messages: " + cp.Title, Nav: "home", User: u, CSRF: csrfOf(c), Data: sc})
}

// sendFirst sends one contact's first message and answers with the next
// contact's card (htmx), or the page (a plain form post).
func (a *App) sendFirst(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	contactID, err := strconv.ParseInt(c.Param("contact"), 10, 64)
	if err != nil {
		return errPageNotFound
	}
	res, serr := a.camps.SendFirst(c.Request().Context(), actorOf(c), cp.ID, contactID)
	sc, err := a.sendCardFor(c, cp)
	if err != nil {
		return campaignErr(err)
	}
	if serr != nil {
		var pe *pageError
		if errors.As(campaignErr(serr), &pe) {
			sc.Error = pe.msg
		} else {
			return serr
		}
	} else if res != nil {
		sc.Sent = strings.TrimSpace(res.Contact.FirstName + " " + res.Contact.LastName)
		if sc.Sent == "" {
			sc.Sent = "the contact"
		}
	}
	if isHTMX(c) {
		return a.renderBlock(c, http.StatusOK, "send", "card", page{CSRF: csrfOf(c), Data: sc})
	}
	u, _ := userOf(c)
	return a.render(c, http.StatusOK, "send", page{Title: "First messages: " + cp.Title, Nav: "home", User: u, CSRF: csrfOf(c), Data: sc})
}

// repliesPage is the replies screen: the waiting conversations and one open.
type repliesPage struct {
	C        *campaign.Campaign
	List     []*campaign.Contact
	Open     *convView
	Selected int64
	Prev     int64
	Next     int64
}

// convView is one conversation as the texter sees it.
type convView struct {
	C        *campaign.Campaign
	Conv     *campaign.Conversation
	Question *campaign.Question
	Canned   []cannedView
	Tags     []tagView
	Reply    string // the reply box's text
	Key      string // idempotency key of the reply form
	Notice   string
	Error    string
	CSRF     string
}

type cannedView struct{ Title, Body string }

type tagView struct {
	Name string
	On   bool
}

func (v *convView) Answer(q string) string {
	if a, ok := v.Conv.Contact.Answers[q]; ok {
		return a.Value
	}
	return ""
}

func (a *App) convFor(c echo.Context, cp *campaign.Campaign, contactID int64) (*convView, error) {
	ctx := c.Request().Context()
	conv, err := a.camps.Conversation(ctx, actorOf(c), cp.ID, contactID)
	if err != nil {
		return nil, err
	}
	v := &convView{C: cp, Conv: conv, Key: newKey(), CSRF: csrfOf(c)}
	if conv.Next != "" {
		if q, ok := cp.Survey.Question(conv.Next); ok {
			v.Question = &q
		}
	}
	u, _ := userOf(c)
	vals := campaign.Values(conv.Contact, campaign.Texter{ID: u.ID, Name: u.Name})
	for _, cr := range cp.Canned {
		body := cr.Body
		if sc, err := campaign.ParseScript(cr.Body, nil); err == nil {
			if r, err := sc.Render(vals); err == nil {
				body = r
			}
		}
		v.Canned = append(v.Canned, cannedView{Title: cr.Title, Body: body})
	}
	for _, t := range cp.Tags {
		v.Tags = append(v.Tags, tagView{Name: t, On: slices.Contains(conv.Contact.Tags, t)})
	}
	return v, nil
}

func newKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *App) loadReplies(c echo.Context, cp *campaign.Campaign, selected int64) (repliesPage, error) {
	list, err := a.camps.Replies(c.Request().Context(), actorOf(c), cp.ID)
	if err != nil {
		return repliesPage{}, err
	}
	p := repliesPage{C: cp, List: list, Selected: selected}
	if p.Selected == 0 && len(list) > 0 {
		p.Selected = list[0].ID
	}
	for i, ct := range list {
		if ct.ID == p.Selected {
			if i > 0 {
				p.Prev = list[i-1].ID
			}
			if i+1 < len(list) {
				p.Next = list[i+1].ID
			}
		}
	}
	if p.Next == 0 && p.Prev == 0 && len(list) > 0 && list[0].ID != p.Selected {
		p.Next = list[0].ID
	}
	return p, nil
}

func contactParam(c echo.Context, name string) int64 {
	n, _ := strconv.ParseInt(c.QueryParam(name), 10, 64)
	return n
}

func (a *App) replies(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	p, err := a.loadReplies(c, cp, contactParam(c, "contact"))
	if err != nil {
		return campaignErr(err)
	}
	if p.Selected != 0 {
		if p.Open, err = a.convFor(c, cp, p.Selected); err != nil {
			return campaignErr(err)
		}
	}
	u, _ := userOf(c)
	return a.render(c, http.StatusOK, "replies", page{Title: "Replies: " + cp.Title, Nav: "home", User: u, CSRF: csrfOf(c), Data: p})
}

// replyList is the waiting list alone (polled).
func (a *App) replyList(c echo.Context) error {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return err
	}
	p, err := a.loadReplies(c, cp, contactParam(c, "contact"))
	if err != nil {
		return campaignErr(err)
	}
	if c.QueryParam("contact") != "" {
		p.Selected = contactParam(c, "contact")
	}
	return a.renderBlock(c, http.StatusOK, "replies", "list", page{CSRF: csrfOf(c), Data: p})
}

func (a *App) convParam(c echo.Context) (*campaign.Campaign, int64, error) {
	cp, err := a.campaignByParam(c)
	if err != nil {
		return nil, 0, err
	}
	id, err := strconv.ParseInt(c.Param("contact"), 10, 64)
	if err != nil {
		return nil, 0, errPageNotFound
	}
	return cp, id, nil
}

// thread is one conversation's messages alone (polled).
func (a *App) thread(c echo.Context) error {
	cp, id, err := a.convParam(c)
	if err != nil {
		return err
	}
	v, err := a.convFor(c, cp, id)
	if err != nil {
		return campaignErr(err)
	}
	return a.renderBlock(c, http.StatusOK, "replies", "thread", page{CSRF: csrfOf(c), Data: v})
}

// conversation answers an act in a conversation with the whole pane.
func (a *App) conversation(c echo.Context, cp *campaign.Campaign, id int64, edit func(v *convView)) error {
	v, err := a.convFor(c, cp, id)
	if err != nil {
		return campaignErr(err)
	}
	if edit != nil {
		edit(v)
	}
	if isHTMX(c) {
		return a.renderBlock(c, http.StatusOK, "replies", "conversation", page{CSRF: csrfOf(c), Data: v})
	}
	return c.Redirect(http.StatusSeeOther, Prefix+"/c/"+cp.ID+"/replies?contact="+strconv.FormatInt(id, 10))
}

// actError keeps a refused act in the pane, beside where it was asked.
func actError(err error) (string, error) {
	var pe *pageError
	var ve *gateway.ValidationError
	switch {
	case errors.As(err, &ve):
		return sentence(ve.Reason), nil
	case errors.As(campaignErr(err), &pe):
		return pe.msg, nil
	}
	return "", err
}

func (a *App) answer(c echo.Context) error {
	cp, id, err := a.convParam(c)
	if err != nil {
		return err
	}
	res, err := a.camps.Answer(c.Request().Context(), actorOf(c), cp.ID, id, c.FormValue("question"), c.FormValue("value"))
	if err != nil {
		msg, err := actError(err)
		if err != nil {
			return err
		}
		return a.conversation(c, cp, id, func(v *convView) { v.Error = msg })
	}
	return a.conversation(c, cp, id, func(v *convView) {
		v.Reply = res.Reply
		v.Notice = "Recorded “" + c.FormValue("value") + "”."
	})
}

func (a *App) reply(c echo.Context) error {
	cp, id, err := a.convParam(c)
	if err != nil {
		return err
	}
	body := strings.TrimSpace(c.FormValue("body"))
	if body == "" {
		return a.conversation(c, cp, id, func(v *convView) { v.Error = "Write a reply first." })
	}
	res, err := a.camps.Reply(c.Request().Context(), actorOf(c), cp.ID, id, campaign.ReplyInput{Body: body, Key: c.FormValue("key")})
	if err != nil {
		msg, err := actError(err)
		if err != nil {
			return err
		}
		return a.conversation(c, cp, id, func(v *convView) { v.Error = msg; v.Reply = body })
	}
	return a.conversation(c, cp, id, func(v *convView) {
		v.Notice = "Sent."
		if res.Held {
			v.Notice = "Accepted; it waits until " + res.HeldUntil.UTC().Format("Mon 15:04 MST") + ", when their texting hours open."
		}
	})
}

func (a *App) tag(c echo.Context) error {
	cp, id, err := a.convParam(c)
	if err != nil {
		return err
	}
	t := c.FormValue("tag")
	var add, remove []string
	if c.FormValue("on") == "true" {
		add = []string{t}
	} else {
		remove = []string{t}
	}
	if _, err := a.camps.Tag(c.Request().Context(), actorOf(c), cp.ID, id, add, remove); err != nil {
		msg, err := actError(err)
		if err != nil {
			return err
		}
		return a.conversation(c, cp, id, func(v *convView) { v.Error = msg })
	}
	return a.conversation(c, cp, id, nil)
}

func (a *App) optOut(c echo.Context) error {
	cp, id, err := a.convParam(c)
	if err != nil {
		return err
	}
	confirm := c.FormValue("confirm") == "true"
	if _, err := a.camps.OptOut(c.Request().Context(), actorOf(c), cp.ID, id, confirm); err != nil {
		msg, err := actError(err)
		if err != nil {
			return err
		}
		return a.conversation(c, cp, id, func(v *convView) { v.Error = msg })
	}
	u, _ := userOf(c)
	a.log.Info("web: contact opted out", "campaign", cp.ID, "contact", id, "user", u.ID, "confirmation", confirm)
	return a.conversation(c, cp, id, func(v *convView) { v.Notice = "Opted out. Nothing more will be sent to them." })
}

func (a *App) closeConv(c echo.Context) error {
	cp, id, err := a.convParam(c)
	if err != nil {
		return err
	}
	if _, err := a.camps.Close(c.Request().Context(), actorOf(c), cp.ID, id); err != nil {
		msg, err := actError(err)
		if err != nil {
			return err
		}
		return a.conversation(c, cp, id, func(v *convView) { v.Error = msg })
	}
	return a.conversation(c, cp, id, func(v *convView) { v.Notice = "Closed." })
}

// when formats a message time for the thread.
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("Jan 2 15:04")
}
