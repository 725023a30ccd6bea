package campaign

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// Neutralise makes a cell safe to open in a spreadsheet: a value starting
// with =, +, -, @, tab or CR (which a spreadsheet would execute as a
// formula) gets a leading apostrophe.
func Neutralise(v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + v
	}
	return v
}

// csvOut writes neutralised records.
type csvOut struct {
	w   *csv.Writer
	buf []string
}

func (o *csvOut) write(rec []string) error {
	o.buf = o.buf[:0]
	for _, v := range rec {
		o.buf = append(o.buf, Neutralise(v))
	}
	return o.w.Write(o.buf)
}

// ExportContacts writes the campaign's contacts as CSV to w, streaming
// from a store snapshot: id, external_id, first_name, last_name, cell,
// zip, every custom field, status, opted_out, texter, tags, and one
// "question[<text>]" column per survey question holding the answer.
// progress (if set) hears the number of rows written every 10,000 rows.
// It returns the rows written. Organisers only.
func (s *Service) ExportContacts(ctx context.Context, a Actor, id string, w io.Writer, progress func(int)) (int, error) {
	if err := organiser(a); err != nil {
		return 0, err
	}
	c, err := s.st.Campaign(ctx, id)
	if err != nil {
		return 0, err
	}
	out := &csvOut{w: csv.NewWriter(w)}
	head := []string{"id", "external_id", "first_name", "last_name", "cell", "zip"}
	head = append(head, c.Fields...)
	head = append(head, "status", "opted_out", "texter", "tags")
	for _, q := range c.Survey.Questions {
		head = append(head, "question["+q.Text+"]")
	}
	if err := out.write(head); err != nil {
		return 0, err
	}
	n := 0
	rec := make([]string, 0, len(head))
	err = s.st.Contacts(ctx, id, ContactFilter{}, func(ct *Contact) error {
		if !c.Visible(ct.ID) {
			return nil
		}
		rec = append(rec[:0], strconv.FormatInt(ct.ID, 10), ct.ExternalID, ct.FirstName, ct.LastName, ct.Cell, ct.Zip)
		for _, f := range c.Fields {
			rec = append(rec, ct.Fields[f])
		}
		rec = append(rec, string(ct.Status), strconv.FormatBool(ct.OptedOut), ct.Texter, strings.Join(ct.Tags, ";"))
		for _, q := range c.Survey.Questions {
			rec = append(rec, ct.Answers[q.ID].Value)
		}
		if err := out.write(rec); err != nil {
			return err
		}
		n++
		if n%10000 == 0 {
			out.w.Flush()
			if progress != nil {
				progress(n)
			}
			return ctx.Err()
		}
		return nil
	})
	out.w.Flush()
	if err == nil {
		err = out.w.Error()
	}
	return n, err
}

// ExportMessages writes the campaign's messages as CSV to w, oldest first,
// streaming: contact_id, campaign_id, direction, sim_number, modem,
// contact_number, texter, step, status, created_at, updated_at, body,
// parts, encoding, error. Organisers only.
func (s *Service) ExportMessages(ctx context.Context, a Actor, id string, w io.Writer, progress func(int)) (int, error) {
	if err := organiser(a); err != nil {
		return 0, err
	}
	if _, err := s.st.Campaign(ctx, id); err != nil {
		return 0, err
	}
	sims := map[string]string{}
	if s.fleet != nil {
		for _, m := range s.fleet.Modems() {
			sims[m.Name] = m.Info.MSISDN
		}
	}
	out := &csvOut{w: csv.NewWriter(w)}
	if err := out.write([]string{"contact_id", "campaign_id", "direction", "sim_number", "modem", "contact_number",
		"texter", "step", "status", "created_at", "updated_at", "body", "parts", "encoding", "error"}); err != nil {
		return 0, err
	}
	n := 0
	rec := make([]string, 0, 15)
	err := s.st.CampaignMessages(ctx, id, 0, func(m *Message) error {
		rec = append(rec[:0], strconv.FormatInt(m.ContactID, 10), m.CampaignID, m.Direction, sims[m.Modem], m.Modem, m.Contact,
			m.Texter, m.Step, m.Status, m.CreatedAt.UTC().Format(time.RFC3339), m.UpdatedAt.UTC().Format(time.RFC3339),
			m.Body, strconv.Itoa(m.Parts), m.Encoding, m.Error)
		if err := out.write(rec); err != nil {
			return err
		}
		n++
		if n%10000 == 0 {
			out.w.Flush()
			if progress != nil {
				progress(n)
			}
			return ctx.Err()
		}
		return nil
	})
	out.w.Flush()
	if err == nil {
		err = out.w.Error()
	}
	return n, err
}
