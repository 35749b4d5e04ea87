package cmd

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/phpsess/phpsess/handlers"
	"github.com/phpsess/phpsess/handlers/storetest"
	"github.com/phpsess/phpsess/internal/testenv"
)

// refsSessions writes sessions with references 37, 37, team and none, and
// returns their ids in that order.
func refsSessions(t *testing.T, s handlers.Store) []string {
	t.Helper()
	var ids []string
	for _, ref := range []string{"37", "37", "team", ""} {
		id := storetest.NewID()
		ids = append(ids, id)
		if err := s.Write(context.Background(), &handlers.Record{ID: id, Data: []byte(`n|i:1;`), Meta: handlers.Meta{Ref: ref}}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// refsLines splits output into its sorted lines.
func refsLines(out string) []string {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	slices.Sort(lines)
	return lines
}

func TestRefsSQLite(t *testing.T) {
	u := "sqlite://" + filepath.Join(t.TempDir(), "dalmp_sessions.db") + "?layout=dalmp&create_table=on"
	s := openTestStore(t, u)
	ids := refsSessions(t, s)

	out, stderr, code := run(t, "", "refs", u)
	if code != 0 {
		t.Fatalf("refs: exit %d: %s", code, stderr)
	}
	lines := refsLines(out)
	if len(lines) != 3 {
		t.Fatalf("refs listed %d sessions, want 3:\n%s", len(lines), out)
	}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if len(f) != 4 || !slices.Contains(ids[:3], f[0]) || (f[1] != "37" && f[1] != "team") {
			t.Fatalf("line %q: want id, ref, expiry, ttl", l)
		}
		exp, err := time.Parse(time.RFC3339, f[2])
		ttl, _ := strconv.Atoi(f[3])
		if err != nil || time.Until(exp) < 1400*time.Second || ttl < 1430 || ttl > 1440 {
			t.Errorf("line %q: expiry and ttl should be about now+1440s", l)
		}
	}

	out, _, code = run(t, "", "refs", "-o", "json", u, "37")
	if code != 0 {
		t.Fatalf("refs REF: exit %d", code)
	}
	var got []string
	for _, l := range refsLines(out) {
		var e struct {
			ID     string `json:"id"`
			Ref    string `json:"ref"`
			Expiry int64  `json:"expiry"`
			TTL    int64  `json:"ttl"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Ref != "37" || e.TTL < 1400 || e.Expiry < time.Now().Unix() {
			t.Fatalf("json line %q: %+v, %v", l, e, err)
		}
		got = append(got, e.ID)
	}
	want := slices.Clone(ids[:2])
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("refs 37 = %v, want %v", got, want)
	}

	out, stderr, code = run(t, "", "refs", u, "nobody")
	if code != ExitNotFound || out != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `"nobody"`) {
		t.Fatalf("refs of an unknown reference: exit %d, out %q, stderr %q", code, out, stderr)
	}

	out, stderr, code = run(t, "", "refs", "rm", u, "37")
	if code != 0 || out != "2 sessions deleted\n" {
		t.Fatalf("refs rm: exit %d, out %q, stderr %q", code, out, stderr)
	}
	for i, id := range ids {
		_, _, code := run(t, "", "get", u, id)
		if want := map[bool]int{true: ExitNotFound, false: 0}[i < 2]; code != want {
			t.Errorf("get of session %d after refs rm 37: exit %d, want %d", i, code, want)
		}
	}
	out, _, code = run(t, "", "refs", "rm", "-o", "json", u, "37")
	if code != 0 || out != `{"ref":"37","deleted":0}`+"\n" {
		t.Fatalf("refs rm again: exit %d, %q", code, out)
	}
}

func TestRefsRedisKeys(t *testing.T) {
	u := "redis://" + testenv.Redis(t) + "/11?layout=dalmp&sessions_key=/srv/app/DALMP/Sessions/Redis.php"
	s := openTestStore(t, u)
	ids := refsSessions(t, s)
	out, stderr, code := run(t, "", "refs", "--output", "json", u, "team")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("%q: %v", out, err)
	}
	if e["key"] != handlers.DALMPCacheKey("UID", ids[2]) || e["ref"] != "team" || e["id"] != nil {
		t.Fatalf("refs on redis = %v, want the cache key of %s", e, ids[2])
	}
	if out, _, code := run(t, "", "refs", "rm", u, "team"); code != 0 || out != "1 sessions deleted\n" {
		t.Fatalf("refs rm: exit %d, %q", code, out)
	}
}

func TestRefsErrors(t *testing.T) {
	dir := t.TempDir()
	sqlite := "sqlite://" + filepath.Join(dir, "x.db") + "?layout=dalmp&create_table=on"
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"refs", "file://" + dir + "?layout=dalmp"}, ExitFailure, "keeps no references"},
		{[]string{"refs", "file://" + dir + "?owner=root"}, ExitFailure, "references are DALMP's"},
		{[]string{"refs", "rm", "file://" + dir + "?layout=dalmp", "37"}, ExitFailure, "keeps no references"},
		{[]string{"refs"}, ExitUsage, ""},
		{[]string{"refs", sqlite, "37", "38"}, ExitUsage, ""},
		{[]string{"refs", "rm", sqlite}, ExitUsage, ""},
		{[]string{"refs", "-o", "yaml", sqlite}, ExitUsage, "--output"},
	} {
		out, stderr, code := run(t, "", tc.args...)
		if code != tc.code || out != "" || !strings.Contains(stderr, tc.msg) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d (want %d), out %q, stderr %q (want %q)", tc.args, code, tc.code, out, stderr, tc.msg)
		}
	}
	// an empty store lists nothing and exits 0
	if out, stderr, code := run(t, "", "refs", sqlite); code != 0 || out != "" {
		t.Errorf("refs of an empty store: exit %d, %q %q", code, out, stderr)
	}
}
