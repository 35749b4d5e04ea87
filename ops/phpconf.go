package ops

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// This file reads PHP config files as data: a tokenizer for the literals
// and assignments such files hold, and an evaluator for the expressions
// they use (strings, numbers, TRUE/FALSE/NULL, array(...) and [...],
// concatenation with ., path constants such as APPPATH, Foo::class). Code is
// never run: an expression that is anything else (a function call, a
// variable) is reported as unknown, with its source text.

type tokKind uint8

const (
	tokEOF   tokKind = iota
	tokVar           // $name
	tokStr           // a string literal (text holds the value)
	tokNum           // a number
	tokIdent         // a name: TRUE, APPPATH, public, Foo\Bar
	tokPunct         // [ ] ( ) { } = ; , . => :: ? : - | & and the rest
	tokDyn           // a double-quoted string with interpolation: not a literal
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the file
}

// phpTokens splits PHP source into tokens, skipping <?php, ?>, comments and
// attributes.
func phpTokens(src string) []token {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "<?php"):
			i += 5
		case strings.HasPrefix(src[i:], "?>"):
			i += 2
		case strings.HasPrefix(src[i:], "//") || c == '#' && !strings.HasPrefix(src[i:], "#["):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "#["):
			depth := 0
			for i < len(src) {
				if src[i] == '[' {
					depth++
				} else if src[i] == ']' {
					depth--
					if depth == 0 {
						i++
						break
					}
				}
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				i = len(src)
			} else {
				i += end + 4
			}
		case c == '$' && i+1 < len(src) && isNameByte(src[i+1]):
			j := i + 1
			for j < len(src) && isNameByte(src[j]) {
				j++
			}
			toks = append(toks, token{tokVar, src[i+1 : j], i})
			i = j
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for j < len(src) && src[j] != '\'' {
				if src[j] == '\\' && j+1 < len(src) && (src[j+1] == '\'' || src[j+1] == '\\') {
					j++
				}
				b.WriteByte(src[j])
				j++
			}
			toks = append(toks, token{tokStr, b.String(), i})
			i = j + 1
		case c == '"':
			var b strings.Builder
			dyn := false
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' && j+1 < len(src) {
					j++
					switch src[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case '\\', '"', '$':
						b.WriteByte(src[j])
					default:
						b.WriteByte('\\')
						b.WriteByte(src[j])
					}
					j++
					continue
				}
				if src[j] == '$' || src[j] == '{' && j+1 < len(src) && src[j+1] == '$' {
					dyn = true
				}
				b.WriteByte(src[j])
				j++
			}
			k := tokStr
			if dyn {
				k = tokDyn
			}
			toks = append(toks, token{k, b.String(), i})
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == '_' || src[j] == 'e' || src[j] == 'E' || src[j] == 'x') {
				j++
			}
			toks = append(toks, token{tokNum, src[i:j], i})
			i = j
		case isNameByte(c) || c == '\\':
			j := i
			for j < len(src) && (isNameByte(src[j]) || src[j] == '\\') {
				j++
			}
			toks = append(toks, token{tokIdent, src[i:j], i})
			i = j
		default:
			for _, p := range []string{"=>", "::", "??", "->", "==", "!="} {
				if strings.HasPrefix(src[i:], p) {
					toks = append(toks, token{tokPunct, p, i})
					i += len(p)
					goto next
				}
			}
			toks = append(toks, token{tokPunct, string(c), i})
			i++
		next:
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(src)})
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// phpArray is an evaluated array literal: keys (as strings) and values in
// order.
type phpArray struct {
	keys []string
	vals map[string]any
}

func (a *phpArray) get(k string) (any, bool) {
	if a == nil {
		return nil, false
	}
	v, ok := a.vals[k]
	return v, ok
}

// unknownExpr is an expression that is not a literal: its source text.
type unknownExpr struct{ src string }

// phpConfig holds the assignments of a config file: $name = ...; and
// $name['a']['b'] = ...; at the top level or as class properties
// (public string $name = ...;), evaluated where they are literals.
type phpConfig struct {
	file string
	vars map[string]any // values: string, int64, float64, bool, nil, *phpArray, unknownExpr
}

