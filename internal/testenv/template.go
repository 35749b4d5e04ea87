package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Initialising a database data dir (mariadb-install-db, initdb) and
// provisioning it takes most of a database server's start-up: 0.6-2 s
// against 0.1-0.2 s for starting on a ready data dir. So the first server of
// a kind on a machine is initialised from scratch, stopped cleanly, and its
// data dir kept as a template in the user's cache dir
// (~/.cache/phpsess/testenv-templates); later servers start on a copy. The
// template's name has a hash of everything that shaped it (server version,
// options, service account), so an upgrade or a change of options here
// makes a new one.

// templateKey hashes the parts that shape a template.
func templateKey(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:8])
}

// accountKey names the owner that the files of a server of account u get.
func accountKey(u string) string {
	if a, _ := serviceAccount(u); a != nil {
		return fmt.Sprintf("%s=%d:%d", u, a.uid, a.gid)
	}
	return fmt.Sprintf("self=%d:%d", os.Geteuid(), os.Getegid())
}

var versions sync.Map // binary path -> version output

// binaryVersion returns the output of "bin --version".
func binaryVersion(bin string) (string, error) {
	if v, ok := versions.Load(bin); ok {
		return v.(string), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %v", bin, err)
	}
	v := strings.TrimSpace(string(out))
	versions.Store(bin, v)
	return v, nil
}

// templateBuildError: the server could not be initialised or started; no
// point in trying again without the cache.
type templateBuildError struct{ err error }

func (e templateBuildError) Error() string { return e.err.Error() }
func (e templateBuildError) Unwrap() error { return e.err }

func templateRoot() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, "phpsess", "testenv-templates"), nil
}

// ensureTemplate returns the template data dir of kind name with key,
// building it with fresh (a provisioned server, from scratch) if needed.
func ensureTemplate(name, key string, fresh func() (*Server, error)) (string, error) {
	root, err := templateRoot()
	if err != nil {
		return "", err
	}
	final := filepath.Join(root, name+"-"+key)
	data := filepath.Join(final, "data")
	if fi, err := os.Stat(data); err == nil && fi.IsDir() {
		return data, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	cleanStaleTemplates(root)
	s, err := fresh()
	if err != nil {
		return "", templateBuildError{err}
	}
	defer s.destroy()
	if err := s.Stop(); err != nil { // a clean shutdown: no recovery on each copy
		return "", err
	}
	tmp, err := os.MkdirTemp(root, name+"-"+key+".tmp-")
	if err != nil {
		return "", err
	}
	if err := copyTree(filepath.Join(s.Dir, "data"), filepath.Join(tmp, "data")); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	os.Chmod(tmp, 0o755)
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		if fi, err2 := os.Stat(data); err2 == nil && fi.IsDir() {
			return data, nil // another test process was quicker
		}
		return "", err
	}
	return data, nil
}

// cleanStaleTemplates removes half-built templates of interrupted runs.
func cleanStaleTemplates(root string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if !strings.Contains(e.Name(), ".tmp-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// copyTree copies a data dir with owners and modes (cp -a).
func copyTree(src, dst string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "cp", "-a", "--reflink=auto", src, dst).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", src, dst, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// withTemplate makes servers of kind k start on a copy of a template data
// dir (Dir/data) instead of running k.prepare and k.provision; fresh builds
// a provisioned server from scratch for the template. When the cache dir
// cannot be used, k's own prepare and provision run.
func withTemplate(k kind, key string, fresh func() (*Server, error)) kind {
	prepare, provision := k.prepare, k.provision
	var own sync.Map // *Server -> true when initialised from scratch
	k.prepare = func(s *Server) error {
		src, err := ensureTemplate(k.name, key, fresh)
		if err == nil {
			dst := filepath.Join(s.Dir, "data")
			if err = copyTree(src, dst); err == nil {
				return nil
			}
			os.RemoveAll(dst)
		}
		var build templateBuildError
		if errors.As(err, &build) {
			return build.err
		}
		fmt.Fprintf(os.Stderr, "testenv: %s: no data dir template (%v); initialising from scratch\n", k.name, err)
		own.Store(s, true)
		return prepare(s)
	}
	k.provision = func(s *Server) error {
		if _, ok := own.Load(s); ok {
			return provision(s)
		}
		return nil
	}
	return k
}
