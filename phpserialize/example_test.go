package phpserialize_test

import (
	"fmt"

	"github.com/phpsess/phpsess/phpserialize"
)

func ExampleDecodeSession() {
	payload := []byte(`user_id|i:42;roles|a:2:{i:0;s:5:"admin";i:1;s:6:"editor";}ratio|d:0.5;`)
	sess, err := phpserialize.DecodeSession(phpserialize.HandlerPHP, payload)
	if err != nil {
		fmt.Println(err)
		return
	}
	id, _ := sess.Lookup("user_id")
	fmt.Println(id.Int())
	fmt.Printf("%s\n", phpserialize.AppendSessionJSON(nil, sess))
	// Output:
	// 42
	// {"user_id":42,"roles":["admin","editor"],"ratio":0.5}
}

func ExampleEncodeSession() {
	sess := &phpserialize.Array{}
	sess.Set(phpserialize.StringKey("cart"), phpserialize.ArrayValue(phpserialize.List(phpserialize.Int(7), phpserialize.Int(9))))
	sess.Set(phpserialize.StringKey("total"), phpserialize.Float(19.9))
	out, err := phpserialize.EncodeSession(phpserialize.HandlerPHP, sess)
	fmt.Printf("%s %v\n", out, err)

	// PHP would write an empty session for a key with '|': refused instead.
	sess.Set(phpserialize.StringKey("a|b"), phpserialize.Int(1))
	_, err = phpserialize.EncodeSession(phpserialize.HandlerPHP, sess)
	fmt.Println(err)
	// Output:
	// cart|a:2:{i:0;i:7;i:1;i:9;}total|d:19.9; <nil>
	// phpserialize: cannot encode: session key "a|b" contains '|': PHP's php handler cannot store it (PHP would write an empty session)
}

func ExampleUnmarshal() {
	type User struct {
		ID    int      `php:"id,private"`
		Roles []string `php:"roles,protected"`
		Name  string   `php:"name"`
	}
	data := []byte("O:4:\"User\":3:{s:8:\"\x00User\x00id\";i:5;s:8:\"\x00*\x00roles\";a:1:{i:0;s:5:\"admin\";}s:4:\"name\";s:4:\"Zoë\";}")
	var u User
	if err := phpserialize.Unmarshal(data, &u); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", u)
	// Output:
	// {ID:5 Roles:[admin] Name:Zoë}
}

type user struct {
	ID    int      `php:"id,private"`
	Roles []string `php:"roles,protected"`
}

func (user) PHPClass() string { return `App\User` }

func ExampleMarshal() {
	out, _ := phpserialize.Marshal(user{ID: 5, Roles: []string{"admin"}})
	fmt.Printf("%q\n", out)
	out, _ = phpserialize.Marshal(map[string]any{"b": 1.0, "a": []int{1, 2}, "10": true})
	fmt.Printf("%s\n", out)
	// Output:
	// "O:8:\"App\\User\":2:{s:12:\"\x00App\\User\x00id\";i:5;s:8:\"\x00*\x00roles\";a:1:{i:0;s:5:\"admin\";}}"
	// a:3:{i:10;b:1;s:1:"a";a:2:{i:0;i:1;i:1;i:2;}s:1:"b";d:1;}
}

func ExampleDecode_references() {
	// The same object twice (r:) and a PHP reference (R:) survive a round trip.
	in := `a:4:{i:0;O:8:"stdClass":0:{}i:1;r:2;i:2;s:1:"x";i:3;R:4;}`
	v, _ := phpserialize.DecodeString(in)
	out, _ := phpserialize.Encode(v)
	fmt.Println(string(out) == in)
	fmt.Printf("%s\n", phpserialize.AppendJSON(nil, v))
	// Output:
	// true
	// [{"$object":{"class":"stdClass","props":{}}},{"$r":2},"x",{"$R":4}]
}

// A Decoder that reuses its memory decodes in a loop without allocating,
// as PHP reuses the memory of the session it destroyed. Each result is
// valid until the next call: keep only what you copied out of it.
func ExampleDecoder_reuseMemory() {
	payloads := []string{
		`user_id|i:1;cart|a:1:{i:0;s:3:"pen";}`,
		`user_id|i:2;cart|a:2:{i:0;s:3:"ink";i:1;s:5:"paper";}`,
	}
	dec := phpserialize.Decoder{ReuseMemory: true}
	for _, p := range payloads {
		sess, err := dec.DecodeSessionString(phpserialize.HandlerPHP, p)
		if err != nil {
			fmt.Println(err)
			return
		}
		cart, _ := sess.Lookup("cart")
		fmt.Println(cart.Array().Len()) // used now, not kept
	}
	// Output:
	// 1
	// 2
}

// ValidateSession checks a payload before it is written where PHP will
// read it: PHP destroys a session it cannot decode.
func ExampleValidateSession() {
	good := []byte(`user_id|i:42;`)
	bad := []byte(`user_id|i:42;cart|a:1:{i:0;s:9:"pen";}`)
	fmt.Println(phpserialize.ValidateSession(phpserialize.HandlerPHP, good))
	fmt.Println(phpserialize.ValidateSession(phpserialize.HandlerPHP, bad))
	// Output:
	// <nil>
	// phpserialize: session key "cart": offset 29: string length 9 is longer than the 4 bytes left
}
