package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The in-place decoders (decode.go) against msgpack's reflection decoding
// of shadow types with the same tags (refCommand, refMessagesPost in
// codec_test.go and the ones below), on canonical encodings and on
// re-encodings that vary everything msgpack allows: key order, str or bin,
// integer widths, unknown keys with any kind of value.

type (
	refBatch struct {
		Commands []refCommand `msgpack:"c"`
	}
	refClaimCreate struct {
		Project string `msgpack:"p"`
		Queue   string `msgpack:"q"`
		Limit   int    `msgpack:"l"`
		TTL     int64  `msgpack:"t"`
		Grace   int64  `msgpack:"g"`
	}
	refMessageDelete struct {
		Project string `msgpack:"p"`
		Queue   string `msgpack:"q"`
		ID      string `msgpack:"i"`
		ClaimID string `msgpack:"c,omitempty"`
	}
	refMessagesDelete struct {
		Project  string   `msgpack:"p"`
		Queue    string   `msgpack:"q"`
		IDs      []string `msgpack:"i"`
		ClaimIDs []string `msgpack:"c,omitempty"`
	}
)

// codecCase decodes one encoding with an in-place decoder and by
// reflection; each returns the value re-encoded (generically) for
// comparison.
type codecCase struct {
	name string
	fast func(b []byte) ([]byte, error)
	ref  func(b []byte) ([]byte, error)
}

func fastCase[T any](decode func(*T, []byte) error) func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		var v T
		if err := decode(&v, b); err != nil {
			return nil, err
		}
		return msgpack.Marshal(&v)
	}
}

func refCase[T any]() func([]byte) ([]byte, error) {
	return func(b []byte) ([]byte, error) {
		var v T
		if err := msgpack.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return msgpack.Marshal(&v)
	}
}

var codecCases = map[string]codecCase{
	"Command": {"Command", fastCase(func(c *Command, b []byte) error {
		var err error
		*c, err = decodeEntry(b)
		return err
	}), refCase[refCommand]()},
	"DecodeCommand": {"DecodeCommand", fastCase(func(c *Command, b []byte) error {
		d, err := DecodeCommand(b)
		if err == nil {
			*c = *d
		}
		return err
	}), refCase[refCommand]()},
	"Batch":          {"Batch", fastCase((*Batch).decodeInPlace), refCase[refBatch]()},
	"MessagesPost":   {"MessagesPost", fastCase((*MessagesPost).decodeInPlace), refCase[refMessagesPost]()},
	"ClaimCreate":    {"ClaimCreate", fastCase((*ClaimCreate).decodeInPlace), refCase[refClaimCreate]()},
	"MessageDelete":  {"MessageDelete", fastCase((*MessageDelete).decodeInPlace), refCase[refMessageDelete]()},
	"MessagesDelete": {"MessagesDelete", fastCase((*MessagesDelete).decodeInPlace), refCase[refMessagesDelete]()},
}

// gen builds random payload values.
type gen struct{ rng prng }

var (
	genInts  = []int64{0, 1, -1, 31, -32, -33, 127, 128, 255, 256, -128, -129, 32767, 65535, 65536, -32769, 1 << 31, -1 << 31, 1 << 40, math.MaxInt64, math.MinInt64}
	genSizes = []int{0, 1, 5, 24, 31, 32, 40, 255, 256, 300}
)

func (g *gen) int() int64 { return genInts[g.rng.intn(len(genInts))] }

func (g *gen) bytes() []byte {
	n := genSizes[g.rng.intn(len(genSizes))]
	if g.rng.intn(60) == 0 {
		n = 70000 // str32 / bin32
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + g.rng.intn(26))
	}
	return b
}

func (g *gen) str() string { return string(g.bytes()) }

func (g *gen) optInt() *int64 {
	if g.rng.intn(2) == 0 {
		return nil
	}
	return i64(g.int())
}

