package fsm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// Shadow types with the same tags but no custom decoders: msgpack decodes
// them by reflection, the reference the fast paths must match.
type (
	refCommand struct {
		Type      CmdType            `msgpack:"t"`
		Now       int64              `msgpack:"n"`
		RequestID string             `msgpack:"r,omitempty"`
		Payload   msgpack.RawMessage `msgpack:"p,omitempty"`
	}
	refNewMessage struct {
		Body  json.RawMessage `msgpack:"b"`
		TTL   *int64          `msgpack:"t,omitempty"`
		Delay *int64          `msgpack:"d,omitempty"`
	}
	refMessagesPost struct {
		Project  string          `msgpack:"p"`
		Queue    string          `msgpack:"q"`
		ClientID string          `msgpack:"c"`
		Messages []refNewMessage `msgpack:"m"`
	}
)

func TestFastDecodersMatchReflection(t *testing.T) {
	posts := []*MessagesPost{
		{},
		{Project: "p", Queue: "q", ClientID: "c", Messages: []NewMessage{}},
		postPayload("q", 3),
		{Project: "p", Queue: "q", Messages: []NewMessage{
			{Body: json.RawMessage(`null`), TTL: i64(0), Delay: i64(-5)},
			{Body: nil, TTL: i64(1 << 40)},
			{Body: json.RawMessage(``), Delay: i64(900)},
		}},
	}
	for i, p := range posts {
		data, err := msgpack.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var fast MessagesPost
		var ref refMessagesPost
		if err := msgpack.Unmarshal(data, &fast); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		if err := msgpack.Unmarshal(data, &ref); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
		if !equalViaJSON(t, fast, ref) {
			t.Fatalf("post %d: fast %+v, reflection %+v", i, fast, ref)
		}
		cmd := Command{Type: CmdMessagesPost | CmdOptionalBit, Now: -7, RequestID: "r", Payload: data}
		cdata, _ := msgpack.Marshal(&cmd)
		var fc Command
		var rc refCommand
		if err := msgpack.Unmarshal(cdata, &fc); err != nil {
			t.Fatal(err)
		}
		if err := msgpack.Unmarshal(cdata, &rc); err != nil {
			t.Fatal(err)
		}
		if fc.Type != rc.Type || fc.Now != rc.Now || fc.RequestID != rc.RequestID || !bytes.Equal(fc.Payload, rc.Payload) {
			t.Fatalf("command: fast %+v, reflection %+v", fc, rc)
		}
	}

	// Hand-built maps: other key order, unknown keys, explicit nils.
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	_ = enc.EncodeMapLen(4)
	_ = enc.EncodeString("zz")
	_ = enc.Encode(map[string]any{"nested": []any{1, "x", nil}})
	_ = enc.EncodeString("m")
	_ = enc.EncodeArrayLen(1)
	_ = enc.EncodeMapLen(3)
	_ = enc.EncodeString("t")
	_ = enc.EncodeNil()
	_ = enc.EncodeString("b")
	_ = enc.EncodeBytes([]byte(`"hi"`))
	_ = enc.EncodeString("d")
	_ = enc.EncodeInt(30)
	_ = enc.EncodeString("q")
	_ = enc.EncodeString("queue")
	_ = enc.EncodeString("c")
	_ = enc.EncodeNil()
	var fast MessagesPost
	var ref refMessagesPost
	if err := msgpack.Unmarshal(buf.Bytes(), &fast); err != nil {
		t.Fatal(err)
	}
	if err := msgpack.Unmarshal(buf.Bytes(), &ref); err != nil {
		t.Fatal(err)
	}
	if !equalViaJSON(t, fast, ref) || fast.Queue != "queue" || *fast.Messages[0].Delay != 30 || fast.Messages[0].TTL != nil {
		t.Fatalf("hand-built: fast %+v, reflection %+v", fast, ref)
	}
	// A nil map decodes to the zero value; garbage is an error.
	if err := msgpack.Unmarshal([]byte{0xc0}, &fast); err != nil || !reflect.DeepEqual(fast, MessagesPost{}) {
		t.Fatalf("nil: %+v %v", fast, err)
	}
	if _, err := DecodeCommand([]byte{0x81, 0xa1, 't'}); err == nil {
		t.Fatal("truncated command decoded")
	}
}

func equalViaJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		// Invalid JSON bodies cannot be marshalled; fall back to msgpack.
		ma, _ := msgpack.Marshal(a)
		mb, _ := msgpack.Marshal(b)
		return bytes.Equal(ma, mb)
	}
	return bytes.Equal(ja, jb)
}
