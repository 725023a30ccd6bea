package api

import (
	"log/slog"
	"net/http"
	"time"
)

// NewHTTPServer returns the http.Server every simgate listener uses (the
// API's, a separate /metrics listener's): the one home of its timeouts and
// limits. A slow client gets ReadHeaderTimeout to send its headers and
// ReadTimeout for the whole request; WriteTimeout bounds an answer; the
// server's own errors (TLS handshakes, bad requests) are logged at Debug.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}