func (g *gen) strs() []string {
	switch g.rng.intn(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	out := make([]string, 1+g.rng.intn(20))
	for i := range out {
		out[i] = g.str()
	}
	return out
}

func (g *gen) post() *MessagesPost {
	p := &MessagesPost{Project: g.str(), Queue: g.str(), ClientID: g.str()}
	switch g.rng.intn(5) {
	case 0:
	case 1:
		p.Messages = []NewMessage{}
	default:
		p.Messages = make([]NewMessage, 1+g.rng.intn(12))
		for i := range p.Messages {
			m := &p.Messages[i]
			switch g.rng.intn(6) {
			case 0: // nil body
			case 1:
				m.Body = []byte{}
			default:
				m.Body = g.bytes()
			}
			m.TTL, m.Delay = g.optInt(), g.optInt()
		}
	}
	return p
}

func (g *gen) command() *Command {
	c := &Command{Type: CmdType(g.int()), Now: g.int()}
	if g.rng.intn(2) == 0 {
		c.RequestID = g.str()
	}
	if g.rng.intn(4) > 0 {
		c.Payload, _ = msgpack.Marshal(g.post())
	}
	return c
}

// value returns a random payload of the kind case name decodes.
func (g *gen) value(name string) any {
	switch name {
	case "Command", "DecodeCommand":
		return g.command()
	case "Batch":
		b := &Batch{}
		if g.rng.intn(5) > 0 {
			b.Commands = make([]Command, g.rng.intn(7))
			for i := range b.Commands {
				b.Commands[i] = *g.command()
			}
		}
		return b
	case "MessagesPost":
		return g.post()
	case "ClaimCreate":
		return &ClaimCreate{Project: g.str(), Queue: g.str(), Limit: int(g.int()), TTL: g.int(), Grace: g.int()}
	case "MessageDelete":
		return &MessageDelete{Project: g.str(), Queue: g.str(), ID: g.str(), ClaimID: g.str()}
	default:
		return &MessagesDelete{Project: g.str(), Queue: g.str(), IDs: g.strs(), ClaimIDs: g.strs()}
	}
}

// variant re-encodes a msgpack value (decoded generically) in another of
// its valid encodings, chosen at random, optionally adding unknown keys.
type variant struct {
	rng  prng
	junk bool
}

func (v *variant) pick(n int) int { return v.rng.intn(n) }

func (v *variant) encode(b []byte, x any) []byte {
	switch x := x.(type) {
	case nil:
		return append(b, mpNil)
	case bool:
		if x {
			return append(b, mpTrue)
		}
		return append(b, mpFalse)
	case string:
		return v.blob(b, []byte(x))
	case []byte:
		return v.blob(b, x)
	case int8:
		return v.int(b, int64(x))
	case int16:
		return v.int(b, int64(x))
	case int32:
		return v.int(b, int64(x))
	case int64:
		return v.int(b, x)
	case uint8:
		return v.int(b, int64(x))
	case uint16:
		return v.int(b, int64(x))
	case uint32:
		return v.int(b, int64(x))
	case uint64:
		if x > math.MaxInt64 {
			return binary.BigEndian.AppendUint64(append(b, mpUint64), x)
		}
		return v.int(b, int64(x))
	case []any:
		b = v.header(b, len(x), 0x90, mpArray16)
		for _, e := range x {
			b = v.encode(b, e)
		}
		return b
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i := len(keys) - 1; i > 0; i-- { // shuffle
			j := v.pick(i + 1)
			keys[i], keys[j] = keys[j], keys[i]
		}
		extra := 0
		if v.junk {
			extra = v.pick(3)
		}
		b = v.header(b, len(keys)+extra, 0x80, mpMap16)
		for i, k := range keys {
			if i == 0 {
				b = v.junkPairs(b, extra)
			}
			b = v.blob(b, []byte(k))
			b = v.encode(b, x[k])
		}
		if len(keys) == 0 {
			b = v.junkPairs(b, extra)
		}
		return b
	}
	panic(fmt.Sprintf("variant: unexpected %T", x))
}

// header writes an array or map header: fix, 16- or 32-bit length.
func (v *variant) header(b []byte, n int, fix, code16 byte) []byte {
	switch c := v.pick(3); {
	case c == 0 && n < 16:
		return append(b, fix|byte(n))
	case c <= 1 && n < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, code16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(b, code16+1), uint32(n))
}

// blob writes bytes as str or bin, in any length format that fits.
func (v *variant) blob(b, s []byte) []byte {
	n := len(s)
	var opts [][]byte
	if n < 32 {
		opts = append(opts, []byte{0xa0 | byte(n)})
	}
	if n < 256 {
		opts = append(opts, []byte{mpStr8, byte(n)}, []byte{mpBin8, byte(n)})
	}
	if n < 1<<16 {
		opts = append(opts, binary.BigEndian.AppendUint16([]byte{mpStr16}, uint16(n)), binary.BigEndian.AppendUint16([]byte{mpBin16}, uint16(n)))
	}
	opts = append(opts, binary.BigEndian.AppendUint32([]byte{mpStr32}, uint32(n)), binary.BigEndian.AppendUint32([]byte{mpBin32}, uint32(n)))
	return append(append(b, opts[v.pick(len(opts))]...), s...)
}

// int writes x in any integer format that holds it.
func (v *variant) int(b []byte, x int64) []byte {
	type enc struct {
		ok   bool
		code byte
		n    int
	}
	opts := []enc{
		{x >= 0 && x <= math.MaxUint8, mpUint8, 1}, {x >= 0 && x <= math.MaxUint16, mpUint16, 2},
		{x >= 0 && x <= math.MaxUint32, mpUint32, 4}, {x >= 0, mpUint64, 8},
		{x >= math.MinInt8 && x <= math.MaxInt8, mpInt8, 1}, {x >= math.MinInt16 && x <= math.MaxInt16, mpInt16, 2},
		{x >= math.MinInt32 && x <= math.MaxInt32, mpInt32, 4}, {true, mpInt64, 8},
		{x >= -32 && x <= 127, 0, 0}, // fixint
	}
	for {
		o := opts[v.pick(len(opts))]
		if !o.ok {
			continue
		}
		if o.n == 0 {
			return append(b, byte(int8(x)))
		}
		b = append(b, o.code)
		for i := o.n - 1; i >= 0; i-- {
			b = append(b, byte(uint64(x)>>(8*i)))
		}
		return b
	}
}

// junkPairs writes n pairs with keys no payload uses and values of every
// kind msgpack has (floats, exts, nested containers included).
func (v *variant) junkPairs(b []byte, n int) []byte {
	for i := 0; i < n; i++ {
		b = v.blob(b, []byte([]string{"zz", "", "x9", "unknown"}[v.pick(4)]))
		b = v.junkValue(b, 0)
	}
	return b
}

func (v *variant) junkValue(b []byte, depth int) []byte {
	switch c := v.pick(9); {
	case c == 0:
		return append(b, mpNil)
	case c == 1:
		return binary.BigEndian.AppendUint32(append(b, mpFloat), math.Float32bits(1.5))
	case c == 2:
		return binary.BigEndian.AppendUint64(append(b, mpDouble), math.Float64bits(-2.25))
	case c == 3: // fixext 1..16
		k := v.pick(5)
		return append(append(b, mpFixExt1+byte(k), 7), make([]byte, 1<<k)...)
	case c == 4: // ext8/16/32
		k := v.pick(3)
		b = append(b, mpExt8+byte(k))
		for i := 0; i < 1<<k; i++ {
			b = append(b, 0)
		}
		b[len(b)-1] = 3
		return append(append(b, 9), 1, 2, 3)
	case c == 5 && depth < 3:
		n := v.pick(4)
		b = v.header(b, n, 0x90, mpArray16)
		for i := 0; i < n; i++ {
			b = v.junkValue(b, depth+1)
		}
		return b
	case c == 6 && depth < 3:
		n := v.pick(3)
		b = v.header(b, n, 0x80, mpMap16)
		for i := 0; i < n; i++ {
			b = v.junkValue(b, depth+1)
			b = v.junkValue(b, depth+1)
		}
		return b
	case c == 7:
		return v.int(b, genInts[v.pick(len(genInts))])
	}
	return v.blob(b, []byte("junk"))
}

// variants returns the canonical encoding of x and n re-encodings.
func variants(tb testing.TB, seed uint64, x any, n int) [][]byte {
	tb.Helper()
	canon, err := msgpack.Marshal(x)
	if err != nil {
		tb.Fatal(err)
	}
	var generic any
	if err := msgpack.Unmarshal(canon, &generic); err != nil {
		tb.Fatal(err)
	}
	out := [][]byte{canon}
	for i := 0; i < n; i++ {
		v := &variant{rng: prng{s: seed*31 + uint64(i)}, junk: i%2 == 1}
		out = append(out, v.encode(nil, generic))
	}
	return out
}

// compareDecoders decodes b both ways. Both must agree on valid input; on
// invalid input the in-place decoder must fail without panicking, and it
// may not accept what reflection rejects. (Reflection runs only on what
// the in-place decoder accepted: on a corrupt length it allocates that
// many elements, up to running out of memory.)
func compareDecoders(t *testing.T, c codecCase, b []byte, mustDecode bool) {
	t.Helper()
	fast, ferr := c.fast(b)
	if ferr != nil && !mustDecode {
		return
	}
	ref, rerr := c.ref(b)
	switch {
	case mustDecode && (ferr != nil || rerr != nil):
		t.Fatalf("%s: % x: in place %v, reflection %v", c.name, head(b), ferr, rerr)
	case ferr == nil && rerr != nil:
		t.Fatalf("%s: in place accepts what reflection rejects (%v): % x", c.name, rerr, head(b))
	case ferr == nil && !bytes.Equal(fast, ref):
		t.Fatalf("%s: % x:\nin place   % x\nreflection % x", c.name, head(b), head(fast), head(ref))
	}
}

func head(b []byte) []byte { return b[:min(len(b), 96)] }

func TestInPlaceDecodersMatchReflection(t *testing.T) {
	for _, name := range sortedCaseNames() {
		c := codecCases[name]
		t.Run(name, func(t *testing.T) {
			g := &gen{rng: prng{s: 7}}
			for i := 0; i < 300; i++ {
				for _, b := range variants(t, uint64(i), g.value(name), 4) {
					compareDecoders(t, c, b, true)
				}
			}
		})
	}
}

func TestInPlaceDecodersRejectMalformed(t *testing.T) {
	for _, name := range sortedCaseNames() {
		c := codecCases[name]
		t.Run(name, func(t *testing.T) {
			g := &gen{rng: prng{s: 11}}
			rng := prng{s: 5}
			for i := 0; i < 40; i++ {
				for _, b := range variants(t, uint64(i), g.value(name), 2) {
					if len(b) > 4096 {
						continue
					}
					// Every proper prefix is truncated: always an error.
					for n := 0; n < len(b); n++ {
						if _, err := c.fast(b[:n:n]); err == nil {
							t.Fatalf("%s: prefix %d of % x decoded", name, n, head(b))
						}
					}
					// Mutations: never a panic, never more lenient.
					for k := 0; k < 50; k++ {
						compareDecoders(t, c, mutate(&rng, b), false)
					}
				}
			}
		})
	}
}

// mutate returns a copy of b with a byte changed, inserted or removed.
func mutate(rng *prng, b []byte) []byte {
	out := append([]byte(nil), b...)
	i := rng.intn(len(out) + 1)
	vals := []byte{0x00, 0x7f, 0x80, 0x8f, 0x90, 0xa0, 0xc0, 0xc1, 0xc4, 0xc7, 0xca, 0xcc, 0xd0, 0xd4, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xff}
	v := vals[rng.intn(len(vals))]
	switch {
	case i == len(out) || rng.intn(3) == 0:
		out = append(out[:i], append([]byte{v}, out[i:]...)...)
	case rng.intn(2) == 0:
		out[i] = v
	default:
		out = append(out[:i], out[i+1:]...)
	}
	return out
}

func sortedCaseNames() []string {
	var names []string
	for n := range codecCases {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestInPlaceDecodersWrongTypes(t *testing.T) {
	enc := func(v any) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := map[string][]any{
		"Command": {
			map[string]any{"t": "x"}, map[string]any{"n": 1.5}, map[string]any{"r": 5},
			map[string]any{"t": []any{1}}, "not a map", []any{1, 2},
		},
		"Batch": {
			map[string]any{"c": "x"}, map[string]any{"c": []any{5}}, map[string]any{"c": []any{map[string]any{"t": true}}},
			map[string]any{"c": map[string]any{}},
		},
		"MessagesPost": {
			map[string]any{"p": 5}, map[string]any{"q": true}, map[string]any{"c": []any{}},
			map[string]any{"m": "x"}, map[string]any{"m": []any{5}}, map[string]any{"m": []any{map[string]any{"b": 5}}},
			map[string]any{"m": []any{map[string]any{"t": "x"}}}, map[string]any{"m": []any{map[string]any{"d": 2.5}}},
			map[any]any{5: "x"},
		},
		"ClaimCreate":    {map[string]any{"l": "x"}, map[string]any{"t": 1.5}, map[string]any{"g": []any{}}, map[string]any{"p": 1}},
		"MessageDelete":  {map[string]any{"i": 5}, map[string]any{"c": map[string]any{}}},
		"MessagesDelete": {map[string]any{"i": "x"}, map[string]any{"i": []any{5}}, map[string]any{"c": []any{nil, 1}}},
	}
	for name, vals := range bad {
		c := codecCases[name]
		for _, v := range vals {
			b := enc(v)
			if _, err := c.fast(b); err == nil {
				t.Errorf("%s: %#v decoded", name, v)
			}
			if _, err := c.ref(b); err == nil {
				t.Errorf("%s: reflection decoded %#v (the table is wrong)", name, v)
			}
		}
	}
	// Nil decodes as the zero value, like reflection, wherever it is.
	for _, name := range sortedCaseNames() {
		compareDecoders(t, codecCases[name], []byte{mpNil}, true)
	}
	nils := map[string][]any{
		"Command":        {map[string]any{"t": nil, "n": nil, "r": nil, "p": nil}},
		"Batch":          {map[string]any{"c": nil}, map[string]any{"c": []any{nil, map[string]any{"p": nil}}}},
		"MessagesPost":   {map[string]any{"p": nil, "m": nil}, map[string]any{"m": []any{nil, map[string]any{"b": nil, "t": nil, "d": nil}}}},
		"ClaimCreate":    {map[string]any{"l": nil, "t": nil, "g": nil, "q": nil}},
		"MessageDelete":  {map[string]any{"i": nil, "c": nil}},
		"MessagesDelete": {map[string]any{"i": nil, "c": []any{nil}}},
	}
	for name, vals := range nils {
		for _, v := range vals {
			compareDecoders(t, codecCases[name], enc(v), true)
		}
	}
	// Lengths that the input cannot hold fail before allocating.
	for _, b := range [][]byte{
		{0x81, 0xa1, 'c', mpArray32, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0xa1, 'm', mpArray32, 0x7f, 0xff, 0xff, 0xff},
		{0x81, 0xa1, 'i', mpArray32, 0x10, 0, 0, 0},
		{0x81, 0xa1, 'p', mpStr32, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0xa2, 'z', 'z', mpMap32, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0xa2, 'z', 'z', mpExt32, 0xff, 0xff, 0xff, 0xf0, 1},
	} {
		for _, name := range []string{"Batch", "MessagesPost", "MessagesDelete", "MessageDelete"} {
			if _, err := codecCases[name].fast(b); err == nil {
				t.Errorf("%s: % x decoded", name, b)
			}
		}
	}
}

// FuzzInPlaceDecoders runs compareDecoders on arbitrary input for every
// decoder (go test -fuzz FuzzInPlaceDecoders ./fsm/); plain go test runs
// the seeds.
func FuzzInPlaceDecoders(f *testing.F) {
	g := &gen{rng: prng{s: 3}}
	for _, name := range sortedCaseNames() {
		for _, b := range variants(f, 1, g.value(name), 2) {
			if len(b) < 4096 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, name := range sortedCaseNames() {
			compareDecoders(t, codecCases[name], b, false)
		}
	})
}
