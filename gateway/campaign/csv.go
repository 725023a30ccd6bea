package campaign

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Column roles recognised in a header (case, spaces, "_" and "-" ignored).
var columnAliases = map[string]string{
	"firstname": FieldFirstName, "first": FieldFirstName, "fname": FieldFirstName, "givenname": FieldFirstName, "name": FieldFirstName,
	"lastname": FieldLastName, "last": FieldLastName, "lname": FieldLastName, "surname": FieldLastName, "familyname": FieldLastName,
	"cell": FieldCell, "phone": FieldCell, "mobile": FieldCell, "number": FieldCell, "cellphone": FieldCell,
	"phonenumber": FieldCell, "mobilenumber": FieldCell, "cellnumber": FieldCell, "mobilephone": FieldCell, "tel": FieldCell, "telephone": FieldCell,
	"zip": FieldZip, "zipcode": FieldZip, "postalcode": FieldZip, "postcode": FieldZip,
	"externalid": FieldExternalID, "extid": FieldExternalID,
}

func normHeader(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	return strings.NewReplacer(" ", "", "_", "", "-", "", ".", "").Replace(h)
}

// Limits of a CSV file.
const (
	MaxColumns    = 200
	MaxFieldBytes = 4096
)

// Row is one data row of a contact file, by role.
type Row struct {
	Line       int // 1-based line where the record starts
	FirstName  string
	LastName   string
	Cell       string
	Zip        string
	ExternalID string
	Fields     map[string]string // custom columns (nil if none)
}

// Reader reads contact rows from a CSV file one at a time, never holding
// more than a record: comma or semicolon separated (guessed from the header
// line), RFC 4180 quoting, an optional UTF-8 byte-order mark, LF or CRLF.
// Errors about the file's form are *FormatError with line and column.
type Reader struct {
	r       *csv.Reader
	roles   []string // per column: a standard field, or "" for custom
	names   []string // per column: header as written
	custom  []string // custom column names in order
	Comma   rune
	line    int
	counted *countingReader
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// NewReader reads the header of r and returns a Reader positioned at the
// first data row. A header without a phone column (cell, phone, mobile,
// number ...) or with a repeated column is a *FormatError.
func NewReader(r io.Reader) (*Reader, error) {
	cr := &countingReader{r: r}
	br := bufio.NewReaderSize(cr, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	comma := guessComma(br)
	c := csv.NewReader(br)
	c.Comma = comma
	c.ReuseRecord = true
	c.FieldsPerRecord = 0 // every record as wide as the header
	rd := &Reader{r: c, Comma: comma, counted: cr}
	head, err := c.Read()
	if errors.Is(err, io.EOF) {
		return nil, &FormatError{Line: 1, Column: 1, Reason: "the file is empty (expected a header row)"}
	}
	if err != nil {
		return nil, formatErr(err)
	}
	if len(head) > MaxColumns {
		return nil, &FormatError{Line: 1, Column: MaxColumns + 1, Reason: fmt.Sprintf("more than %d columns", MaxColumns)}
	}
	seen := map[string]int{}
	hasCell := false
	for i, h := range head {
		h = strings.TrimSpace(h)
		if !utf8.ValidString(h) {
			return nil, &FormatError{Line: 1, Column: i + 1, Reason: "the header is not valid UTF-8"}
		}
		if h == "" {
			return nil, &FormatError{Line: 1, Column: i + 1, Reason: "empty column name in the header"}
		}
		role := columnAliases[normHeader(h)]
		key := role
		if key == "" {
			key = "custom:" + h
		}
		if j, dup := seen[key]; dup {
			return nil, &FormatError{Line: 1, Column: i + 1, Reason: fmt.Sprintf("column %q repeats column %d", h, j+1)}
		}
		seen[key] = i
		if role == FieldCell {
			hasCell = true
		}
		rd.roles = append(rd.roles, role)
		rd.names = append(rd.names, h)
		if role == "" {
			rd.custom = append(rd.custom, h)
		}
	}
	if !hasCell {
		return nil, &FormatError{Line: 1, Column: 1, Reason: "no phone column in the header (cell, phone, mobile or number)"}
	}
	rd.line, _ = c.FieldPos(0)
	return rd, nil
}

// guessComma picks ';' when the first line has more semicolons than commas
// outside quotes, else ','.
func guessComma(br *bufio.Reader) rune {
	b, _ := br.Peek(br.Size())
	commas, semis := 0, 0
	quoted := false
	for _, c := range b {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '\n':
			if semis > commas {
				return ';'
			}
			return ','
		case c == ',':
			commas++
		case c == ';':
			semis++
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

func formatErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		reason := pe.Err.Error()
		switch {
		case errors.Is(pe.Err, csv.ErrFieldCount):
			reason = "wrong number of fields (the header has a different count)"
		case errors.Is(pe.Err, csv.ErrBareQuote):
			reason = "a quote (\") inside an unquoted field (quote the field and double the quote)"
		case errors.Is(pe.Err, csv.ErrQuote):
			reason = "a quoted field is not closed, or text follows its closing quote"
		}
		return &FormatError{Line: pe.Line, Column: pe.Column, Reason: reason}
	}
	return fmt.Errorf("read csv: %w", err)
}

// CustomFields returns the custom column names, in file order.
func (rd *Reader) CustomFields() []string { return append([]string(nil), rd.custom...) }

// Columns returns each header as written and the role it was given
// ("" for a custom column).
func (rd *Reader) Columns() (names, roles []string) { return rd.names, rd.roles }

// BytesRead is how much of the input has been consumed (for progress).
func (rd *Reader) BytesRead() int64 { return rd.counted.n }

// Next returns the next row, io.EOF at the end, or a *FormatError. Blank
// lines are skipped.
func (rd *Reader) Next() (Row, error) {
	rec, err := rd.r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Row{}, io.EOF
		}
		return Row{}, formatErr(err)
	}
	line, _ := rd.r.FieldPos(0)
	row := Row{Line: line}
	for i, v := range rec {
		if len(v) > MaxFieldBytes {
			_, col := rd.r.FieldPos(i)
			return Row{}, &FormatError{Line: line, Column: col, Reason: fmt.Sprintf("field longer than %d bytes", MaxFieldBytes)}
		}
		if !utf8.ValidString(v) {
			_, col := rd.r.FieldPos(i)
			return Row{}, &FormatError{Line: line, Column: col, Reason: "not valid UTF-8 (save the file as UTF-8)"}
		}
		v = strings.TrimSpace(v)
		switch rd.roles[i] {
		case FieldFirstName:
			row.FirstName = v
		case FieldLastName:
			row.LastName = v
		case FieldCell:
			row.Cell = v
		case FieldZip:
			row.Zip = v
		case FieldExternalID:
			row.ExternalID = v
		default:
			if v != "" {
				if row.Fields == nil {
					row.Fields = make(map[string]string, len(rd.custom))
				}
				row.Fields[rd.names[i]] = v
			}
		}
	}
	return row, nil
}
