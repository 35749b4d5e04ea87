package ops

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/phpsess/phpsess/phpserialize"
)

// Where is a parsed condition on a session's decoded data: the --where
// expression of phpsess find. Parse it once with ParseWhere; Match is safe
// for concurrent use.
//
// The syntax, with its grammar in EBNF:
//
//	expr  = and { "or" and } .
//	and   = unary { "and" unary } .
//	unary = "not" unary | "(" expr ")" | path ( op literal | "exists" ) .
//	op    = "=" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~" .
//	path  = name { "." name | "[" ( int | string | "*" ) "]" } .
//	name  = bare | string .
//
// A bare name is a run of characters other than space, quotes, . [ ] ( )
// and the operator characters = ! < > ~; a string is a JSON string in
// double quotes, for names with such characters ("a.b"). A literal is a
// JSON scalar: 42, -1.5, "text", true, false, null. Keywords (and, or,
// not, exists) are case-insensitive.
//
// A path walks the session variables, then array keys and object
// properties: user.id is $_SESSION['user']['id'] (or the property id of an
// object, whatever its visibility); roles[0] is the element with int key 0;
// roles[*] is any element: the condition holds if it holds for one of them.
// References (r:, R:) are not followed.
//
// Comparisons follow PHP 8's rules for numbers and strings: a number
// literal equals an int, a float or a numeric string of the same value (42,
// 42.0 and "42" are all = 42), two numeric strings compare as numbers, any
// other strings compare byte by byte (< and > by byte order, as strcmp).
// true and false equal only a bool, null only null; they cannot be ordered.
// ~ matches a Go regular expression (RE2 syntax, given as a JSON string)
// against a string, or an int or float as PHP prints it. A condition on a
// path that does not exist is false, whatever the operator (!= too): say
// "not PATH exists" to find sessions without a variable.
type Where struct {
	root node
	src  string
}

// WhereError reports a malformed expression: where (byte offset in the
// expression) and what was expected there.
type WhereError struct {
	Offset int
	Msg    string
}

// Error reports what was expected and its byte offset in the expression.
func (e *WhereError) Error() string {
	return fmt.Sprintf("where: offset %d: %s", e.Offset, e.Msg)
}

// String returns the expression as it was given.
func (w *Where) String() string { return w.src }

// Match reports whether a decoded session satisfies the condition.
func (w *Where) Match(sess *phpserialize.Array) bool {
	return w.root.eval(sess)
}

// ParseWhere parses a condition. An error is a *WhereError.
func ParseWhere(expr string) (*Where, error) {
	p := &whereParser{s: expr}
	p.skipSpace()
	if p.pos == len(p.s) {
		return nil, p.errorf("expected a condition such as user.id=42, found the end")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		return nil, p.errorf("expected and, or or the end, found %s", p.found())
	}
	return &Where{root: n, src: expr}, nil
}

// ---------------------------------------------------------------- nodes --

type node interface {
	eval(sess *phpserialize.Array) bool
}

type orNode struct{ l, r node }
type andNode struct{ l, r node }
type notNode struct{ n node }

func (n orNode) eval(s *phpserialize.Array) bool  { return n.l.eval(s) || n.r.eval(s) }
func (n andNode) eval(s *phpserialize.Array) bool { return n.l.eval(s) && n.r.eval(s) }
func (n notNode) eval(s *phpserialize.Array) bool { return !n.n.eval(s) }

// cond is "path op literal" or "path exists".
type cond struct {
	path Path
	op   string // "exists", "=", "!=", "<", "<=", ">", ">=", "~", "!~"
	lit  phpserialize.Value
	re   *regexp.Regexp
}

func (c cond) eval(sess *phpserialize.Array) bool {
	return c.path.each(sess, func(v phpserialize.Value) bool {
		switch c.op {
		case "exists":
			return true
		case "=":
			return equal(v, c.lit)
		case "!=":
			return !equal(v, c.lit)
		case "~", "!~":
			s, ok := text(v)
			if !ok {
				return false
			}
			return c.re.MatchString(s) == (c.op == "~")
		}
		r, ok := compare(v, c.lit)
		if !ok {
			return false
		}
		switch c.op {
		case "<":
			return r < 0
		case "<=":
			return r <= 0
		case ">":
			return r > 0
		default: // ">="
			return r >= 0
		}
	})
}

// ----------------------------------------------------------------- paths --

