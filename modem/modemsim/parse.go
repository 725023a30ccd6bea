package modemsim

import (
	"strconv"
	"strings"
)

// command is one command of an AT command line.
type command struct {
	name string // upper case: "E", "Z", "&F", "S0", "+CMGS", "^CURC"
	op   string // "" action, "?" read, "=?" test, "=" set
	args string // raw text after "=" (set) or the basic command's number
}

// parseLine splits the text after "AT" into commands (V.250 §5.4): basic
// commands may follow each other directly (ATE0V1), extended commands
// (+, ^, $, %) are separated by ';'. ok is false on a syntax error.
func parseLine(body string) (cmds []command, ok bool) {
	i := 0
	for i < len(body) {
		c := body[i]
		switch {
		case c == ' ' || c == ';' || c == '\t':
			i++
		case c == '+' || c == '^' || c == '$' || c == '%' || c == '*' || c == '#':
			j := i + 1
			for j < len(body) && isNameChar(body[j]) {
				j++
			}
			if j == i+1 {
				return nil, false
			}
			cmd := command{name: strings.ToUpper(body[i:j])}
			switch {
			case strings.HasPrefix(body[j:], "=?"):
				cmd.op = "=?"
				j += 2
			case strings.HasPrefix(body[j:], "?"):
				cmd.op = "?"
				j++
			case strings.HasPrefix(body[j:], "="):
				cmd.op = "="
				j++
				k := j
				quoted := false
				for k < len(body) && (quoted || body[k] != ';') {
					if body[k] == '"' {
						quoted = !quoted
					}
					k++
				}
				if quoted {
					return nil, false
				}
				cmd.args = strings.TrimSpace(body[j:k])
				j = k
			}
			// anything but ';' or end after an extended command is a syntax error
			for j < len(body) && body[j] == ' ' {
				j++
			}
			if j < len(body) && body[j] != ';' {
				return nil, false
			}
			cmds = append(cmds, cmd)
			i = j
		case c == '&':
			if i+1 >= len(body) || !isLetter(body[i+1]) {
				return nil, false
			}
			cmd := command{name: "&" + strings.ToUpper(body[i+1:i+2])}
			j := i + 2
			for j < len(body) && isDigit(body[j]) {
				j++
			}
			cmd.args = body[i+2 : j]
			cmds = append(cmds, cmd)
			i = j
		case isLetter(c):
			up := c &^ 0x20
			if up == 'D' { // dial: the rest of the line is the dial string
				cmds = append(cmds, command{name: "D", args: body[i+1:]})
				return cmds, true
			}
			if up == 'S' { // Sn=v, Sn?
				j := i + 1
				for j < len(body) && isDigit(body[j]) {
					j++
				}
				if j == i+1 {
					return nil, false
				}
				cmd := command{name: "S" + body[i+1:j]}
				switch {
				case strings.HasPrefix(body[j:], "?"):
					cmd.op = "?"
					j++
				case strings.HasPrefix(body[j:], "="):
					cmd.op = "="
					j++
					k := j
					for k < len(body) && isDigit(body[k]) {
						k++
					}
					cmd.args = body[j:k]
					j = k
				}
				cmds = append(cmds, cmd)
				i = j
				continue
			}
			j := i + 1
			for j < len(body) && isDigit(body[j]) {
				j++
			}
			cmds = append(cmds, command{name: string(up), args: body[i+1 : j]})
			i = j
		default:
			return nil, false
		}
	}
	return cmds, true
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isNameChar(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '_' || c == '!' || c == '%' || c == '-' || c == '.' || c == '/' || c == ':'
}

// splitArgs splits a parameter list at commas outside double quotes.
func splitArgs(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	quoted := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// unquote removes surrounding double quotes.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// argInt parses args[i] as an integer; absent or empty gives def.
func argInt(args []string, i, def int) (int, bool) {
	if i >= len(args) || args[i] == "" {
		return def, true
	}
	v, err := strconv.Atoi(args[i])
	if err != nil {
		return 0, false
	}
	return v, true
}

func itoa(i int) string { return strconv.Itoa(i) }

func quote(s string) string { return `"` + s + `"` }
