package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/herald-mq/herald/fsm"
)

// Reference implementations: the encoding/json-based code the hand-written
// decoders and encoders replaced, kept verbatim as the oracle of
// differential_test.go. Do not "improve" them: their behaviour is the
// contract.

// refCheckDocument is checkDocument on json.Decoder.Token.
func refCheckDocument(b []byte) (docKind, *apiError) {
	if len(b) == 0 {
		return 0, badBody(descBodyEmpty)
	}
	if !utf8.Valid(b) {
		return 0, badBody(descBodyParse)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return 0, badBody(descBodyParse)
	}
	top, ok := tok.(json.Delim)
	if !ok || (top != '{' && top != '[') {
		return 0, badBody(descBodyParse)
	}
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return 0, badBody(descBodyParse)
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				if depth++; depth > maxJSONDepth {
					return 0, badBody(descBodyParse)
				}
			} else {
				depth--
			}
		case json.Number:
			if isIntLiteral(string(t)) {
				if _, err := strconv.ParseInt(string(t), 10, 64); err != nil {
					return 0, badBody(descIntTooLarge)
				}
			}
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, badBody(descBodyParse)
	}
	return docKind(top), nil
}

// refDecodeObject is decodeObject on refCheckDocument.
func refDecodeObject(b []byte) (map[string]json.RawMessage, *apiError) {
	kind, err := refCheckDocument(b)
	if err != nil {
		return nil, err
	}
	if kind != docObject {
		return nil, badBody(descDocType)
	}
	var m map[string]json.RawMessage
	if e := json.Unmarshal(b, &m); e != nil {
		return nil, badBody(descBodyParse)
	}
	return m, nil
}

// refDecodeMessagesPost is decodeMessagesPost on maps of RawMessage.
func refDecodeMessagesPost(b []byte, delayEnabled bool) ([]fsm.NewMessage, *apiError) {
	kind, err := refCheckDocument(b)
	if err != nil {
		return nil, err
	}
	if kind != docObject {
		return nil, badAPI("No messages were found in the request body.")
	}
	var doc map[string]json.RawMessage
	if e := json.Unmarshal(b, &doc); e != nil {
		return nil, badBody(descBodyParse)
	}
	rawMsgs, ok := doc["messages"]
	if !ok {
		return nil, badAPI("No messages were found in the request body.")
	}
	if rawKind(rawMsgs) != '[' {
		return nil, badBody(descDocType)
	}
	var items []json.RawMessage
	if e := json.Unmarshal(rawMsgs, &items); e != nil {
		return nil, badBody(descBodyParse)
	}
	msgs := make([]fsm.NewMessage, 0, len(items))
	for _, item := range items {
		if rawKind(item) != '{' {
			return nil, badBody(descDocType)
		}
		var obj map[string]json.RawMessage
		if e := json.Unmarshal(item, &obj); e != nil {
			return nil, badBody(descBodyParse)
		}
		ttl, aerr := intField(obj, "ttl", nil)
		if aerr != nil {
			return nil, aerr
		}
		body, ok := obj["body"]
		if !ok {
			return nil, badBody("Missing \"body\" field.")
		}
		m := fsm.NewMessage{Body: body, TTL: ttl}
		if delayEnabled {
			if m.Delay, aerr = intField(obj, "delay", nil); aerr != nil {
				return nil, aerr
			}
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil, badAPI("No messages to enqueu.")
	}
	for _, m := range msgs {
		if m.TTL != nil && (*m.TTL < fsm.MinMessageTTL || *m.TTL > fsm.MaxMessageTTL) {
			return nil, badAPI("The TTL for a message may not exceed %d seconds, and must be at least %d seconds long.",
				fsm.MaxMessageTTL, fsm.MinMessageTTL)
		}
		if m.Delay != nil && (*m.Delay < 0 || *m.Delay > fsm.MaxMessageDelay) {
			return nil, badAPI("The Delay TTL for a message may not exceed %d seconds,and must be at least %d seconds long.",
				fsm.MaxMessageDelay, 0)
		}
	}
	return msgs, nil
}

// refDecodeClaimBody is decodeClaimBody on refDecodeObject.
func refDecodeClaimBody(b []byte, required bool) (claimBody, *apiError) {
	out := claimBody{TTL: fsm.DefaultClaimTTL, Grace: fsm.DefaultClaimGrace}
	if len(b) == 0 && !required {
		return out, nil
	}
	obj, err := refDecodeObject(b)
	if err != nil {
		return out, err
	}
	ttl, err := intField(obj, "ttl", &out.TTL)
	if err != nil {
		return out, err
	}
	grace, err := intField(obj, "grace", &out.Grace)
	if err != nil {
		return out, err
	}
	return claimBody{TTL: *ttl, Grace: *grace}, nil
}

// refWriteJSON is writeJSON without pooling or hand encoding.
func refWriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(&buf).Encode(errBody{Title: titleInternal, Description: "encoding the response failed"})
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
