package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unsafe"
)

// Zero-copy decoding of raft entries (see DESIGN.md, "Decode fast paths").
//
// ApplyEntry decodes with reader, which walks the entry's bytes in place:
// the envelope's and every inner command's Payload are sub-slices of the
// entry, and so are the strings of the hot payloads (aliasStr). Nothing
// the state keeps may alias the entry: message bodies are copied once each
// (bytes.Clone), and the two places that store a payload string clone it
// (createQueue, dedupeWindow.add). TestApplyEntryKeepsNoReferenceToData
// overwrites every entry after applying it and compares the result with an
// FSM that applied pristine copies.
//
// The hot payloads are Batch, MessagesPost, ClaimCreate, MessageDelete and
// MessagesDelete (dispatch calls their decodeInPlace); the other command
// payloads go through msgpack's reflection decoder, which copies.
//
// Each decoder reads exactly what msgpack's reflection decoder reads for
// the struct tags in command.go: a map keyed by tag (str or bin keys),
// fields in any order, unknown keys skipped, nil as the zero value, and the
// integer codes msgpack accepts for the field's type. decode_test.go checks
// them against reflection decoding, and malformed input against errors
// (never a panic).

// msgpack type codes.
const (
	mpNil      = 0xc0
	mpFalse    = 0xc2
	mpTrue     = 0xc3
	mpBin8     = 0xc4
	mpBin16    = 0xc5
	mpBin32    = 0xc6
	mpExt8     = 0xc7
	mpExt16    = 0xc8
	mpExt32    = 0xc9
	mpFloat    = 0xca
	mpDouble   = 0xcb
	mpUint8    = 0xcc
	mpUint16   = 0xcd
	mpUint32   = 0xce
	mpUint64   = 0xcf
	mpInt8     = 0xd0
	mpInt16    = 0xd1
	mpInt32    = 0xd2
	mpInt64    = 0xd3
	mpFixExt1  = 0xd4
	mpFixExt16 = 0xd8
	mpStr8     = 0xd9
	mpStr16    = 0xda
	mpStr32    = 0xdb
	mpArray16  = 0xdc
	mpArray32  = 0xdd
	mpMap16    = 0xde
	mpMap32    = 0xdf
)

// errTruncated reports input that ends inside a value (or announces more
// elements than it could hold).
var errTruncated = errors.New("msgpack: unexpected end of data")

func badCode(c byte, what string) error {
	return fmt.Errorf("msgpack: invalid code=%x decoding %s", c, what)
}

// reader decodes msgpack values from an immutable byte slice, in place.
type reader struct {
	b []byte
	i int
}

func (r *reader) code() (byte, error) {
	if r.i >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.i]
	r.i++
	return c, nil
}

// next returns the next n bytes (capacity-limited: appending copies).
func (r *reader) next(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.i {
		return nil, errTruncated
	}
	s := r.b[r.i : r.i+n : r.i+n]
	r.i += n
	return s, nil
}

// be reads an n-byte big-endian unsigned integer.
func (r *reader) be(n int) (uint64, error) {
	b, err := r.next(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v, nil
}

// length reads the n-byte length of a str, bin, array, map or ext.
func (r *reader) length(n int) (int, error) {
	v, err := r.be(n)
	if err != nil {
		return 0, err
	}
	if v > uint64(len(r.b)) { // cannot be satisfied; also keeps int(v) >= 0
		return 0, errTruncated
	}
	return int(v), nil
}

// isExt reports whether c starts an ext value.
func isExt(c byte) bool { return (c >= mpFixExt1 && c <= mpFixExt16) || (c >= mpExt8 && c <= mpExt32) }

// extLen returns the data length of the ext value started by c (the type
// byte not included).
func (r *reader) extLen(c byte) (int, error) {
	switch c {
	case mpExt8:
		return r.length(1)
	case mpExt16:
		return r.length(2)
	case mpExt32:
		return r.length(4)
	}
	return 1 << (c - mpFixExt1), nil // fixext 1, 2, 4, 8, 16
}

// mapLen reads a map header: the number of pairs, -1 for nil. (A struct
// encoded as an array, which msgpack's reflection decoder also accepts, is
// an error: nothing here encodes one.)
func (r *reader) mapLen() (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	switch {
	case c == mpNil:
		return -1, nil
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), nil
	case c == mpMap16:
		return r.length(2)
	case c == mpMap32:
		return r.length(4)
	}
	return 0, badCode(c, "map length")
}

// arrayLen reads an array header: the number of elements, -1 for nil. A
// count the rest of the input cannot hold (every element takes at least a
// byte) is errTruncated, so callers may size a slice from it.
func (r *reader) arrayLen() (int, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	n := 0
	switch {
	case c == mpNil:
		return -1, nil
	case c >= 0x90 && c <= 0x9f:
		n = int(c & 0x0f)
	case c == mpArray16:
		n, err = r.length(2)
	case c == mpArray32:
		n, err = r.length(4)
	default:
		return 0, badCode(c, "array length")
	}
	if err == nil && n > len(r.b)-r.i {
		err = errTruncated
	}
	return n, err
}

