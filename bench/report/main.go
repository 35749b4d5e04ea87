// Command report reads `go test -bench` output (several runs, and PHP's
// lines from bench/php.php) on stdin and prints, per benchmark, the median
// MB/s of each implementation and phpsess's ratio to each other one.
//
// Benchmark names are Benchmark<Group>/<op>/<impl>/<case>[-N].
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^Benchmark(\w+)/([^/\s]+)/([^/\s]+)/([^\s]+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) MB/s)?(?:\s+(\d+) B/op\s+(\d+) allocs/op)?`)

type key struct{ group, op, cas string }

type sample struct {
	mbs, ns []float64
	allocs  string
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	sort.Float64s(s)
	return s[len(s)/2]
}

func main() {
	data := map[key]map[string]*sample{}
	var order []key
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		k := key{m[1], m[2], m[4]}
		if data[k] == nil {
			data[k] = map[string]*sample{}
			order = append(order, k)
		}
		s := data[k][m[3]]
		if s == nil {
			s = &sample{}
			data[k][m[3]] = s
		}
		ns, _ := strconv.ParseFloat(m[5], 64)
		mbs, _ := strconv.ParseFloat(m[6], 64)
		s.ns = append(s.ns, ns)
		s.mbs = append(s.mbs, mbs)
		if m[8] != "" {
			s.allocs = m[8]
		}
	}
	for _, k := range order {
		impls := data[k]
		fmt.Printf("%s %s %s\n", k.group, k.op, k.cas)
		names := make([]string, 0, len(impls))
		for n := range impls {
			names = append(names, n)
		}
		sort.Strings(names)
		// phpsess's variants (phpsess, phpsess-reuse, ...) against each peer
		var ours []string
		for _, n := range names {
			if strings.HasPrefix(n, "phpsess") {
				ours = append(ours, n)
			}
		}
		for _, n := range names {
			s := impls[n]
			var ratios []string
			if !strings.HasPrefix(n, "phpsess") && median(s.ns) > 0 {
				for _, o := range ours {
					ratios = append(ratios, fmt.Sprintf("%s is %.2fx", o, median(s.ns)/median(impls[o].ns)))
				}
			}
			allocs := ""
			if s.allocs != "" {
				allocs = s.allocs + " allocs/op"
			}
			fmt.Printf("  %-20s %10.0f ns/op %9.1f MB/s  %-16s %s\n", n, median(s.ns), median(s.mbs), allocs, strings.Join(ratios, ", "))
		}
	}
}