// parsePHPConfig reads the assignments of a PHP config file. consts gives
// the values of the constants the file may use (APPPATH, WRITEPATH, ...).
func parsePHPConfig(src, file string, consts map[string]string) *phpConfig {
	cfg := &phpConfig{file: file, vars: map[string]any{}}
	e := &phpEval{toks: phpTokens(src), src: src, consts: consts, dir: filepath.Dir(file)}
	depth := 0
	for e.i < len(e.toks) && e.toks[e.i].kind != tokEOF {
		t := e.toks[e.i]
		switch {
		case t.kind == tokPunct && t.text == "{":
			depth++
			e.i++
		case t.kind == tokPunct && t.text == "}":
			depth--
			e.i++
		case t.kind == tokVar && depth <= 1 && t.text != "this":
			e.i++
			var keys []string
			ok := true
			for e.peek("[") {
				e.i++
				k, err := e.expr()
				ks, isStr := scalarString(k)
				if err != nil || !isStr || !e.peek("]") {
					ok = false
					break
				}
				e.i++
				keys = append(keys, ks)
			}
			if !ok || !e.peek("=") {
				continue
			}
			e.i++
			start := e.toks[e.i].pos
			v, err := e.expr()
			if err != nil || !(e.peek(";") || e.peek(",")) {
				v = unknownExpr{e.sourceUntilSemicolon(start)}
			}
			cfg.assign(t.text, keys, v)
		default:
			e.i++
		}
	}
	return cfg
}

func (c *phpConfig) assign(name string, keys []string, v any) {
	if len(keys) == 0 {
		c.vars[name] = v
		return
	}
	arr, _ := c.vars[name].(*phpArray)
	if arr == nil {
		arr = &phpArray{vals: map[string]any{}}
		c.vars[name] = arr
	}
	for _, k := range keys[:len(keys)-1] {
		next, _ := arr.vals[k].(*phpArray)
		if next == nil {
			next = &phpArray{vals: map[string]any{}}
			if _, ok := arr.vals[k]; !ok {
				arr.keys = append(arr.keys, k)
			}
			arr.vals[k] = next
		}
		arr = next
	}
	k := keys[len(keys)-1]
	if _, ok := arr.vals[k]; !ok {
		arr.keys = append(arr.keys, k)
	}
	arr.vals[k] = v
}

// lookup returns the value at $name[keys...].
func (c *phpConfig) lookup(name string, keys ...string) (any, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.vars[name]
	for _, k := range keys {
		if !ok {
			return nil, false
		}
		arr, isArr := v.(*phpArray)
		if !isArr {
			return nil, false
		}
		v, ok = arr.get(k)
	}
	return v, ok
}

// phpEval evaluates expressions from a token stream.
type phpEval struct {
	toks   []token
	i      int
	src    string
	consts map[string]string
	dir    string // for __DIR__
}

func (e *phpEval) peek(p string) bool {
	t := e.toks[e.i]
	return t.kind == tokPunct && t.text == p
}

func (e *phpEval) sourceUntilSemicolon(start int) string {
	for e.i < len(e.toks) && e.toks[e.i].kind != tokEOF && !e.peek(";") {
		e.i++
	}
	end := e.toks[e.i].pos
	return strings.TrimSpace(e.src[start:end])
}

var errNotLiteral = fmt.Errorf("not a literal")

// expr = term { "." term }
func (e *phpEval) expr() (any, error) {
	v, err := e.term()
	if err != nil {
		return nil, err
	}
	for e.peek(".") {
		e.i++
		w, err := e.term()
		if err != nil {
			return nil, err
		}
		a, aok := scalarString(v)
		b, bok := scalarString(w)
		if !aok || !bok {
			return nil, errNotLiteral
		}
		v = a + b
	}
	return v, nil
}

