package phpserialize_test

import (
	"os"
	"testing"

	"github.com/phpsess/phpsess/phpserialize"
)

// The same realistic sessions testdata/gen.php made with PHP: 2 kB, 64 kB
// and 1 MB, in the default php encoding. bench/run compares these figures
// with PHP's own unserialize/serialize and with php_session_decoder.
var benchSizes = []string{"size_2kb", "size_64kb", "size_1mb"}

func benchPayload(b *testing.B, name string) []byte {
	data, err := os.ReadFile("../testdata/payloads/" + name + ".php.sess")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkDecodeSession(b *testing.B) {
	for _, name := range benchSizes {
		b.Run(name, func(b *testing.B) {
			data := benchPayload(b, name)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeSession(b *testing.B) {
	for _, name := range benchSizes {
		b.Run(name, func(b *testing.B) {
			data := benchPayload(b, name)
			sess, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, data)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			buf := make([]byte, 0, len(data))
			for b.Loop() {
				if buf, err = phpserialize.AppendEncodeSession(buf[:0], phpserialize.HandlerPHP, sess); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkJSON(b *testing.B) {
	data := benchPayload(b, "size_64kb")
	sess, _ := phpserialize.DecodeSession(phpserialize.HandlerPHP, data)
	js := phpserialize.AppendSessionJSON(nil, sess)
	b.Run("print", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		buf := make([]byte, 0, len(js))
		for b.Loop() {
			buf = phpserialize.AppendSessionJSON(buf[:0], sess)
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := phpserialize.ParseSessionJSON(phpserialize.HandlerPHP, js); err != nil {
				b.Fatal(err)
			}
		}
	})
}