// Path is a parsed path into a session: names, int or string indexes, and
// [*] for any element. ParsePath reads one; Where expressions and Set
// assignments use them.
type Path struct {
	elems []pathElem
	src   string
}

type pathElem struct {
	name  string // a name or string index
	index int64  // an int index
	kind  elemKind
}

type elemKind uint8

const (
	elemName elemKind = iota
	elemIndex
	elemAny
)

// String returns the path as it was written.
func (p Path) String() string { return p.src }

// ParsePath parses a path such as user.roles[0] or "a.b"[*].id. An error is
// a *WhereError.
func ParsePath(s string) (Path, error) {
	p := &whereParser{s: s}
	p.skipSpace()
	path, err := p.path()
	if err != nil {
		return Path{}, err
	}
	p.skipSpace()
	if p.pos < len(p.s) {
		return Path{}, p.errorf("expected . or [ or the end of the path, found %s", p.found())
	}
	return path, nil
}

// each calls fn with every value the path reaches, until fn returns true,
// and reports whether it did.
func (p Path) each(sess *phpserialize.Array, fn func(phpserialize.Value) bool) bool {
	return walk(sess, p.elems, fn)
}

func walk(a *phpserialize.Array, elems []pathElem, fn func(phpserialize.Value) bool) bool {
	if a == nil {
		return false
	}
	e := elems[0]
	try := func(v phpserialize.Value) bool {
		if len(elems) == 1 {
			return fn(v)
		}
		return walk(v.Array(), elems[1:], fn)
	}
	switch e.kind {
	case elemAny:
		for _, ent := range a.Entries() {
			if try(ent.Value) {
				return true
			}
		}
		return false
	case elemIndex:
		if v, ok := a.Get(phpserialize.IntKey(e.index)); ok {
			return try(v)
		}
		return false
	}
	if v, ok := lookupName(a, e.name); ok {
		return try(v)
	}
	return false
}

// lookupName finds name as an array key (PHP's $a[name]: "7" is int key 7),
// as an exact string key, or as the plain name of a protected or private
// property.
func lookupName(a *phpserialize.Array, name string) (phpserialize.Value, bool) {
	if v, ok := a.Lookup(name); ok {
		return v, true
	}
	k, ok := propertyKey(a, name)
	if !ok {
		return phpserialize.Value{}, false
	}
	return a.Get(k)
}

// propertyKey finds the key of a property whose plain name is name
// ("\x00*\x00name", "\x00Class\x00name").
func propertyKey(a *phpserialize.Array, name string) (phpserialize.Key, bool) {
	for _, ent := range a.Entries() {
		if ent.Key.IsInt() || !strings.HasPrefix(ent.Key.String(), "\x00") {
			continue
		}
		if plain, _, _ := phpserialize.ParsePropertyName(ent.Key.String()); plain == name {
			return ent.Key, true
		}
	}
	return phpserialize.Key{}, false
}

// ----------------------------------------------------------- comparisons --

// number is a PHP int or float.
type number struct {
	isInt bool
	i     int64
	f     float64
}

func (n number) float() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

func cmpNumbers(a, b number) int {
	if a.isInt && b.isInt {
		switch {
		case a.i < b.i:
			return -1
		case a.i > b.i:
			return 1
		}
		return 0
	}
	x, y := a.float(), b.float()
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	return 2 // NAN: unordered, unequal
}

// numeric returns v as a number: an int, a float, or a numeric string as
// PHP 8's is_numeric() sees it (surrounding whitespace allowed).
func numeric(v phpserialize.Value) (number, bool) {
	switch v.Kind() {
	case phpserialize.KindInt:
		return number{isInt: true, i: v.Int()}, true
	case phpserialize.KindFloat:
		return number{f: v.Float()}, true
	case phpserialize.KindString:
		return numericString(v.Str())
	}
	return number{}, false
}

func numericString(s string) (number, bool) {
	s = strings.Trim(s, " \t\n\r\v\f")
	if s == "" || !numericSyntax(s) {
		return number{}, false
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return number{isInt: true, i: i}, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return number{}, false
	}
	return number{f: f}, true
}

// numericSyntax accepts PHP's numeric strings: [+-]digits[.digits][e[+-]digits]
// with digits on at least one side of the dot.
func numericSyntax(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(s)
}

