package fsm

import (
	"encoding/json"
	"reflect"
	"sort"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// msgpack encodes Go maps in iteration order, which is random, and its
// SetSortMapKeys option only covers a few map types. Metadata maps
// (map[string]json.RawMessage) appear in commands, results, dedupe entries
// and snapshots, so this package registers an encoder that writes their keys
// sorted: equal values always encode to equal bytes (digests over results,
// byte-identical snapshots of equal states). Decoding is msgpack's default.
func init() {
	msgpack.Register(map[string]json.RawMessage(nil), encodeMetaSorted, nil)
}

func encodeMetaSorted(e *msgpack.Encoder, v reflect.Value) error {
	if v.IsNil() {
		return e.EncodeNil()
	}
	m := v.Interface().(map[string]json.RawMessage)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := e.EncodeMapLen(len(keys)); err != nil {
		return err
	}
	for _, k := range keys {
		if err := e.EncodeString(k); err != nil {
			return err
		}
		if err := e.EncodeBytes(m[k]); err != nil {
			return err
		}
	}
	return nil
}

// The decoders below are reflection-free msgpack.CustomDecoder
// implementations for Command, MessagesPost and NewMessage, used whenever
// msgpack.Unmarshal decodes those types. ApplyEntry and DecodeCommand do
// not use them: they decode in place (decode.go). They read exactly the
// format that msgpack's reflection encoder writes for the struct tags in
// command.go (a map keyed by tag, fields in any order, unknown keys
// skipped, omitted fields left zero), so encoders stay generic. Tested
// against reflection decoding in codec_test.go.

// DecodeMsgpack implements msgpack.CustomDecoder for Command.
func (c *Command) DecodeMsgpack(d *msgpack.Decoder) error {
	*c = Command{}
	return decodeFields(d, func(key string) error {
		var err error
		switch key {
		case "t":
			var v uint16
			v, err = d.DecodeUint16()
			c.Type = CmdType(v)
		case "n":
			c.Now, err = d.DecodeInt64()
		case "r":
			c.RequestID, err = d.DecodeString()
		case "p":
			c.Payload, err = d.DecodeRaw()
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder for MessagesPost.
func (p *MessagesPost) DecodeMsgpack(d *msgpack.Decoder) error {
	*p = MessagesPost{}
	return decodeFields(d, func(key string) error {
		var err error
		switch key {
		case "p":
			p.Project, err = d.DecodeString()
		case "q":
			p.Queue, err = d.DecodeString()
		case "c":
			p.ClientID, err = d.DecodeString()
		case "m":
			var n int
			if n, err = d.DecodeArrayLen(); err != nil || n < 0 {
				return err
			}
			p.Messages = make([]NewMessage, n)
			for i := range p.Messages {
				if err = p.Messages[i].DecodeMsgpack(d); err != nil {
					return err
				}
			}
		default:
			err = d.Skip()
		}
		return err
	})
}

// DecodeMsgpack implements msgpack.CustomDecoder for NewMessage.
func (m *NewMessage) DecodeMsgpack(d *msgpack.Decoder) error {
	*m = NewMessage{}
	return decodeFields(d, func(key string) error {
		var err error
		switch key {
		case "b":
			var b []byte
			b, err = d.DecodeBytes()
			m.Body = b
		case "t":
			m.TTL, err = decodeOptInt64(d)
		case "d":
			m.Delay, err = decodeOptInt64(d)
		default:
			err = d.Skip()
		}
		return err
	})
}

// decodeFields reads a msgpack map with string keys, calling field for each
// key with the decoder positioned at its value. A nil map decodes as empty.
func decodeFields(d *msgpack.Decoder, field func(key string) error) error {
	n, err := d.DecodeMapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		key, err := d.DecodeString()
		if err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
	}
	return nil
}

// decodeOptInt64 decodes a nullable int64 (nil -> nil pointer).
func decodeOptInt64(d *msgpack.Decoder) (*int64, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	if c == msgpcode.Nil {
		return nil, d.DecodeNil()
	}
	v, err := d.DecodeInt64()
	if err != nil {
		return nil, err
	}
	return &v, nil
}
