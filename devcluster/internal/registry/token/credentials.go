package token

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Credentials are the passwords of the identities that have one.
type Credentials map[Identity]string

// CredentialsFile is where an identity's credentials are, in dir: one line
// `username:password`, mode 0600 (what `docker login`-style clients and
// the platform's --builds-registry-credentials read).
func CredentialsFile(dir string, who Identity) string { return filepath.Join(dir, string(who)) }

// EnsureCredentials makes every identity's credentials file in dir that is
// missing (a random password each) and returns them all. Existing files are
// kept, so a restarted cluster keeps its clients' credentials.
func EnsureCredentials(dir string) (Credentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	creds := Credentials{}
	for _, who := range Identities {
		path := CredentialsFile(dir, who)
		user, pass, err := ReadCredentialsFile(path)
		if errors.Is(err, os.ErrNotExist) {
			if pass, err = writeCredentials(path, who); err != nil {
				return nil, err
			}
			user = string(who)
		} else if err != nil {
			return nil, err
		}
		if user != string(who) {
			return nil, fmt.Errorf("%s: user %q, want %q", path, user, who)
		}
		creds[who] = pass
	}
	return creds, nil
}

func writeCredentials(path string, who Identity) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	pass := hex.EncodeToString(b)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(string(who)+":"+pass+"\n"), 0o600); err != nil {
		return "", err
	}
	return pass, os.Rename(tmp, path)
}

// ReadCredentialsFile reads a `username:password` file.
func ReadCredentialsFile(path string) (user, pass string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok || user == "" || pass == "" {
		return "", "", fmt.Errorf("%s: want one line username:password", path)
	}
	return user, pass, nil
}