// equal is = between a session value and a literal.
func equal(v, lit phpserialize.Value) bool {
	switch lit.Kind() {
	case phpserialize.KindNull:
		return v.IsNull()
	case phpserialize.KindBool:
		return v.Kind() == phpserialize.KindBool && v.Bool() == lit.Bool()
	case phpserialize.KindString:
		if v.Kind() == phpserialize.KindString {
			a, aok := numericString(v.Str())
			b, bok := numericString(lit.Str())
			if aok && bok {
				return cmpNumbers(a, b) == 0
			}
			return v.Str() == lit.Str()
		}
	}
	a, aok := numeric(v)
	b, bok := numeric(lit)
	return aok && bok && cmpNumbers(a, b) == 0
}

// compare orders a session value against a literal: false when they
// cannot be ordered.
func compare(v, lit phpserialize.Value) (int, bool) {
	if v.Kind() == phpserialize.KindString && lit.Kind() == phpserialize.KindString {
		a, aok := numericString(v.Str())
		b, bok := numericString(lit.Str())
		if !aok || !bok {
			return strings.Compare(v.Str(), lit.Str()), true
		}
		r := cmpNumbers(a, b)
		return r, r != 2
	}
	a, aok := numeric(v)
	b, bok := numeric(lit)
	if !aok || !bok {
		return 0, false
	}
	r := cmpNumbers(a, b)
	return r, r != 2
}

// text is what ~ matches: a string's bytes, an int or float as PHP prints it.
func text(v phpserialize.Value) (string, bool) {
	switch v.Kind() {
	case phpserialize.KindString:
		return v.Str(), true
	case phpserialize.KindInt:
		return strconv.FormatInt(v.Int(), 10), true
	case phpserialize.KindFloat:
		return string(phpserialize.AppendFloat(nil, v.Float())), true
	}
	return "", false
}

// ---------------------------------------------------------------- parser --

type whereParser struct {
	s   string
	pos int
}

func (p *whereParser) errorf(format string, args ...any) error {
	return &WhereError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

// found describes what is at the current position, for errors.
func (p *whereParser) found() string {
	if p.pos >= len(p.s) {
		return "the end"
	}
	rest := p.s[p.pos:]
	if len(rest) > 12 {
		rest = rest[:12] + "..."
	}
	return strconv.Quote(rest)
}

func (p *whereParser) skipSpace() {
	for p.pos < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.pos]) >= 0 {
		p.pos++
	}
}

// special are the characters that end a bare name.
const special = " \t\r\n.[]()=!<>~\"'"

// word returns the bare word at the current position, without moving.
func (p *whereParser) word() string {
	i := p.pos
	for i < len(p.s) && strings.IndexByte(special, p.s[i]) < 0 {
		i++
	}
	return p.s[p.pos:i]
}

// keyword consumes kw (case-insensitive) if it is the next word.
func (p *whereParser) keyword(kw string) bool {
	p.skipSpace()
	if strings.EqualFold(p.word(), kw) {
		p.pos += len(kw)
		return true
	}
	return false
}

func (p *whereParser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *whereParser) and() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *whereParser) unary() (node, error) {
	if p.keyword("not") {
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{n}, nil
	}
	p.skipSpace()
	if p.pos < len(p.s) && p.s[p.pos] == '(' {
		p.pos++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return nil, p.errorf("expected ) or and, or, found %s", p.found())
		}
		p.pos++
		return n, nil
	}
	return p.cond()
}

var operators = []string{"!=", "<=", ">=", "!~", "=", "<", ">", "~"}

func (p *whereParser) cond() (node, error) {
	path, err := p.path()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.keyword("exists") {
		return cond{path: path, op: "exists"}, nil
	}
	op := ""
	for _, o := range operators {
		if strings.HasPrefix(p.s[p.pos:], o) {
			op = o
			break
		}
	}
	if op == "" {
		return nil, p.errorf("expected an operator (= != < <= > >= ~ !~) or exists after %s, found %s", path.src, p.found())
	}
	p.pos += len(op)
	if op == "=" && p.pos < len(p.s) && p.s[p.pos] == '=' {
		return nil, p.errorf("expected a value after =, found %s (equality is a single =)", p.found())
	}
	p.skipSpace()
	start := p.pos
	lit, err := p.literal()
	if err != nil {
		return nil, err
	}
	c := cond{path: path, op: op, lit: lit}
	switch op {
	case "~", "!~":
		if lit.Kind() != phpserialize.KindString {
			p.pos = start
			return nil, p.errorf("%s wants a regular expression in a JSON string, such as \"^adm\"", op)
		}
		if c.re, err = regexp.Compile(lit.Str()); err != nil {
			p.pos = start
			return nil, p.errorf("bad regular expression: %v", err)
		}
	case "<", "<=", ">", ">=":
		if k := lit.Kind(); k == phpserialize.KindNull || k == phpserialize.KindBool {
			p.pos = start
			return nil, p.errorf("%s wants a number or a string, not %s", op, k)
		}
	}
	return c, nil
}

