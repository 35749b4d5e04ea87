package ops

import (
	"strings"
	"testing"

	"github.com/phpsess/phpsess/phpserialize"
)

// testSession is user|a:{id:42,name:"ann",roles:[admin,editor]} and more,
// as PHP's php handler writes it.
const testSession = `user|a:3:{s:2:"id";i:42;s:4:"name";s:3:"ann";s:5:"roles";a:2:{i:0;s:5:"admin";i:1;s:6:"editor";}}` +
	`ratio|d:0.5;code|s:2:"42";flag|b:1;none|N;a.b|i:7;obj|O:4:"User":2:{s:7:"` + "\x00*\x00" + `role";s:4:"root";s:8:"` + "\x00User\x00" + `id";i:5;}big|s:3:"abc";`

func decodeTest(t *testing.T) *phpserialize.Array {
	t.Helper()
	sess, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, []byte(testSession))
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func TestWhereMatch(t *testing.T) {
	sess := decodeTest(t)
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`user.id=42`, true},
		{`user.id = 42`, true},
		{`user.id=43`, false},
		{`user.id="42"`, true}, // numeric string literal
		{`user.id=42.0`, true}, // int and float
		{`code=42`, true},      // numeric string in the session
		{`code="42.0"`, true},  // two numeric strings compare as numbers
		{`user.name="ann"`, true},
		{`user.name="Ann"`, false},
		{`user.name=0`, false}, // PHP 8: "ann" == 0 is false
		{`user.id!=42`, false},
		{`user.id!=1`, true},
		{`missing!=1`, false}, // missing paths are false
		{`not missing exists`, true},
		{`none exists`, true},
		{`none=null`, true},
		{`flag=true`, true},
		{`flag=1`, false}, // bools equal only bools
		{`user.id>41 and user.id<=42`, true},
		{`user.id>=43 or ratio<1`, true},
		{`ratio>0.25`, true},
		{`user.name<"b"`, true}, // strcmp order
		{`user.name>"b"`, false},
		{`user.roles[0]="admin"`, true},
		{`user.roles[1]="admin"`, false},
		{`user.roles[*]="editor"`, true},
		{`user.roles[*]="root"`, false},
		{`user["roles"][1]="editor"`, true},
		{`"a.b"=7`, true},
		{`a.b=7`, false},
		{`obj.role="root"`, true}, // protected property by its plain name
		{`obj.id=5`, true},        // private property
		{`user.name~"^a"`, true},
		{`user.name!~"^a"`, false},
		{`user.id~"^4"`, true}, // ints match as PHP prints them
		{`ratio~"^0\\.5$"`, true},
		{`not (user.id=42 or flag=true)`, false},
		{`NOT user.id=1 AND user.id=42`, true},
		{`(user.id=1 or user.id=42) and (big="abc")`, true},
		{`user exists and user.id exists`, true},
		{`user.id.x exists`, false},
	} {
		w, err := ParseWhere(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := w.Match(sess); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestWhereErrors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want string
	}{
		{``, `where: offset 0: expected a condition such as user.id=42, found the end`},
		{`user.id`, `where: offset 7: expected an operator (= != < <= > >= ~ !~) or exists after user.id, found the end`},
		{`user.id 42`, `where: offset 8: expected an operator (= != < <= > >= ~ !~) or exists after user.id, found "42"`},
		{`user.id==42`, `where: offset 8: expected a value after =, found "=42" (equality is a single =)`},
		{`user.id=`, `where: offset 8: expected a value (a JSON literal such as 42, "x", true or null), found the end`},
		{`user.id='x'`, `where: offset 8: expected a value; strings take double quotes ("x"), found "'x'"`},
		{`user.id=abc`, `where: offset 8: expected a value (a JSON literal such as 42, "x", true or null), found "abc"`},
		{`user.id=4x`, `where: offset 9: expected and, or or the end, found "x"`},
		{`user.id=1.2.3`, `where: offset 8: expected a JSON number, found "1.2.3"`},
		{`user..id=1`, `where: offset 5: expected a name (a session variable or key; "quoted" if it holds . [ ] or spaces), found ".id=1"`},
		{`roles[x]=1`, `where: offset 6: expected an int, a "string" or * inside [ ], found "x]=1"`},
		{`roles[0=1`, `where: offset 7: expected ], found "=1"`},
		{`"a.b=1`, `where: offset 0: unterminated string`},
		{`(a=1`, `where: offset 4: expected ) or and, or, found the end`},
		{`a=1 and`, `where: offset 7: expected a name (a session variable or key; "quoted" if it holds . [ ] or spaces), found the end`},
		{`a=1 b=2`, `where: offset 4: expected and, or or the end, found "b=2"`},
		{`a~1`, `where: offset 2: ~ wants a regular expression in a JSON string, such as "^adm"`},
		{`a~"("`, "where: offset 2: bad regular expression: error parsing regexp: missing closing ): `(`"},
		{`a<true`, `where: offset 2: < wants a number or a string, not bool`},
		{`not`, `where: offset 3: expected a name (a session variable or key; "quoted" if it holds . [ ] or spaces), found the end`},
	} {
		_, err := ParseWhere(tc.expr)
		if err == nil {
			t.Errorf("%q: no error", tc.expr)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.expr, err, tc.want)
		}
		if _, ok := err.(*WhereError); !ok {
			t.Errorf("%q: %T, want *WhereError", tc.expr, err)
		}
	}
}

