package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/simgate/simgate/gateway"
	"github.com/simgate/simgate/gateway/account"
)

const usersExamples = `  simgate users create -config /etc/simgate/simgate.yaml -login ana -name Ana -role texter
  echo 'a long passphrase' | simgate users create -store ./simgate.db -login olu -name Olu -role organiser -password-stdin
  simgate users list -config /etc/simgate/simgate.yaml
  simgate users passwd -config /etc/simgate/simgate.yaml ana
  simgate users disable -config /etc/simgate/simgate.yaml ana
  simgate users enable -config /etc/simgate/simgate.yaml ana

Accounts log in to the web app (/app/). Without -password-stdin a random
password is made and printed once. Passwords are stored as argon2id hashes;
passwd and disable end the user's sessions. Like keys, users works on the
store file: stop the daemon first.
`

// usersStdin is where -password-stdin reads (a variable for tests).
var usersStdin io.Reader = os.Stdin

func cmdUsers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		help := len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help")
		w := stderr
		if help {
			w = stdout
		}
		fmt.Fprintf(w, "Usage: simgate users create|list|passwd|disable|enable [flags]\n\nExamples:\n%s", usersExamples)
		if help {
			return flag.ErrHelp
		}
		return errUsage
	}
	switch args[0] {
	case "create":
		return usersCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return usersList(ctx, args[1:], stdout, stderr)
	case "passwd":
		return usersPasswd(ctx, args[1:], stdout, stderr)
	case "disable", "enable":
		return usersDisable(ctx, args[0], args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "simgate users: unknown command %q (create, list, passwd, disable, enable)\n", args[0])
	return errUsage
}

// passwordFlag reads the password from stdin or makes one.
type passwordFlag struct{ stdin *bool }

func addPasswordFlag(fs *flag.FlagSet) passwordFlag {
	return passwordFlag{stdin: fs.Bool("password-stdin", false, "read the password from the first line of standard input (else one is made and printed)")}
}

// get returns the password and whether it was generated.
func (p passwordFlag) get() (string, bool, error) {
	if !*p.stdin {
		pw, err := randomPassword()
		return pw, true, err
	}
	line, err := bufio.NewReader(io.LimitReader(usersStdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), false, nil
}

// randomPassword is four groups of five lower-case letters and digits
// (about 100 bits), easy to read out and type on a phone.
func randomPassword() (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	var sb strings.Builder
	for i, c := range b {
		if i > 0 && i%5 == 0 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String(), nil
}

func usersCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("users create", "-login LOGIN -name NAME -role organiser|texter [-password-stdin] [-config FILE | -store FILE]", usersExamples, stderr)
	sf := addStoreFlags(fs)
	login := fs.String("login", "", "the login (lower case letters, digits, . _ @ -)")
	name := fs.String("name", "", "display name, e.g. Ana (texters: the {texterFirstName} of scripts)")
	role := fs.String("role", "texter", "organiser or texter")
	pf := addPasswordFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *login == "" || *name == "" {
		fmt.Fprintln(stderr, "simgate users create: -login and -name are required")
		fs.Usage()
		return errUsage
	}
	pw, made, err := pf.get()
	if err != nil {
		return err
	}
	db, err := sf.open()
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := account.NewService(db, account.Config{}).Create(ctx, account.NewUser{Login: *login, Name: *name, Role: account.Role(*role), Password: pw})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created %s %s (%s, %s).\n", u.Role, u.Login, u.Name, u.ID)
	if made {
		fmt.Fprintf(stdout, "Password (shown only now):\n\n  %s\n\n", pw)
	}
	return nil
}

func usersList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("users list", "[-config FILE | -store FILE]", usersExamples, stderr)
	sf := addStoreFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, err := sf.open()
	if err != nil {
		return err
	}
	defer db.Close()
	users, err := db.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tNAME\tROLE\tID\tCREATED\tDISABLED")
	for _, u := range users {
		dis := "-"
		if u.Disabled {
			dis = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Login, u.Name, u.Role, u.ID, fmtTime(u.CreatedAt), dis)
	}
	return tw.Flush()
}

// userArg opens the store and finds the user named by the one argument.
func userArg(ctx context.Context, cmd string, fs *flag.FlagSet, sf storeFlags, stderr io.Writer) (storeDB, account.User, error) {
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "simgate users %s: name one login (see simgate users list)\n", cmd)
		return nil, account.User{}, errUsage
	}
	db, err := sf.open()
	if err != nil {
		return nil, account.User{}, err
	}
	u, err := db.UserByLogin(ctx, account.NormalizeLogin(fs.Arg(0)))
	if err != nil {
		db.Close()
		if errors.Is(err, gateway.ErrNotFound) {
			return nil, account.User{}, fmt.Errorf("no user %q (see simgate users list)", fs.Arg(0))
		}
		return nil, account.User{}, err
	}
	return db, u, nil
}

func usersPasswd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("users passwd", "[-password-stdin] [-config FILE | -store FILE] LOGIN", usersExamples, stderr)
	sf := addStoreFlags(fs)
	pf := addPasswordFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pw, made, err := pf.get()
	if err != nil {
		return err
	}
	db, u, err := userArg(ctx, "passwd", fs, sf, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := account.NewService(db, account.Config{}).SetPassword(ctx, u.ID, pw); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Changed the password of %s; their sessions are ended.\n", u.Login)
	if made {
		fmt.Fprintf(stdout, "Password (shown only now):\n\n  %s\n\n", pw)
	}
	return nil
}

func usersDisable(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("users "+cmd, "[-config FILE | -store FILE] LOGIN", usersExamples, stderr)
	sf := addStoreFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	db, u, err := userArg(ctx, cmd, fs, sf, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := account.NewService(db, account.Config{}).SetDisabled(ctx, u.ID, cmd == "disable"); err != nil {
		return err
	}
	if cmd == "disable" {
		fmt.Fprintf(stdout, "Disabled %s; their sessions are ended.\n", u.Login)
	} else {
		fmt.Fprintf(stdout, "Enabled %s.\n", u.Login)
	}
	return nil
}
