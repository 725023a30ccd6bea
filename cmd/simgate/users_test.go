package main

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/simgate/simgate/gateway/account"
	"github.com/simgate/simgate/store"
)

func TestUsersCommands(t *testing.T) {
	db := filepath.Join(t.TempDir(), "simgate.db")
	old := usersStdin
	defer func() { usersStdin = old }()

	code, out, stderr := runCLI("users", "create", "-store", db, "-login", "Ana", "-name", "Ana", "-role", "texter")
	if code != 0 || !strings.Contains(out, "Created texter ana") {
		t.Fatalf("create: exit %d\n%s%s", code, out, stderr)
	}
	made := regexp.MustCompile(`(?m)^  (\S+)$`).FindStringSubmatch(out)
	if made == nil {
		t.Fatalf("no generated password in %q", out)
	}
	usersStdin = strings.NewReader("olu's long passphrase\n")
	if code, out, stderr := runCLI("users", "create", "-store", db, "-login", "olu", "-name", "Olu", "-role", "organiser", "-password-stdin"); code != 0 || strings.Contains(out, "passphrase") {
		t.Fatalf("create with stdin: exit %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := runCLI("users", "create", "-store", db, "-login", "ana", "-name", "Ana 2"); code != 1 || !strings.Contains(stderr, "taken") {
		t.Fatalf("duplicate login: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI("users", "create", "-store", db, "-login", "x", "-name", "X", "-role", "boss"); code != 1 || !strings.Contains(stderr, "role") {
		t.Fatalf("bad role: exit %d %s", code, stderr)
	}
	if code, _, _ := runCLI("users", "create", "-store", db); code != 2 {
		t.Fatalf("create without flags: exit %d", code)
	}
	_, out, _ = runCLI("users", "list", "-store", db)
	if !regexp.MustCompile(`(?m)^ana\s+Ana\s+texter\s+usr_`).MatchString(out) || !regexp.MustCompile(`(?m)^olu\s+Olu\s+organiser`).MatchString(out) {
		t.Fatalf("list:\n%s", out)
	}

	login := func(login, pw string) error {
		d, err := store.Open(db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		_, err = account.NewService(d, account.Config{}).Authenticate(context.Background(), login, pw)
		return err
	}
	if err := login("ana", made[1]); err != nil {
		t.Fatalf("the printed password does not log in: %v", err)
	}
	if err := login("olu", "olu's long passphrase"); err != nil {
		t.Fatalf("the stdin password does not log in: %v", err)
	}
	usersStdin = strings.NewReader("ana's new password")
	if code, out, stderr := runCLI("users", "passwd", "-store", db, "-password-stdin", "ana"); code != 0 || !strings.Contains(out, "Changed") {
		t.Fatalf("passwd: exit %d %s%s", code, out, stderr)
	}
	if err := login("ana", "ana's new password"); err != nil {
		t.Fatalf("after passwd: %v", err)
	}
	if code, _, _ := runCLI("users", "disable", "-store", db, "ana"); code != 0 {
		t.Fatalf("disable: exit %d", code)
	}
	if err := login("ana", "ana's new password"); !errors.Is(err, account.ErrDisabled) {
		t.Fatalf("disabled login: %v", err)
	}
	if _, out, _ := runCLI("users", "list", "-store", db); !regexp.MustCompile(`(?m)^ana\s.*yes$`).MatchString(out) {
		t.Fatalf("list after disable:\n%s", out)
	}
	if code, _, _ := runCLI("users", "enable", "-store", db, "ana"); code != 0 {
		t.Fatalf("enable: exit %d", code)
	}
	if err := login("ana", "ana's new password"); err != nil {
		t.Fatalf("after enable: %v", err)
	}
	if code, _, stderr := runCLI("users", "disable", "-store", db, "nobody"); code != 1 || !strings.Contains(stderr, "no user") {
		t.Fatalf("unknown user: exit %d %s", code, stderr)
	}
}
