package main

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkNode walks a decoded YAML document against the Go type it is about
// to be decoded into (t) and reports, in the words of the file, each key
// the type does not know ("unknown key "min_intervl" in pacing (did you
// mean "min_interval"?)") and each value of the wrong shape ("pacing.per_day:
// "lots" is not a whole number"), each with its line. The YAML library's
// own errors name Go types (main.PacingConfig), which mean nothing to the
// person editing the file. path is where n sits ("" for the top level).
func checkNode(n *yaml.Node, t reflect.Type, path string) []error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode {
		var errs []error
		for _, c := range n.Content {
			errs = append(errs, checkNode(c, t, path)...)
		}
		return errs
	}
	if n.ShortTag() == "!!null" {
		return nil // leaves the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil // the type checks itself (Duration names the line)
	}
	wrong := func(want string) []error {
		return []error{fmt.Errorf("line %d: %s: %s is not %s", n.Line, displayPath(path), describeNode(n), want)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return wrong("a section of keys (key: value lines)")
		}
		fields := yamlFields(t)
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // a merge key: its keys are checked where they are defined
				continue
			}
			f, ok := fields[k.Value]
			if !ok {
				errs = append(errs, unknownKey(k, path, t))
				continue
			}
			errs = append(errs, checkNode(v, f.Type, joinPath(path, k.Value))...)
		}
		return errs
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return wrong("a list")
		}
		var errs []error
		for i, c := range n.Content {
			errs = append(errs, checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return wrong("a section of keys (key: value lines)")
		}
		var errs []error
		for i := 0; i+1 < len(n.Content); i += 2 {
			errs = append(errs, checkNode(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value))...)
		}
		return errs
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			return wrong("true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			return wrong("a whole number")
		}
	case reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
			return wrong("a number")
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return wrong("a single value (text)")
		}
	}
	return nil
}

// yamlFields maps the YAML keys of struct t to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() {
			continue
		}
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		switch name {
		case "-":
			continue
		case "":
			name = strings.ToLower(f.Name) // the YAML library's default
		}
		m[name] = f
	}
	return m
}

// yamlKeyNames lists the YAML keys of struct t in declaration order.
func yamlKeyNames(t reflect.Type) []string {
	var keys []string
	for _, f := range reflect.VisibleFields(t) {
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if f.IsExported() && name != "-" && name != "" {
			keys = append(keys, name)
		}
	}
	return keys
}

func unknownKey(k *yaml.Node, path string, t reflect.Type) error {
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	known := yamlKeyNames(t)
	if s := closest(k.Value, known); s != "" {
		return fmt.Errorf("line %d: unknown key %q %s (did you mean %q?)", k.Line, k.Value, where, s)
	}
	return fmt.Errorf("line %d: unknown key %q %s (known keys: %s)", k.Line, k.Value, where, strings.Join(known, ", "))
}

// closest returns the candidate nearest to s in edit distance, if it is near
// enough to be a typo of it (one edit in a short key, two in a longer one,
// three in a long one), else "".
func closest(s string, candidates []string) string {
	limit := 2
	switch {
	case len(s) <= 4:
		limit = 1
	case len(s) >= 10:
		limit = 3
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes: keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func displayPath(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

// describeNode says what a value is, as the file shows it.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a section of keys"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}
