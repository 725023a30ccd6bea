package gateway

import (
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Default texting hours: no texts before 9:00 or after 21:00 in the
// contact's own time zone, the default of the P2P texting tools (quiet-hours
// rules such as the TCPA's 8:00-21:00 sit inside it; some states are stricter). A campaign narrows them; it never widens them.
const (
	DefaultWindowStart = "09:00"
	DefaultWindowEnd   = "21:00"
)

// TextingWindow is the part of the day, in the contact's time zone, in which
// a message may leave. A message with a window is claimed only while the
// window is open, and it is checked again right before its first PDU is
// written: one accepted at 20:59 that reaches the head of a long queue at
// 21:05 waits until the window opens the next day (or expires first, if its
// validity ends before). The later parts of a message whose first part left
// inside the window follow at the SIM's pace.
//
// Start and End are local times of day "HH:MM" (24-hour clock); Start is
// inclusive, End exclusive, and End may be "24:00". A window whose End is
// before its Start spans midnight ("22:00"–"06:00"). TimeZone is an IANA
// name ("America/Chicago"); the day's local times follow daylight saving
// time. The zero window (every field empty) means "any time"; a
// *TextingWindow that is nil means the same.
type TextingWindow struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	TimeZone string `json:"time_zone"`
}

// DefaultWindow is the default texting hours in time zone tz.
func DefaultWindow(tz string) TextingWindow {
	return TextingWindow{Start: DefaultWindowStart, End: DefaultWindowEnd, TimeZone: tz}
}

// IsZero reports whether w sets no window (any time).
func (w TextingWindow) IsZero() bool { return w == TextingWindow{} }

// Validate checks w and names the wrong field ("texting_window.start",
// "texting_window.end" or "texting_window.time_zone") in a *ValidationError.
func (w TextingWindow) Validate() error {
	_, err := w.compile()
	return err
}

// String is "09:00–21:00 America/Chicago".
func (w TextingWindow) String() string {
	if w.IsZero() {
		return "any time"
	}
	return w.Start + "–" + w.End + " " + w.TimeZone
}

// Open reports whether the window is open at t. An invalid window is never
// open (Submit refuses them, so a stored one is valid).
func (w TextingWindow) Open(t time.Time) bool {
	c, err := w.compile()
	return err == nil && c.open(t)
}

// NextOpen returns t if the window is open at t, else the moment it next
// opens. An invalid window returns the zero time.
func (w TextingWindow) NextOpen(t time.Time) time.Time {
	c, err := w.compile()
	if err != nil {
		return time.Time{}
	}
	return c.nextOpen(t)
}

// window is a validated TextingWindow: minutes of the day and a location.
// The zero window (loc nil) is always open.
type window struct {
	start, end int16 // minutes after local midnight; end may be 1440
	loc        *time.Location
}

func (c window) always() bool { return c.loc == nil }

// minuteOf is t's local time of day in minutes.
func (c window) minuteOf(t time.Time) int {
	l := t.In(c.loc)
	return l.Hour()*60 + l.Minute()
}

func (c window) open(t time.Time) bool {
	if c.always() {
		return true
	}
	m, s, e := c.minuteOf(t), int(c.start), int(c.end)
	if s < e {
		return m >= s && m < e
	}
	return m >= s || m < e // spans midnight
}

// nextOpen is t when open, else the next start of the window.
func (c window) nextOpen(t time.Time) time.Time {
	if c.open(t) {
		return t
	}
	l := t.In(c.loc)
	at := time.Date(l.Year(), l.Month(), l.Day(), int(c.start)/60, int(c.start)%60, 0, 0, c.loc)
	if !at.After(t) {
		at = time.Date(l.Year(), l.Month(), l.Day()+1, int(c.start)/60, int(c.start)%60, 0, 0, c.loc)
	}
	return at
}

func (w TextingWindow) compile() (window, error) {
	if w.IsZero() {
		return window{}, nil
	}
	s, ok := parseHHMM(w.Start, false)
	if !ok {
		return window{}, Invalid("texting_window.start", "must be a time of day \"HH:MM\" from 00:00 to 23:59")
	}
	e, ok := parseHHMM(w.End, true)
	if !ok {
		return window{}, Invalid("texting_window.end", "must be a time of day \"HH:MM\" from 00:00 to 24:00 (00:00 and 24:00 both mean midnight)")
	}
	if s == e {
		return window{}, Invalid("texting_window.end", "must differ from start")
	}
	if w.TimeZone == "" {
		return window{}, Invalid("texting_window.time_zone", "is required (an IANA name such as \"America/Chicago\")")
	}
	loc, err := loadLocation(w.TimeZone)
	if err != nil {
		return window{}, Invalid("texting_window.time_zone", "%q is not a known IANA time zone", w.TimeZone)
	}
	return window{start: int16(s), end: int16(e), loc: loc}, nil
}

// parseHHMM parses "HH:MM" into minutes after midnight; "24:00" only if end.
func parseHHMM(s string, end bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 {
		return 0, false
	}
	v := h*60 + m
	switch {
	case end && v == 1440:
		return v, true
	case end && v == 0:
		return 1440, true // "00:00" as an end is midnight at the end of the day
	case h > 23:
		return 0, false
	}
	return v, true
}

// locations caches time.LoadLocation, which reads the zone file on every call.
var locations sync.Map // string → *time.Location

func loadLocation(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	if name == "Local" || name == "" {
		return nil, fmt.Errorf("time zone %q: not an IANA name", name)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}
