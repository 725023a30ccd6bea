package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// intakeStore is what intake needs of the store.
type intakeStore interface {
	CreateMessage(ctx context.Context, m *Message) error
	MessageByIdempotencyKey(ctx context.Context, key string) (*Message, error)
	OptedOut(ctx context.Context, number string) (bool, error)
}

// intake accepts messages (Submit) and cancels them: it validates and
// encodes a SendRequest, stores the message durably, and hands it to the
// queue. It holds no state of its own and is safe for concurrent use.
type intake struct {
	st            intakeStore
	q             Queue
	fleet         *fleet
	met           *metrics
	log           *slog.Logger
	now           func() time.Time
	defaultRegion string
	statusReports bool
	destinations  *Destinations
}

// submit validates req, stores the message and queues it.
func (in *intake) submit(ctx context.Context, req SendRequest) (*Message, error) {
	msg, err := in.build(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := in.st.CreateMessage(ctx, msg); err != nil {
		if errors.Is(err, ErrExists) && msg.IdempotencyKey != "" {
			old, gerr := in.st.MessageByIdempotencyKey(ctx, msg.IdempotencyKey)
			if gerr != nil {
				return nil, fmt.Errorf("submit: %w", gerr)
			}
			if old.RequestHash != msg.RequestHash {
				return nil, ErrIdempotencyMismatch
			}
			return old, nil
		}
		return nil, fmt.Errorf("submit: store: %w", err)
	}
	in.met.accepted.Inc()
	if err := in.q.Enqueue(ctx, msg); err != nil {
		// Stored; the queue finds it at the next start.
		in.log.Warn("queue after store", "id", msg.ID, "err", err)
	}
	return msg, nil
}

// build validates and encodes req into a new queued message.
func (in *intake) build(ctx context.Context, req SendRequest) (*Message, error) {
	if req.To == "" {
		return nil, Invalid("to", "must not be empty")
	}
	if req.Body == "" {
		return nil, Invalid("body", "must not be empty")
	}
	if req.Priority < MinPriority || req.Priority > MaxPriority {
		return nil, Invalid("priority", "must be between %d and %d", MinPriority, MaxPriority)
	}
	if req.Validity < 0 || req.Validity > MaxValidity {
		return nil, Invalid("validity", "must be between 0 and %s", MaxValidity)
	}
	now := in.now()
	if !req.SendAt.IsZero() && req.SendAt.After(now.Add(MaxSchedule)) {
		return nil, Invalid("send_at", "must be within %d days", int(MaxSchedule/(24*time.Hour)))
	}
	var window *TextingWindow
	if req.TextingWindow != nil && !req.TextingWindow.IsZero() {
		if err := req.TextingWindow.Validate(); err != nil {
			return nil, err
		}
		w := *req.TextingWindow
		window = &w
	}
	to, err := NormalizeNumber(req.To, in.defaultRegion)
	if err != nil {
		return nil, err
	}
	if err := in.destinations.Check(to); err != nil {
		return nil, err
	}
	if req.From != "" && !in.fleet.knownFrom(req.From) {
		return nil, Invalid("from", "no modem or group named %q", req.From)
	}
	exempt := req.OptOutReply
	if !exempt {
		out, err := in.st.OptedOut(ctx, to)
		if err != nil {
			return nil, fmt.Errorf("submit: opt-out check: %w", err)
		}
		if out {
			return nil, ErrOptedOut
		}
	}
	srr := in.statusReports
	if req.StatusReport != nil {
		srr = *req.StatusReport
	}
	enc, err := EncodeSubmit(to, req.Body, srr, rand.IntN(255)+1)
	if err != nil {
		return nil, err
	}
	msg := &Message{
		ID:             NewID(now),
		Direction:      Outbound,
		Contact:        to,
		ContactRaw:     req.To,
		From:           req.From,
		Body:           req.Body,
		Agent:          req.Agent,
		Encoding:       enc.Encoding,
		Segments:       len(enc.PDUs),
		Priority:       req.Priority,
		SendAt:         req.SendAt,
		TextingWindow:  window,
		Metadata:       withoutReserved(req.Metadata),
		CallbackURL:    req.CallbackURL,
		AtLeastOnce:    req.AtLeastOnce,
		StatusReport:   srr,
		OptOutReply:    exempt,
		Status:         StatusQueued,
		IdempotencyKey: req.IdempotencyKey,
		RequestHash:    req.RequestHash,
		APIKeyID:       req.APIKeyID,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if req.Validity > 0 {
		msg.ExpiresAt = now.Add(req.Validity)
		if !req.SendAt.IsZero() && !req.SendAt.Before(msg.ExpiresAt) {
			return nil, Invalid("send_at", "is after the message expires")
		}
	}
	for i, p := range enc.PDUs {
		msg.Parts = append(msg.Parts, Part{Seq: i + 1, PDU: p, State: PartQueued, MR: -1, ReportStatus: -1, UpdatedAt: now})
	}
	return msg, nil
}