func (e *phpEval) term() (any, error) {
	t := e.toks[e.i]
	switch t.kind {
	case tokStr:
		e.i++
		return t.text, nil
	case tokNum:
		e.i++
		return parsePHPNumber(t.text)
	case tokPunct:
		switch t.text {
		case "-":
			e.i++
			v, err := e.term()
			switch n := v.(type) {
			case int64:
				return -n, err
			case float64:
				return -n, err
			}
			return nil, errNotLiteral
		case "[":
			e.i++
			return e.array("]")
		case "(":
			e.i++
			v, err := e.expr()
			if err != nil || !e.peek(")") {
				return nil, errNotLiteral
			}
			e.i++
			return v, nil
		}
	case tokIdent:
		e.i++
		switch strings.ToLower(t.text) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		case "null":
			return nil, nil
		case "array":
			if e.peek("(") {
				e.i++
				return e.array(")")
			}
		}
		if t.text == "__DIR__" {
			return e.dir, nil
		}
		if t.text == "DIRECTORY_SEPARATOR" {
			return "/", nil
		}
		if e.peek("::") {
			e.i++
			if n := e.toks[e.i]; n.kind == tokIdent && n.text == "class" {
				e.i++
				return strings.TrimPrefix(t.text, "\\"), nil
			}
			return nil, errNotLiteral
		}
		if v, ok := e.consts[t.text]; ok {
			return v, nil
		}
	}
	return nil, errNotLiteral
}

// array reads entries up to the closing ] or ).
func (e *phpEval) array(closing string) (any, error) {
	arr := &phpArray{vals: map[string]any{}}
	next := int64(0)
	for !e.peek(closing) {
		if e.toks[e.i].kind == tokEOF {
			return nil, errNotLiteral
		}
		v, err := e.entry(closing)
		if err != nil {
			return nil, err
		}
		key := strconv.FormatInt(next, 10)
		if e.peek("=>") {
			e.i++
			k, ok := scalarString(v)
			if !ok {
				return nil, errNotLiteral
			}
			key = k
			if v, err = e.entry(closing); err != nil {
				return nil, err
			}
			if n, err := strconv.ParseInt(key, 10, 64); err == nil && n >= next {
				next = n + 1
			}
		} else {
			next++
		}
		if _, ok := arr.vals[key]; !ok {
			arr.keys = append(arr.keys, key)
		}
		arr.vals[key] = v
		if e.peek(",") {
			e.i++
		} else if !e.peek(closing) {
			return nil, errNotLiteral
		}
	}
	e.i++
	return arr, nil
}

// entry reads an array key or value. One that is not a literal is kept as
// an unknownExpr (the rest of the array is still read): the error is only
// for an array that cannot be followed.
func (e *phpEval) entry(closing string) (any, error) {
	start := e.i
	v, err := e.expr()
	if err == nil && (e.peek(",") || e.peek("=>") || e.peek(closing)) {
		return v, nil
	}
	e.i = start
	depth := 0
	for {
		t := e.toks[e.i]
		if t.kind == tokEOF {
			return nil, errNotLiteral
		}
		if t.kind == tokPunct {
			switch t.text {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth == 0 {
					return unknownExpr{strings.TrimSpace(e.src[e.toks[start].pos:t.pos])}, nil
				}
				depth--
			case ",", "=>":
				if depth == 0 {
					return unknownExpr{strings.TrimSpace(e.src[e.toks[start].pos:t.pos])}, nil
				}
			}
		}
		e.i++
	}
}

func parsePHPNumber(s string) (any, error) {
	s = strings.ReplaceAll(s, "_", "")
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, errNotLiteral
	}
	return f, nil
}

// scalarString converts a scalar as PHP's string conversion does.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int64:
		return strconv.FormatInt(x, 10), true
	case float64:
		return strconv.FormatFloat(x, 'G', -1, 64), true
	case bool:
		if x {
			return "1", true
		}
		return "", true
	case nil:
		return "", true
	}
	return "", false
}

// phpTruthy is PHP's boolean conversion of a scalar.
func phpTruthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != "" && x != "0"
	case *phpArray:
		return len(x.keys) > 0
	}
	return false
}

// describe prints a value for explanations.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "NULL"
	case bool:
		if x {
			return "TRUE"
		}
		return "FALSE"
	case unknownExpr:
		return x.src
	case *phpArray:
		return "array(...)"
	}
	s, _ := scalarString(v)
	return s
}
