package campaign

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/simgate/simgate/gateway"
)

// Reasons a row is rejected.
const (
	RejectInvalidNumber       = "invalid_number"
	RejectDuplicateInFile     = "duplicate_in_file"
	RejectDuplicateInCampaign = "duplicate_in_campaign"
	RejectMissingField        = "missing_field"
)

// Import states.
const (
	ImportRunning = "running"
	ImportDone    = "done"
	ImportFailed  = "failed" // rolled back: the campaign is as it was
)

// ImportReport accounts for every data row of an import:
// Rows = Imported + OptedOut + InvalidNumber + DuplicateInFile +
// DuplicateInCampaign + MissingField. Opted-out rows are stored (flagged,
// never offered); rejected rows are not stored and are listed by Rejects.
type ImportReport struct {
	ID                  string    `json:"id"`
	CampaignID          string    `json:"campaign_id"`
	State               string    `json:"state"`
	By                  string    `json:"by"`
	Rows                int       `json:"rows"`
	Imported            int       `json:"imported"`
	OptedOut            int       `json:"opted_out"`
	InvalidNumber       int       `json:"invalid_number"`
	DuplicateInFile     int       `json:"duplicate_in_file"`
	DuplicateInCampaign int       `json:"duplicate_in_campaign"`
	MissingField        int       `json:"missing_field"`
	CustomFields        []string  `json:"custom_fields,omitempty"`
	Error               string    `json:"error,omitempty"`
	ErrorLine           int       `json:"error_line,omitempty"`
	ErrorColumn         int       `json:"error_column,omitempty"`
	StartedAt           time.Time `json:"started_at"`
	FinishedAt          time.Time `json:"finished_at,omitzero"`
}

// Reject is one row not imported.
type Reject struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"` // one of the Reject* constants
	Detail string `json:"detail,omitempty"`
	Cell   string `json:"cell,omitempty"` // as written in the file
}

// ImportOptions tune an import.
type ImportOptions struct {
	// Progress, if set, is called after each batch with the rows read so far.
	Progress func(rows int)
	// BatchSize is how many rows are stored per transaction (default 2000).
	BatchSize int
}