// bytesLen reads the length of a str or bin value started by c (-1: nil).
func (r *reader) bytesLen(c byte) (int, error) {
	switch {
	case c == mpNil:
		return -1, nil
	case c >= 0xa0 && c <= 0xbf:
		return int(c & 0x1f), nil
	case c == mpStr8 || c == mpBin8:
		return r.length(1)
	case c == mpStr16 || c == mpBin16:
		return r.length(2)
	case c == mpStr32 || c == mpBin32:
		return r.length(4)
	}
	return 0, badCode(c, "string/bytes length")
}

// bytes reads a str or bin value in place: nil for nil, else a
// sub-slice of the input (empty, not nil, for length 0).
func (r *reader) bytes() ([]byte, error) {
	c, err := r.code()
	if err != nil {
		return nil, err
	}
	n, err := r.bytesLen(c)
	if err != nil || n < 0 {
		return nil, err
	}
	return r.next(n)
}

// aliasStr reads a str or bin value as a string sharing the input's
// bytes ("" for nil). Whoever keeps it beyond the entry must clone it.
func (r *reader) aliasStr() (string, error) {
	b, err := r.bytes()
	if err != nil || len(b) == 0 {
		return "", err
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

// int64 reads an integer as msgpack's DecodeInt64 does: nil is 0, any int
// or uint code is accepted (uint64 wraps), floats are not. Its uint64
// conversion is what msgpack's DecodeUint64 returns.
func (r *reader) int64() (int64, error) {
	c, err := r.code()
	if err != nil {
		return 0, err
	}
	if c <= 0x7f || c >= 0xe0 {
		return int64(int8(c)), nil
	}
	switch c {
	case mpNil:
		return 0, nil
	case mpUint8, mpUint16, mpUint32, mpUint64:
		v, err := r.be(1 << (c - mpUint8))
		return int64(v), err
	case mpInt8:
		v, err := r.be(1)
		return int64(int8(v)), err
	case mpInt16:
		v, err := r.be(2)
		return int64(int16(v)), err
	case mpInt32:
		v, err := r.be(4)
		return int64(int32(v)), err
	case mpInt64:
		v, err := r.be(8)
		return int64(v), err
	}
	return 0, badCode(c, "int64")
}

// optInt64 reads a nullable integer into a slot of *buf (allocated once
// per payload, for all its optional integers): nil stays a nil pointer.
func (r *reader) optInt64(buf *[]int64, n int) (*int64, error) {
	if r.i < len(r.b) && r.b[r.i] == mpNil {
		r.i++
		return nil, nil
	}
	v, err := r.int64()
	if err != nil {
		return nil, err
	}
	if len(*buf) == cap(*buf) {
		*buf = make([]int64, 0, n)
	}
	*buf = append(*buf, v)
	return &(*buf)[len(*buf)-1], nil
}

// skip passes over one value of any type, nested values included,
// without recursion: pending counts the values still to pass.
func (r *reader) skip() error {
	for pending := 1; pending > 0; pending-- {
		if pending > len(r.b)-r.i { // every value takes at least a byte
			return errTruncated
		}
		c, _ := r.code()
		n := 0    // bytes to pass
		more := 0 // values to add
		var err error
		switch {
		case c <= 0x7f || c >= 0xe0:
		case c <= 0x8f:
			more = 2 * int(c&0x0f)
		case c <= 0x9f:
			more = int(c & 0x0f)
		case c <= 0xbf:
			n = int(c & 0x1f)
		default:
			switch c {
			case mpNil, mpFalse, mpTrue:
			case mpUint8, mpInt8:
				n = 1
			case mpUint16, mpInt16:
				n = 2
			case mpUint32, mpInt32, mpFloat:
				n = 4
			case mpUint64, mpInt64, mpDouble:
				n = 8
			case mpStr8, mpBin8, mpStr16, mpBin16, mpStr32, mpBin32:
				n, err = r.bytesLen(c)
			case mpArray16:
				more, err = r.length(2)
			case mpArray32:
				more, err = r.length(4)
			case mpMap16, mpMap32:
				more, err = r.length(2 << (c - mpMap16))
				more *= 2
			default:
				if !isExt(c) {
					return fmt.Errorf("msgpack: unknown code %x", c)
				}
				n, err = r.extLen(c)
				n++ // the type byte
			}
		}
		if err != nil {
			return err
		}
		if _, err := r.next(n); err != nil {
			return err
		}
		pending += more
	}
	return nil
}

// raw passes over one value and returns its encoding, in place (nil for
// a nil value, as msgpack's reflection decoder sets a RawMessage field).
func (r *reader) raw() ([]byte, error) {
	start := r.i
	if err := r.skip(); err != nil {
		return nil, err
	}
	if r.i == start+1 && r.b[start] == mpNil {
		return nil, nil
	}
	return r.b[start:r.i:r.i], nil
}

// key reads a map key in place (str, bin or nil).
func (r *reader) key() (string, error) { return r.aliasStr() }

// fields reads a map and calls fn with each key, positioned at its value;
// fn reads or skips the value. The first error ends the map.
func (r *reader) fields(fn func(key string) error) error {
	n, err := r.mapLen()
	for i := 0; i < n && err == nil; i++ {
		var k string
		if k, err = r.key(); err != nil {
			break
		}
		err = fn(k)
	}
	return err
}

// decodeEntry decodes a raft entry's Command in place: Payload and
// RequestID share data, which must stay unmodified while they are used.
func decodeEntry(data []byte) (Command, error) {
	var c Command
	r := reader{b: data}
	err := c.read(&r)
	return c, err
}

// read decodes a Command envelope in place.
func (c *Command) read(r *reader) error {
	return r.fields(func(k string) error {
		var err error
		switch k {
		case "t":
			var v int64
			v, err = r.int64()
			c.Type = CmdType(uint16(v))
		case "n":
			c.Now, err = r.int64()
		case "r":
			c.RequestID, err = r.aliasStr()
		case "p":
			c.Payload, err = r.raw()
		default:
			err = r.skip()
		}
		return err
	})
}

// decodeCommandCopy is DecodeCommand: decodeEntry, then the payload and
// request id copied so that the Command does not share b.
func decodeCommandCopy(b []byte) (*Command, error) {
	c, err := decodeEntry(b)
	if err != nil {
		return nil, err
	}
	c.RequestID = strings.Clone(c.RequestID)
	c.Payload = bytes.Clone(c.Payload)
	return &c, nil
}

// decodeInPlace decodes a Batch; every inner command shares data.
func (b *Batch) decodeInPlace(data []byte) error {
	r := reader{b: data}
	return r.fields(func(k string) error {
		if k != "c" {
			return r.skip()
		}
		m, err := r.arrayLen()
		if err != nil || m < 0 {
			b.Commands = nil
			return err
		}
		b.Commands = make([]Command, m)
		for j := range b.Commands {
			if err := b.Commands[j].read(&r); err != nil {
				return err
			}
		}
		return nil
	})
}

// decodeInPlace decodes a MessagesPost: strings share data, each body is
// a copy of its own (the stored message keeps it).
func (p *MessagesPost) decodeInPlace(data []byte) error {
	r := reader{b: data}
	return r.fields(func(k string) error {
		var err error
		switch k {
		case "p":
			p.Project, err = r.aliasStr()
		case "q":
			p.Queue, err = r.aliasStr()
		case "c":
			p.ClientID, err = r.aliasStr()
		case "m":
			p.Messages, err = r.newMessages()
		default:
			err = r.skip()
		}
		return err
	})
}

// newMessages reads an array of NewMessage (nil for nil).
func (r *reader) newMessages() ([]NewMessage, error) {
	n, err := r.arrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	out := make([]NewMessage, n)
	var ints []int64 // the TTLs and delays given, 2n at most
	for j := range out {
		m := &out[j]
		err := r.fields(func(key string) error {
			var err error
			switch key {
			case "b":
				var b []byte
				b, err = r.bytes()
				m.Body = bytes.Clone(b)
			case "t":
				m.TTL, err = r.optInt64(&ints, 2*n)
			case "d":
				m.Delay, err = r.optInt64(&ints, 2*n)
			default:
				err = r.skip()
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeInPlace decodes a ClaimCreate.
func (p *ClaimCreate) decodeInPlace(data []byte) error {
	r := reader{b: data}
	return r.fields(func(k string) error {
		var err error
		var v int64
		switch k {
		case "p":
			p.Project, err = r.aliasStr()
		case "q":
			p.Queue, err = r.aliasStr()
		case "l":
			v, err = r.int64()
			p.Limit = int(v)
		case "t":
			p.TTL, err = r.int64()
		case "g":
			p.Grace, err = r.int64()
		default:
			err = r.skip()
		}
		return err
	})
}

// decodeInPlace decodes a MessageDelete.
func (p *MessageDelete) decodeInPlace(data []byte) error {
	r := reader{b: data}
	return r.fields(func(k string) error {
		var err error
		switch k {
		case "p":
			p.Project, err = r.aliasStr()
		case "q":
			p.Queue, err = r.aliasStr()
		case "i":
			p.ID, err = r.aliasStr()
		case "c":
			p.ClaimID, err = r.aliasStr()
		default:
			err = r.skip()
		}
		return err
	})
}

// decodeInPlace decodes a MessagesDelete.
func (p *MessagesDelete) decodeInPlace(data []byte) error {
	r := reader{b: data}
	return r.fields(func(k string) error {
		var err error
		switch k {
		case "p":
			p.Project, err = r.aliasStr()
		case "q":
			p.Queue, err = r.aliasStr()
		case "i":
			p.IDs, err = r.strings()
		case "c":
			p.ClaimIDs, err = r.strings()
		default:
			err = r.skip()
		}
		return err
	})
}

// strings reads an array of strings in place (nil for nil).
func (r *reader) strings() ([]string, error) {
	n, err := r.arrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	out := make([]string, n)
	for j := range out {
		if out[j], err = r.aliasStr(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
