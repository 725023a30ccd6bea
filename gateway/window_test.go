package gateway

import (
	"errors"
	"testing"
	"time"
)

func TestTextingWindow(t *testing.T) {
	chicago, err := time.LoadLocation("America/Chicago")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04", s, chicago)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	day := DefaultWindow("America/Chicago")
	night := TextingWindow{Start: "22:00", End: "06:00", TimeZone: "America/Chicago"}
	tests := []struct {
		name string
		w    TextingWindow
		now  string
		open bool
		next string // when closed
	}{
		{"before opening", day, "2026-03-03 08:59", false, "2026-03-03 09:00"},
		{"at opening", day, "2026-03-03 09:00", true, ""},
		{"last minute", day, "2026-03-03 20:59", true, ""},
		{"at closing", day, "2026-03-03 21:00", false, "2026-03-04 09:00"},
		{"late evening", day, "2026-03-03 23:30", false, "2026-03-04 09:00"},
		// 2026-03-08 is the start of daylight saving time in Chicago.
		{"across DST", day, "2026-03-07 21:05", false, "2026-03-08 09:00"},
		{"spans midnight, late", night, "2026-03-03 23:00", true, ""},
		{"spans midnight, early", night, "2026-03-04 05:59", true, ""},
		{"spans midnight, day", night, "2026-03-04 12:00", false, "2026-03-04 22:00"},
		{"zero is always open", TextingWindow{}, "2026-03-04 03:00", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := at(tc.now)
			if got := tc.w.Open(now); got != tc.open {
				t.Fatalf("Open(%s) = %v, want %v", tc.now, got, tc.open)
			}
			next := tc.w.NextOpen(now)
			want := now
			if !tc.open {
				want = at(tc.next)
			}
			if !next.Equal(want) {
				t.Fatalf("NextOpen(%s) = %s, want %s", tc.now, next.In(chicago), want)
			}
			if !tc.w.Open(next) {
				t.Fatalf("not open at NextOpen %s", next)
			}
		})
	}
}

func TestTextingWindowValidate(t *testing.T) {
	tests := []struct {
		w     TextingWindow
		field string
	}{
		{TextingWindow{Start: "09:00", End: "21:00", TimeZone: "Europe/Berlin"}, ""},
		{TextingWindow{Start: "00:00", End: "24:00", TimeZone: "UTC"}, ""},
		{TextingWindow{Start: "22:00", End: "00:00", TimeZone: "UTC"}, ""},
		{TextingWindow{Start: "24:00", End: "21:00", TimeZone: "UTC"}, "texting_window.start"},
		{TextingWindow{Start: "09:60", End: "21:00", TimeZone: "UTC"}, "texting_window.start"},
		{TextingWindow{Start: "0900", End: "21:00", TimeZone: "UTC"}, "texting_window.start"},
		{TextingWindow{Start: "09:00", End: "21:0", TimeZone: "UTC"}, "texting_window.end"},
		{TextingWindow{Start: "09:00", End: "", TimeZone: "UTC"}, "texting_window.end"},
		{TextingWindow{Start: "09:00", End: "21:00", TimeZone: "Local"}, "texting_window.time_zone"},
		{TextingWindow{Start: "09:00", End: "21:00", TimeZone: "Nowhere/Town"}, "texting_window.time_zone"},
	}
	for _, tc := range tests {
		err := tc.w.Validate()
		var ve *ValidationError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%v: %v", tc.w, err)
		case tc.field != "" && (!errors.As(err, &ve) || ve.Field != tc.field):
			t.Errorf("%v: err = %v, want one on %s", tc.w, err, tc.field)
		}
	}
}