// literal reads a JSON scalar.
func (p *whereParser) literal() (phpserialize.Value, error) {
	if p.pos >= len(p.s) {
		return phpserialize.Value{}, p.errorf("expected a value (a JSON literal such as 42, \"x\", true or null), found the end")
	}
	switch c := p.s[p.pos]; {
	case c == '"':
		s, err := p.jsonString()
		return phpserialize.String(s), err
	case c == '\'':
		return phpserialize.Value{}, p.errorf("expected a value; strings take double quotes (\"x\"), found %s", p.found())
	case c == '-' || c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.s) && strings.IndexByte("+-.0123456789eE", p.s[p.pos]) >= 0 {
			p.pos++
		}
		text := p.s[start:p.pos]
		if !json.Valid([]byte(text)) {
			p.pos = start
			return phpserialize.Value{}, p.errorf("expected a JSON number, found %q", text)
		}
		v, err := phpserialize.ParseJSON([]byte(text))
		if err != nil {
			p.pos = start
			return phpserialize.Value{}, p.errorf("%v", err)
		}
		return v, nil
	}
	w := p.word()
	switch w {
	case "true", "false":
		p.pos += len(w)
		return phpserialize.Bool(w == "true"), nil
	case "null":
		p.pos += len(w)
		return phpserialize.Null(), nil
	}
	return phpserialize.Value{}, p.errorf("expected a value (a JSON literal such as 42, \"x\", true or null), found %s", p.found())
}

// jsonString reads a JSON string literal at the current position.
func (p *whereParser) jsonString() (string, error) {
	start := p.pos
	i := p.pos + 1
	for i < len(p.s) && p.s[i] != '"' {
		if p.s[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(p.s) {
		return "", p.errorf("unterminated string")
	}
	var s string
	if err := json.Unmarshal([]byte(p.s[start:i+1]), &s); err != nil {
		return "", p.errorf("bad string: %v", err)
	}
	p.pos = i + 1
	return s, nil
}

// path reads name { .name | [index] }.
func (p *whereParser) path() (Path, error) {
	start := p.pos
	var elems []pathElem
	name, err := p.name()
	if err != nil {
		return Path{}, err
	}
	elems = append(elems, pathElem{name: name})
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case '.':
			p.pos++
			name, err := p.name()
			if err != nil {
				return Path{}, err
			}
			elems = append(elems, pathElem{name: name})
			continue
		case '[':
			p.pos++
			e, err := p.index()
			if err != nil {
				return Path{}, err
			}
			elems = append(elems, e)
			continue
		}
		break
	}
	return Path{elems: elems, src: p.s[start:p.pos]}, nil
}

func (p *whereParser) name() (string, error) {
	if p.pos < len(p.s) && p.s[p.pos] == '"' {
		return p.jsonString()
	}
	w := p.word()
	if w == "" {
		return "", p.errorf("expected a name (a session variable or key; \"quoted\" if it holds . [ ] or spaces), found %s", p.found())
	}
	p.pos += len(w)
	return w, nil
}

func (p *whereParser) index() (pathElem, error) {
	var e pathElem
	switch {
	case p.pos < len(p.s) && p.s[p.pos] == '*':
		p.pos++
		e.kind = elemAny
	case p.pos < len(p.s) && p.s[p.pos] == '"':
		s, err := p.jsonString()
		if err != nil {
			return e, err
		}
		e.name = s
	default:
		start := p.pos
		if p.pos < len(p.s) && p.s[p.pos] == '-' {
			p.pos++
		}
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		n, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
		if err != nil {
			p.pos = start
			return e, p.errorf("expected an int, a \"string\" or * inside [ ], found %s", p.found())
		}
		e.kind, e.index = elemIndex, n
	}
	if p.pos >= len(p.s) || p.s[p.pos] != ']' {
		return e, p.errorf("expected ], found %s", p.found())
	}
	p.pos++
	return e, nil
}
