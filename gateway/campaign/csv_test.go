package campaign

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, in string) ([]Row, *Reader, error) {
	t.Helper()
	rd, err := NewReader(strings.NewReader(in))
	if err != nil {
		return nil, nil, err
	}
	var rows []Row
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rows, rd, nil
		}
		if err != nil {
			return rows, rd, err
		}
		rows = append(rows, r)
	}
}

func TestReaderFormats(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"comma LF", "firstName,lastName,cell,zip,external_id,event\nAna,Li,2025550101,10001,x1,rally\n"},
		{"semicolon CRLF BOM", "\ufefffirst_name;last name;Phone;ZIP;ExternalID;event\r\nAna;Li;2025550101;10001;x1;rally\r\n"},
		{"quoted", "\"First Name\",\"Last\",\"mobile\",zip,extid,event\n\"Ana\",\"Li\",\"(202) 555-0101\",\"10001\",x1,\"rally\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, rd, err := readAll(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 {
				t.Fatalf("rows %d", len(rows))
			}
			r := rows[0]
			if r.FirstName != "Ana" || r.LastName != "Li" || r.Zip != "10001" || r.ExternalID != "x1" || r.Fields["event"] != "rally" || r.Line != 2 {
				t.Fatalf("%+v", r)
			}
			if !strings.Contains(r.Cell, "555") {
				t.Fatalf("cell %q", r.Cell)
			}
			if got := rd.CustomFields(); len(got) != 1 || got[0] != "event" {
				t.Fatalf("custom %v", got)
			}
		})
	}
}

func TestReaderQuotedNewlineAndCommaInSemicolonFile(t *testing.T) {
	rows, _, err := readAll(t, "cell;note\n2025550101;\"a, b\nc\"\n2025550102;x\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Fields["note"] != "a, b\nc" || rows[1].Line != 4 {
		t.Fatalf("%+v", rows)
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		line, col  int
		reasonPart string
	}{
		{"empty", "", 1, 1, "empty"},
		{"no phone column", "firstName,zip\nAna,1\n", 1, 1, "no phone column"},
		{"repeated column", "cell,phone\n1,2\n", 1, 2, "repeats"},
		{"field count", "cell,firstName\n2025550101,Ana\n2025550102\n", 3, 1, "number of fields"},
		{"bare quote", "cell,firstName\n2025550101,An\"a\n", 2, 14, "quote"},
		{"unclosed quote", "cell,firstName\n2025550101,\"Ana\n", 2, 0, "quoted field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, tc.in)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FormatError", err)
			}
			if fe.Line != tc.line || (tc.col != 0 && fe.Column != tc.col) || !strings.Contains(fe.Reason, tc.reasonPart) {
				t.Fatalf("got %+v", fe)
			}
		})
	}
}