func TestAssignments(t *testing.T) {
	for _, tc := range []struct {
		h       phpserialize.Handler
		in      string
		sets    []string
		want    string
		wantErr string
	}{
		{"php", `a|i:1;`, []string{`a=2`}, `a|i:2;`, ""},
		{"php", `a|i:1;`, []string{`b="x"`}, `a|i:1;b|s:1:"x";`, ""},
		{"php", `a|i:1;`, []string{`u.id=7`}, `a|i:1;u|a:1:{s:2:"id";i:7;}`, ""},
		{"php", `u|a:1:{s:2:"id";i:1;}`, []string{`u.id=7`, `u.tags[0]="x"`}, `u|a:2:{s:2:"id";i:7;s:4:"tags";a:1:{i:0;s:1:"x";}}`, ""},
		{"php", `u|a:1:{i:3;s:1:"a";}`, []string{`u.3="b"`}, `u|a:1:{i:3;s:1:"b";}`, ""},
		{"php", `u|N;`, []string{`u.x=true`}, `u|a:1:{s:1:"x";b:1;}`, ""},
		{"php", `u|s:1:"a";`, []string{`u.x=1`}, ``, `u.x: u is a string, not an array`},
		{"php", `a|i:1;`, []string{`"x.y"={"k":[1,2.5,null]}`}, `a|i:1;x.y|a:1:{s:1:"k";a:3:{i:0;i:1;i:1;d:2.5;i:2;N;}}`, ""},
		{"php_serialize", `a:1:{s:1:"a";i:1;}`, []string{`5="five"`}, `a:2:{s:1:"a";i:1;i:5;s:4:"five";}`, ""},
		{"php", `o|O:1:"U":1:{s:7:"` + "\x00*\x00" + `role";s:1:"a";}`, []string{`o.role="b"`}, `o|O:1:"U":1:{s:7:"` + "\x00*\x00" + `role";s:1:"b";}`, ""},
	} {
		sess, err := phpserialize.DecodeSession(tc.h, []byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		var applyErr error
		for _, s := range tc.sets {
			a, err := ParseAssignment(s)
			if err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			if applyErr = a.Apply(tc.h, sess); applyErr != nil {
				break
			}
		}
		if tc.wantErr != "" {
			if applyErr == nil || applyErr.Error() != tc.wantErr {
				t.Errorf("%v: error %v, want %s", tc.sets, applyErr, tc.wantErr)
			}
			continue
		}
		if applyErr != nil {
			t.Errorf("%v: %v", tc.sets, applyErr)
			continue
		}
		out, err := phpserialize.EncodeSession(tc.h, sess)
		if err != nil || string(out) != tc.want {
			t.Errorf("%v:\n got %q (%v)\nwant %q", tc.sets, out, err, tc.want)
		}
	}
	sess := decodeTest(t)
	u, err := ParseUnset("user.roles")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Apply("php", sess); err != nil {
		t.Fatal(err)
	}
	if w, _ := ParseWhere("user.roles exists"); w.Match(sess) {
		t.Fatal("unset left user.roles")
	}
	for _, bad := range []string{`a`, `a=`, `a=nope`, `a[*]=1`, `=1`} {
		if _, err := ParseAssignment(bad); err == nil {
			t.Errorf("%q: no error", bad)
		} else if !strings.HasPrefix(err.Error(), "where: offset ") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
