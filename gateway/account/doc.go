// Package account owns the people who use the web app: their logins,
// display names, roles (organiser or texter), password hashes and sessions.
//
// It is part of the domain: it declares the Store it needs (implemented by
// store.DB on bbolt and by the PostgreSQL store) and imports no adapter.
// Service is the only entry point the web app and the CLI use; it hashes
// passwords with argon2id (golang.org/x/crypto), compares them in constant
// time, and hands out session tokens of which only the SHA-256 hash is
// stored, so that a copy of the database opens no session.
//
// # Concurrency
//
// Service and every Store implementation are safe for concurrent use.
// Hashing a password takes tens of milliseconds and PasswordParams.Memory
// KiB of memory; the web app rate-limits the attempts that reach it.
//
// # Errors
//
// ErrBadCredentials for a wrong login or password (the same error for
// both, after the same work, so that logins cannot be probed), ErrDisabled
// for a disabled account, ErrSessionExpired for an unknown or expired
// session; gateway.ErrNotFound and gateway.ErrExists from the Store;
// *gateway.ValidationError naming the field for bad input.
package account