// Import reads a contact CSV from r into campaign id (see Reader for the
// format). It is all or nothing: contacts are stored in batches as the file
// streams in, hidden until the import completes; a malformed file (a
// *FormatError naming line and column), a cancelled context or a store
// error deletes what this import stored, leaves the campaign as it was,
// and marks the report failed. An import interrupted by a crash is rolled
// back by the next import into the campaign. Organisers only; not on an
// archived campaign; one at a time per campaign (ErrImportRunning).
func (s *Service) Import(ctx context.Context, a Actor, id string, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	if err := organiser(a); err != nil {
		return nil, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 2000
	}
	now := s.now().UTC()
	rep := &ImportReport{ID: ulid.Make().String(), CampaignID: id, State: ImportRunning, By: a.ID, StartedAt: now}

	s.mu.Lock()
	if s.imports[id] != "" {
		s.mu.Unlock()
		return nil, ErrImportRunning
	}
	s.imports[id] = rep.ID
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.imports, id)
		s.mu.Unlock()
	}()

	// Roll back an import a crash left behind, then claim the campaign.
	c, err := s.st.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Importing != nil {
		if err := s.rollback(ctx, id, c.Importing.ID, c.Importing.FirstID, "interrupted (the gateway stopped)"); err != nil {
			return nil, err
		}
	}
	c, err = s.st.UpdateCampaign(ctx, id, func(c *Campaign) error {
		if c.State == StateArchived {
			return fmt.Errorf("an archived campaign takes no contacts: %w", ErrState)
		}
		if c.Importing != nil {
			return ErrImportRunning
		}
		c.Importing = &ImportRef{ID: rep.ID, FirstID: c.NextContactID, Started: now}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.st.PutImport(ctx, rep); err != nil {
		_ = s.release(context.WithoutCancel(ctx), id, rep.ID, c.NextContactID)
		return nil, fmt.Errorf("import: %w", err)
	}
	first := c.Importing.FirstID

	next, custom, err := s.importRows(ctx, c, rep, r, opts)
	if err != nil {
		rep.State = ImportFailed
		rep.Error = err.Error()
		var fe *FormatError
		if errors.As(err, &fe) {
			rep.ErrorLine, rep.ErrorColumn = fe.Line, fe.Column
		}
		bg := context.WithoutCancel(ctx)
		if rerr := s.rollback(bg, id, rep.ID, first, rep.Error); rerr != nil {
			return rep, errors.Join(err, rerr)
		}
		rep.FinishedAt = s.now().UTC()
		_ = s.st.PutImport(bg, rep)
		return rep, err
	}
	rep.State = ImportDone
	rep.CustomFields = custom
	rep.FinishedAt = s.now().UTC()
	if err := s.st.PutImport(ctx, rep); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	_, err = s.st.UpdateCampaign(ctx, id, func(c *Campaign) error {
		if c.Importing == nil || c.Importing.ID != rep.ID {
			return fmt.Errorf("import %s: the campaign no longer expects it: %w", rep.ID, ErrState)
		}
		c.Importing = nil
		c.NextContactID = next
		for _, f := range custom {
			if !hasString(c.Fields, f) {
				c.Fields = append(c.Fields, f)
			}
		}
		c.UpdatedAt = rep.FinishedAt
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import: finish: %w", err)
	}
	s.event(ctx, Event{CampaignID: id, Type: EventImported, Actor: a.ID, At: rep.FinishedAt, Value: rep.ID,
		Note: fmt.Sprintf("%d rows: %d imported, %d opted out, %d rejected", rep.Rows, rep.Imported, rep.OptedOut,
			rep.InvalidNumber+rep.DuplicateInFile+rep.DuplicateInCampaign+rep.MissingField)})
	return rep, nil
}

// importRows streams r into the store. It returns the next free contact ID
// and the custom columns. Reading and checking rows (parsing numbers is
// the costly part) runs in its own goroutine, one batch ahead of the store
// writes, so that both cores work.
func (s *Service) importRows(ctx context.Context, c *Campaign, rep *ImportReport, r io.Reader, opts ImportOptions) (int64, []string, error) {
	rd, err := NewReader(r)
	if err != nil {
		return 0, nil, err
	}
	custom := rd.CustomFields()
	var required []string
	if c.Script != "" {
		known := knownFields(c)
		for _, f := range custom {
			known[f] = true
		}
		sc, err := ParseScript(c.Script, known)
		if err != nil {
			return 0, nil, fmt.Errorf("the campaign's script: %w", err)
		}
		required = sc.Required()
	}
	optedOut, err := s.optOutSet(ctx)
	if err != nil {
		return 0, nil, fmt.Errorf("import: opt-outs: %w", err)
	}
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	batches := make(chan *rowBatch, 2)
	go s.readRows(pctx, c.ID, rep.ID, rd, required, optedOut, opts.BatchSize, batches)
	defer func() {
		stop()
		for range batches { // let the reader finish
		}
	}()

	first := c.Importing.FirstID
	next := first
	for b := range batches {
		if b.err != nil {
			return 0, nil, b.err
		}
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		rep.Rows += b.rows
		rep.InvalidNumber += b.invalid
		rep.MissingField += b.missing
		rejects := b.rejects
		if len(b.contacts) > 0 {
			dups, err := s.st.AddContacts(ctx, c.ID, next, b.contacts)
			if err != nil {
				return 0, nil, fmt.Errorf("import: store contacts: %w", err)
			}
			for i, d := range dups {
				if d == 0 {
					next++
					if b.contacts[i].OptedOut {
						rep.OptedOut++
					} else {
						rep.Imported++
					}
					continue
				}
				reason, detail := RejectDuplicateInCampaign, fmt.Sprintf("the campaign has this number already (contact %d)", d)
				if d >= first {
					reason, detail = RejectDuplicateInFile, fmt.Sprintf("this number is on line %d already", s.lineOf(ctx, c.ID, b.contacts, d))
					rep.DuplicateInFile++
				} else {
					rep.DuplicateInCampaign++
				}
				rejects = append(rejects, Reject{Line: b.contacts[i].Line, Reason: reason, Detail: detail, Cell: b.cells[i]})
			}
		}
		if len(rejects) > 0 {
			slices.SortFunc(rejects, func(a, b Reject) int { return a.Line - b.Line })
			if err := s.st.AddRejects(ctx, c.ID, rep.ID, rejects); err != nil {
				return 0, nil, fmt.Errorf("import: store rejected rows: %w", err)
			}
		}
		if opts.Progress != nil {
			opts.Progress(rep.Rows)
		}
	}
	return next, custom, nil
}

// rowBatch is a batch of checked rows: the contacts to store (with the
// cell as written, for the report) and the rows already rejected.
type rowBatch struct {
	contacts               []*Contact
	cells                  []string
	rejects                []Reject
	rows, invalid, missing int
	err                    error
}

// readRows reads rd into batches of up to size contacts, then closes out.
// A read error is the last batch's err.
func (s *Service) readRows(ctx context.Context, campaignID, importID string, rd *Reader, required []string,
	optedOut func(context.Context, string) (bool, error), size int, out chan<- *rowBatch) {
	defer close(out)
	now := s.now().UTC()
	b := &rowBatch{}
	send := func() bool {
		select {
		case out <- b:
			b = &rowBatch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		row, err := rd.Next()
		if errors.Is(err, io.EOF) {
			send()
			return
		}
		if err != nil {
			b.err = err
			send()
			return
		}
		b.rows++
		cell, err := gateway.NormalizeNumber(row.Cell, s.cfg.DefaultRegion)
		if err != nil {
			reason := "is empty"
			var ve *gateway.ValidationError
			if errors.As(err, &ve) {
				reason = ve.Reason
			}
			b.invalid++
			b.rejects = append(b.rejects, Reject{Line: row.Line, Reason: RejectInvalidNumber, Detail: "the number " + reason, Cell: row.Cell})
			continue
		}
		ct := &Contact{
			CampaignID: campaignID, ExternalID: row.ExternalID, FirstName: row.FirstName, LastName: row.LastName,
			Cell: cell, Zip: row.Zip, Fields: row.Fields, Status: StatusNeedsMessage,
			ImportID: importID, Line: row.Line, UpdatedAt: now,
		}
		if cell != row.Cell {
			ct.CellRaw = row.Cell
		}
		if miss := missing(ct, required); miss != "" {
			b.missing++
			b.rejects = append(b.rejects, Reject{Line: row.Line, Reason: RejectMissingField, Detail: "no value for {" + miss + "}, which the script needs", Cell: row.Cell})
			continue
		}
		out, err := optedOut(ctx, cell)
		if err != nil {
			b.err = fmt.Errorf("import: opt-out check: %w", err)
			send()
			return
		}
		if out {
			ct.OptedOut, ct.Status = true, StatusOptedOut
		}
		ct.TimeZone = ZoneOf(cell, row.Zip)
		b.contacts = append(b.contacts, ct)
		b.cells = append(b.cells, row.Cell)
		if len(b.contacts) >= size && !send() {
			return
		}
	}
}

// maxOptOutSet is the longest suppression list an import holds in memory
// (about 40 bytes a number); a longer one is asked number by number.
const maxOptOutSet = 1_000_000

// optOutSet returns a check of the suppression list for an import: a set
// read once when the list is not too long (an opt-out added meanwhile still
// reaches the contact: Notify closes it in every campaign, and the
// dispatcher re-checks before sending), else the store's point lookup.
func (s *Service) optOutSet(ctx context.Context) (func(context.Context, string) (bool, error), error) {
	set := map[string]struct{}{}
	after := ""
	for len(set) <= maxOptOutSet {
		page, err := s.opt.ListOptOuts(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, o := range page {
			set[o.Number] = struct{}{}
		}
		if len(page) < 1000 {
			return func(_ context.Context, n string) (bool, error) {
				_, ok := set[n]
				return ok, nil
			}, nil
		}
		after = page[len(page)-1].Number
	}
	return s.opt.OptedOut, nil
}

// lineOf is the file line of contact id: from this batch if it is there,
// else the stored contact's.
func (s *Service) lineOf(ctx context.Context, campaignID string, batch []*Contact, id int64) int {
	for _, c := range batch {
		if c.ID == id {
			return c.Line
		}
	}
	if ct, err := s.st.Contact(ctx, campaignID, id); err == nil {
		return ct.Line
	}
	return 0
}

// missing returns the first required field ct has no value for.
func missing(ct *Contact, required []string) string {
	v := Values(ct, Texter{Name: "texter"})
	for _, f := range required {
		if f == FieldTexterFirstName {
			continue
		}
		if len(v(f)) == 0 {
			return f
		}
	}
	return ""
}

// rollback deletes the contacts of import importID (IDs from first) and
// frees the campaign.
func (s *Service) rollback(ctx context.Context, id, importID string, first int64, why string) error {
	for {
		n, err := s.st.DeleteContactsFrom(ctx, id, first, 5000)
		if err != nil {
			return fmt.Errorf("import: roll back: %w", err)
		}
		if n == 0 {
			break
		}
	}
	if rep, err := s.st.Import(ctx, id, importID); err == nil && rep.State == ImportRunning {
		rep.State, rep.Error, rep.FinishedAt = ImportFailed, why, s.now().UTC()
		_ = s.st.PutImport(ctx, rep)
	}
	return s.release(ctx, id, importID, first)
}

// release clears the campaign's Importing mark if it is importID's.
func (s *Service) release(ctx context.Context, id, importID string, first int64) error {
	_, err := s.st.UpdateCampaign(ctx, id, func(c *Campaign) error {
		if c.Importing != nil && c.Importing.ID == importID {
			c.Importing = nil
			c.NextContactID = first
		}
		return nil
	})
	return err
}

// Imports lists a campaign's import reports. Organisers only.
func (s *Service) Imports(ctx context.Context, a Actor, id string) ([]*ImportReport, error) {
	if err := organiser(a); err != nil {
		return nil, err
	}
	return s.st.Imports(ctx, id)
}

// ImportReport returns one import report. Organisers only.
func (s *Service) ImportReport(ctx context.Context, a Actor, id, importID string) (*ImportReport, error) {
	if err := organiser(a); err != nil {
		return nil, err
	}
	return s.st.Import(ctx, id, importID)
}

// Rejects calls fn for each row an import rejected, by line. Organisers only.
func (s *Service) Rejects(ctx context.Context, a Actor, id, importID string, fn func(Reject) error) error {
	if err := organiser(a); err != nil {
		return err
	}
	if _, err := s.st.Import(ctx, id, importID); err != nil {
		return err
	}
	return s.st.Rejects(ctx, id, importID, fn)
}
