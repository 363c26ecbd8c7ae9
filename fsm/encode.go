package fsm

import (
	"encoding/binary"
	"errors"
	"math"
)

// Hand-written encoders for the raft entry envelope, the hot path of every
// write: the cluster encodes each command once, in its caller's goroutine,
// and the group committer builds an entry by appending the already encoded
// commands to a batch header instead of re-encoding them through msgpack's
// reflection. The bytes are msgpack that msgpack.Unmarshal reads into the
// same Command and Batch (encode_test.go checks both directions); integers
// use their shortest encoding, which reflection decoding accepts.

// msgpack fixed-size type codes the encoders write.
const (
	mpPosFixIntMax = 0x7f
	mpFixMapMin    = 0x80
	mpFixArrayMin  = 0x90
	mpFixStrMin    = 0xa0
)

// errTrailing reports bytes after the one value expected.
var errTrailing = errors.New("msgpack: trailing bytes after the command")

// AppendEncode appends the msgpack encoding of c to dst: a map of "t", "n",
// and, when set, "r" and "p" (the Payload verbatim, as a RawMessage).
func (c *Command) AppendEncode(dst []byte) []byte {
	n := 2
	if c.RequestID != "" {
		n++
	}
	if len(c.Payload) > 0 {
		n++
	}
	dst = append(dst, mpFixMapMin|byte(n), mpFixStrMin|1, 't')
	dst = appendInt(dst, int64(c.Type))
	dst = append(dst, mpFixStrMin|1, 'n')
	dst = appendInt(dst, c.Now)
	if c.RequestID != "" {
		dst = append(dst, mpFixStrMin|1, 'r')
		dst = appendStr(dst, c.RequestID)
	}
	if len(c.Payload) > 0 {
		dst = append(dst, mpFixStrMin|1, 'p')
		dst = append(dst, c.Payload...)
	}
	return dst
}

// EncodedBatchOverhead bounds what AppendBatchEntry adds to its commands'
// encodings.
const EncodedBatchOverhead = 32

// AppendBatchEntry appends the encoding of the raft entry that applies cmds
// (each one Command's encoding, as AppendEncode or DecodeCommand's input)
// in order with one Now: a Command of type CmdBatch whose Payload is a
// Batch. The commands are copied verbatim, so they are not re-encoded.
func AppendBatchEntry(dst []byte, now int64, cmds [][]byte) []byte {
	dst = append(dst, mpFixMapMin|3, mpFixStrMin|1, 't')
	dst = appendInt(dst, int64(CmdBatch))
	dst = append(dst, mpFixStrMin|1, 'n')
	dst = appendInt(dst, now)
	dst = append(dst, mpFixStrMin|1, 'p', mpFixMapMin|1, mpFixStrMin|1, 'c')
	dst = appendArrayLen(dst, len(cmds))
	for _, c := range cmds {
		dst = append(dst, c...)
	}
	return dst
}

// DecodeCommandInPlace parses one encoded Command without copying: its
// RequestID and Payload share b, which must stay unmodified while they are
// used. It checks the envelope only, not the payload.
func DecodeCommandInPlace(b []byte) (Command, error) {
	var c Command
	r := reader{b: b}
	err := c.read(&r)
	if err == nil && r.i != len(b) {
		// Trailing bytes mean b was not one Command (two concatenated,
		// say), which would corrupt a batch it is copied into.
		err = errTrailing
	}
	return c, err
}

// AppendStamped appends the encoding of the Command encoded in enc with its
// Now set to now.
func AppendStamped(dst, enc []byte, now int64) ([]byte, error) {
	c, err := DecodeCommandInPlace(enc)
	if err != nil {
		return dst, err
	}
	c.Now = now
	return c.AppendEncode(dst), nil
}

// appendInt appends v in msgpack's shortest integer encoding.
func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= mpPosFixIntMax:
		return append(dst, byte(v))
	case v >= -32 && v < 0:
		return append(dst, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpUint16), uint16(v))
	case v >= 0 && v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(v))
	case v >= math.MinInt8 && v < 0:
		return append(dst, mpInt8, byte(v))
	case v >= math.MinInt16 && v < 0:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(v))
	case v >= math.MinInt32 && v < 0:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(v))
}

// appendStr appends s as a msgpack str.
func appendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n <= 31:
		dst = append(dst, mpFixStrMin|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpStr16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
	}
	return append(dst, s...)
}

// appendArrayLen appends a msgpack array header for n elements.
func appendArrayLen(dst []byte, n int) []byte {
	switch {
	case n <= 15:
		return append(dst, mpFixArrayMin|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpArray32), uint32(n))
}
