package testenv

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// FerretDBVersion is the FerretDB release that scripts/install-deps.sh
// builds (FerretDB v1 with its SQLite backend: v2 needs PostgreSQL with
// DocumentDB, which Debian lacks).
const FerretDBVersion = "v1.24.0"

// FerretDBBinary returns where the FerretDB binary is expected: the value
// of PHPSESS_FERRETDB_BIN, or
// ${XDG_CACHE_HOME:-$HOME/.cache}/phpsess/ferretdb-v1.24.0/ferretdb, where
// scripts/install-deps.sh builds it.
func FerretDBBinary() string {
	if p := os.Getenv("PHPSESS_FERRETDB_BIN"); p != "" {
		return p
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = filepath.Join(os.TempDir(), ".cache")
	}
	return filepath.Join(cache, "phpsess", "ferretdb-"+FerretDBVersion, "ferretdb")
}

// FerretDB returns the URI ("mongodb://127.0.0.1:PORT/") of the FerretDB
// server (MongoDB wire protocol, SQLite backend) shared by the tests of this
// package, starting it on first use. FerretDB does not implement TTL
// indexes: expiry must not rely on the server. Tests sharing it should use
// databases or collections of their own; use NewFerretDB to get a server of
// your own.
func FerretDB(t testing.TB) string {
	t.Helper()
	skipShort(t, "ferretdb")
	return shared(t, "ferretdb", startFerretDB).URL
}

// NewFerretDB starts a FerretDB server for this test only and stops it at
// the end of the test. Its URL is the mongodb:// URI.
func NewFerretDB(t testing.TB) *Server {
	t.Helper()
	skipShort(t, "ferretdb")
	s, err := startFerretDB()
	return dedicated(t, s, err)
}

func startFerretDB() (*Server, error) {
	bin := FerretDBBinary()
	if !isExecutable(bin) {
		return nil, fmt.Errorf("ferretdb %s not found at %s: run scripts/install-deps.sh "+
			"(it builds FerretDB from the Go module proxy, about 2 minutes), or set PHPSESS_FERRETDB_BIN", FerretDBVersion, bin)
	}
	return newServer(kind{
		name: "ferretdb",
		prepare: func(s *Server) error {
			return os.Mkdir(filepath.Join(s.Dir, "data"), 0o755)
		},
		config: func(s *Server) (serverConfig, error) {
			return serverConfig{
				bin: bin,
				args: func(s *Server) []string {
					return []string{
						"--handler=sqlite",
						"--sqlite-url=file:" + filepath.Join(s.Dir, "data") + "/",
						"--state-dir=" + s.Dir,
						"--listen-addr=" + s.Addr,
						"--debug-addr=-",
						"--telemetry=disable",
						"--log-level=warn",
					}
				},
				ready: func(ctx context.Context, s *Server) error { return mongoPing(ctx, s.Addr) },
			}, nil
		},
		url: func(s *Server) string { return "mongodb://" + s.Addr + "/" },
	})
}

// mongoPing sends {ping: 1} as an OP_MSG and checks for {ok: 1}.
func mongoPing(ctx context.Context, addr string) error {
	var doc bytes.Buffer
	doc.Write([]byte{0, 0, 0, 0})
	doc.WriteString("\x10ping\x00")
	binary.Write(&doc, binary.LittleEndian, int32(1))
	doc.WriteString("\x02$db\x00")
	binary.Write(&doc, binary.LittleEndian, int32(len("admin")+1))
	doc.WriteString("admin\x00")
	doc.WriteByte(0)
	d := doc.Bytes()
	binary.LittleEndian.PutUint32(d, uint32(len(d)))

	var msg bytes.Buffer
	hdr := []int32{int32(16 + 4 + 1 + len(d)), 1, 0, 2013} // length, requestID, responseTo, OP_MSG
	binary.Write(&msg, binary.LittleEndian, hdr)
	binary.Write(&msg, binary.LittleEndian, uint32(0)) // flagBits
	msg.WriteByte(0)                                   // section kind 0: body
	msg.Write(d)

	b, err := dialProbe(ctx, addr, msg.Bytes(), 512)
	if err != nil {
		return err
	}
	if len(b) < 16 || binary.LittleEndian.Uint32(b[12:16]) != 2013 {
		return fmt.Errorf("unexpected reply % x", b)
	}
	i := bytes.Index(b, []byte("\x01ok\x00"))
	if i < 0 || i+12 > len(b) || math.Float64frombits(binary.LittleEndian.Uint64(b[i+4:])) != 1 {
		return fmt.Errorf("ping not ok: %q", b)
	}
	return nil
}
