package campaign

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// DefaultHours is the widest window a campaign may text in (the contact's
// local time), unless Config.Hours says otherwise.
var DefaultHours = Hours{Start: "09:00", End: "21:00", TimeZone: "America/New_York"}

// parseClock parses "HH:MM" into minutes after midnight (24:00 allowed as an end).
func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return hh*60 + mm, nil
}

// validate checks h lies within bounds (the configured widest window) and
// names a known zone.
func (h Hours) validate(bounds Hours) error {
	s, err := parseClock(h.Start)
	if err != nil {
		return Invalid("hours.start", "%v", err)
	}
	e, err := parseClock(h.End)
	if err != nil {
		return Invalid("hours.end", "%v", err)
	}
	bs, _ := parseClock(bounds.Start)
	be, _ := parseClock(bounds.End)
	if s >= e {
		return Invalid("hours", "start must be before end")
	}
	if s < bs || e > be {
		return Invalid("hours", "may only narrow the allowed window %s–%s", bounds.Start, bounds.End)
	}
	if _, err := time.LoadLocation(h.TimeZone); err != nil || h.TimeZone == "" {
		return Invalid("hours.time_zone", "%q is not a time zone name such as America/Chicago", h.TimeZone)
	}
	return nil
}

// Window is when a contact may be texted today, in their zone.
type Window struct {
	Open   bool      `json:"open"`
	Opens  time.Time `json:"opens,omitzero"`  // next opening when closed
	Closes time.Time `json:"closes,omitzero"` // end of the current (or next) window
	Zone   string    `json:"zone"`
}

// windowAt computes h's window at now in zone (falling back to h.TimeZone).
func windowAt(h Hours, zone string, now time.Time) Window {
	loc, err := time.LoadLocation(zone)
	if zone == "" || err != nil {
		zone = h.TimeZone
		loc, err = time.LoadLocation(zone)
		if err != nil {
			zone, loc = "UTC", time.UTC
		}
	}
	s, _ := parseClock(h.Start)
	e, _ := parseClock(h.End)
	local := now.In(loc)
	day := func(offset int) (time.Time, time.Time) {
		y, m, d := local.Date()
		base := time.Date(y, m, d+offset, 0, 0, 0, 0, loc)
		return base.Add(time.Duration(s) * time.Minute), time.Date(y, m, d+offset, e/60, e%60, 0, 0, loc)
	}
	open, close := day(0)
	switch {
	case now.Before(open):
		return Window{Opens: open, Closes: close, Zone: zone}
	case now.Before(close):
		return Window{Open: true, Closes: close, Zone: zone}
	}
	open, close = day(1)
	return Window{Opens: open, Closes: close, Zone: zone}
}

// ZoneOf returns the IANA zone of an E.164 number when libphonenumber knows
// exactly one, else the zone of a US zip code, else "".
func ZoneOf(cell, zip string) string {
	if strings.HasPrefix(cell, "+") {
		// The prefix table needs no parse: cell is already E.164.
		if zs, err := phonenumbers.GetTimezonesForPrefix(cell); err == nil && len(zs) == 1 && zs[0] != phonenumbers.UNKNOWN_TIMEZONE {
			return zs[0]
		}
		if !strings.HasPrefix(cell, "+1") {
			return ""
		}
	}
	return zipZone(zip)
}

// zipRanges maps US ZIP code prefixes (first three digits) to zones. It is
// coarse: a state split across zones gets its larger zone.
var zipRanges = []struct {
	lo, hi int
	zone   string
}{
	{5, 349, "America/New_York"},
	{350, 369, "America/Chicago"},
	{370, 385, "America/Chicago"},
	{386, 397, "America/Chicago"},
	{398, 459, "America/New_York"},
	{460, 479, "America/Indiana/Indianapolis"},
	{480, 499, "America/Detroit"},
	{500, 588, "America/Chicago"},
	{590, 599, "America/Denver"},
	{600, 797, "America/Chicago"},
	{798, 799, "America/Denver"},
	{800, 831, "America/Denver"},
	{832, 838, "America/Boise"},
	{840, 847, "America/Denver"},
	{850, 865, "America/Phoenix"},
	{870, 884, "America/Denver"},
	{889, 961, "America/Los_Angeles"},
	{967, 968, "Pacific/Honolulu"},
	{970, 994, "America/Los_Angeles"},
	{995, 999, "America/Anchorage"},
}

func zipZone(zip string) string {
	zip = strings.TrimSpace(zip)
	if len(zip) < 5 {
		return ""
	}
	p, err := strconv.Atoi(zip[:3])
	if err != nil {
		return ""
	}
	for _, r := range zipRanges {
		if p >= r.lo && p <= r.hi {
			return r.zone
		}
	}
	return ""
}

// Validate checks h on its own: "HH:MM" times, start before end, a known
// zone. Errors name the field ("hours.start" ...).
func (h Hours) Validate() error {
	return h.validate(Hours{Start: "00:00", End: "24:00"})
}
