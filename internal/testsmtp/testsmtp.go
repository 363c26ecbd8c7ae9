// Package testsmtp holds what the test SMTP servers of dispatcher/notify and
// testcluster share: reading a received message the way a mail client
// shows it.
package testsmtp

import (
	"io"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
)

// ReadMessage parses one message received in an SMTP DATA command and
// returns its header and its text body, quoted-printable decoded when the
// message says so, without trailing line breaks.
func ReadMessage(r io.Reader) (netmail.Header, string, error) {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return nil, "", err
	}
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, "", err
	}
	return msg.Header, strings.TrimRight(string(b), "\r\n"), nil
}
