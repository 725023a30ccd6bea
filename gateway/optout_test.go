package gateway

import (
	"testing"
)

func TestMatchKeyword(t *testing.T) {
	tests := []struct {
		body string
		want Keyword
	}{
		{"STOP", KeywordStop},
		{"  stop \n", KeywordStop},
		{"Stop.", KeywordStop},
		{"StopAll", KeywordStop},
		{"unsubscribe", KeywordStop},
		{"CANCEL", KeywordStop},
		{"end", KeywordStop},
		{"Quit!", KeywordStop},
		{"revoke", KeywordStop},
		{"opt out", KeywordStop},
		{"start", KeywordStart},
		{"UNSTOP", KeywordStart},
		{"help", KeywordHelp},
		{"Info", KeywordHelp},
		{"please stop texting me", KeywordNone},
		{"stopp", KeywordNone},
		{"", KeywordNone},
		{"   ", KeywordNone},
		{"!!!", KeywordNone},
	}
	for _, tt := range tests {
		if got := MatchKeyword(tt.body, DefaultStopWords, DefaultStartWords, DefaultHelpWords); got != tt.want {
			t.Errorf("MatchKeyword(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
	// Configured words replace the defaults.
	if got := MatchKeyword("alto", []string{"ALTO"}, nil, nil); got != KeywordStop {
		t.Errorf("configured stop word: got %v", got)
	}
	if got := MatchKeyword("stop", []string{"ALTO"}, nil, nil); got != KeywordNone {
		t.Errorf("unconfigured stop word: got %v", got)
	}
}

func TestOptOutExempt(t *testing.T) {
	if !IsOptOutExempt(&Message{OptOutReply: true}) {
		t.Fatal("an Inbox reply is not exempt")
	}
	if IsOptOutExempt(nil) || IsOptOutExempt(&Message{}) || IsOptOutExempt(&Message{Metadata: map[string]string{OptOutExemptKey: "yes"}}) {
		t.Fatal("unmarked message reported exempt")
	}
	if !IsOptOutExempt(&Message{Metadata: map[string]string{OptOutExemptKey: "true"}}) {
		t.Fatal("marked message not exempt")
	}
}
