package notify

// verifyHeraldSignature is the receiver-side check published in
// docs/WEBHOOKS.md, kept here verbatim so the snippet is compiled and
// exercised by the signature round-trip test.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// verifyHeraldSignature checks a Herald webhook request. body must be the
// raw request body, exactly as received.
func verifyHeraldSignature(secret []byte, h http.Header, body []byte, now time.Time, maxAge time.Duration) error {
	ts := h.Get("X-Herald-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("missing or malformed X-Herald-Timestamp")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxAge || age < -maxAge {
		return errors.New("X-Herald-Timestamp too old (or too far in the future)")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := []byte("v1=" + hex.EncodeToString(mac.Sum(nil)))
	// The header may list several signatures, comma-separated; one valid
	// v1 signature is enough.
	for _, sig := range strings.Split(h.Get("X-Herald-Signature"), ",") {
		if hmac.Equal([]byte(strings.TrimSpace(sig)), want) {
			return nil
		}
	}
	return errors.New("X-Herald-Signature does not match")
}
