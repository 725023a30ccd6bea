package campaign

import (
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReader: any input either reads as rows or fails with a FormatError
// (with a positive line) — never a panic, never another error.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"firstName,cell\nAna,2025550101\n",
		"\ufeffcell;x\r\n1;\"a;b\"\r\n",
		"cell\n\"unclosed\n",
		"cell,a\n1\n",
		"",
		"phone,phone\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rd, err := NewReader(strings.NewReader(in))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Line < 1 {
				t.Fatalf("header error %v", err)
			}
			return
		}
		for range 10000 {
			row, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Line < 1 {
					t.Fatalf("row error %v", err)
				}
				return
			}
			if row.Line < 2 || !utf8.ValidString(row.Cell) {
				t.Fatalf("row %+v", row)
			}
		}
	})
}

// FuzzScript: a script either fails to parse with a validation error or
// renders; rendering with every value set never fails, and literal text
// without braces comes out unchanged.
func FuzzScript(f *testing.F) {
	for _, s := range []string{"Hi {firstName|friend}", "{{x}}", "{", "}", "{a|b|c}", "plain", "{firstName}{lastName}"} {
		f.Add(s, "Ana")
	}
	f.Fuzz(func(t *testing.T, script, value string) {
		sc, err := ParseScript(script, nil)
		if err != nil {
			return
		}
		v := value
		if strings.TrimSpace(v) == "" {
			v = "x"
		}
		out, err := sc.Render(func(string) string { return v })
		if err != nil {
			t.Fatalf("render with values: %v", err)
		}
		if !strings.ContainsAny(script, "{}") && out != script {
			t.Fatalf("literal %q rendered %q", script, out)
		}
		for _, f := range sc.Required() {
			if _, err := sc.Render(func(n string) string {
				if n == f {
					return ""
				}
				return v
			}); err == nil {
				t.Fatalf("missing %s not reported", f)
			}
		}
	})
}
