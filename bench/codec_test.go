// Package bench holds the side-by-side benchmarks that bench/run prints:
// phpsess beside yvasiyarov/php_session_decoder (what Go users use today)
// and beside PHP's own C implementation (bench/php.php), on the same
// sessions made by PHP (testdata/payloads/size_*.php.sess).
package bench

import (
	"os"
	"testing"

	psd "github.com/yvasiyarov/php_session_decoder"

	"github.com/phpsess/phpsess/phpserialize"
)

var sizes = []string{"size_2kb", "size_64kb", "size_1mb"}

func payload(b *testing.B, name string) []byte {
	data, err := os.ReadFile("../testdata/payloads/" + name + ".php.sess")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkCodec/{decode,encode}/{phpsess,php_session_decoder}/SIZE
func BenchmarkCodec(b *testing.B) {
	for _, size := range sizes {
		data := payload(b, size)
		b.Run("decode/phpsess/"+size, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/phpsess-reuse/"+size, func(b *testing.B) {
			// as PHP's session_decode in a loop reuses the memory of the
			// session it destroys; from a string, as PHP's session_decode
			// takes one (the []byte form adds one copy of the input)
			dec := phpserialize.Decoder{ReuseMemory: true}
			s := string(data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := dec.DecodeSessionString(phpserialize.HandlerPHP, s); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode/php_session_decoder/"+size, func(b *testing.B) {
			s := string(data)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := psd.NewPhpDecoder(s).Decode(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("encode/phpsess/"+size, func(b *testing.B) {
			sess, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, data)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, len(data))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if buf, err = phpserialize.AppendEncodeSession(buf[:0], phpserialize.HandlerPHP, sess); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("encode/php_session_decoder/"+size, func(b *testing.B) {
			sess, err := psd.NewPhpDecoder(string(data)).Decode()
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := psd.NewPhpEncoder(sess).Encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
