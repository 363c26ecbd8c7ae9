package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"

	"github.com/vmihailenco/msgpack/v5"
)

// Digest returns a hex SHA-256 over a canonical traversal of the state:
// counters, then projects and queues sorted by name (metadata sorted by
// key, messages in id order, claims in id order), then the dedupe window
// oldest first. Derived indexes are not included. Two replicas that applied
// the same log, or one restored from the other's snapshot, have equal
// digests.
func (f *FSM) Digest() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.digest()
}

// digester writes length-prefixed fields so that distinct states can never
// produce the same byte stream.
type digester struct {
	h   hash.Hash
	buf [8]byte
}

func (d *digester) u64(v uint64) {
	binary.BigEndian.PutUint64(d.buf[:], v)
	d.h.Write(d.buf[:])
}

func (d *digester) i64(v int64) { d.u64(uint64(v)) }

func (d *digester) bytes(b []byte) {
	d.u64(uint64(len(b)))
	d.h.Write(b)
}

func (d *digester) str(s string) {
	d.u64(uint64(len(s)))
	d.h.Write([]byte(s))
}

func (d *digester) msg(m *Message) {
	d.str(m.ID)
	d.bytes(m.Body)
	d.i64(m.TTL)
	d.i64(m.Created)
	d.i64(m.Expires)
	d.i64(m.AvailableAt)
	d.str(m.ClientID)
	d.str(m.ClaimID)
	d.i64(m.ClaimExpires)
	d.i64(int64(m.ClaimCount))
}

func (s *state) digest() string {
	d := &digester{h: sha256.New()}
	d.str("herald-fsm-digest-v1")
	d.u64(s.applied)
	d.i64(s.lastNow)
	d.i64(s.bodyBytes)
	pids := s.sortedProjects()
	d.u64(uint64(len(pids)))
	for _, pid := range pids {
		p := s.projects[pid]
		d.str(pid)
		d.u64(uint64(len(p.queues)))
		p.order.Ascend(func(q *queue) bool {
			d.str(q.name)
			keys := make([]string, 0, len(q.meta))
			for k := range q.meta {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			d.u64(uint64(len(keys)))
			for _, k := range keys {
				d.str(k)
				d.bytes(q.meta[k])
			}
			d.u64(uint64(q.msgs.Len()))
			q.msgs.Ascend(func(m *Message) bool {
				d.msg(m)
				return true
			})
			ids := make([]string, 0, len(q.claims))
			for id := range q.claims {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			d.u64(uint64(len(ids)))
			for _, id := range ids {
				cl := q.claims[id]
				d.str(cl.ID)
				d.i64(cl.TTL)
				d.i64(cl.Grace)
				d.i64(cl.Updated)
				d.i64(cl.Expires)
				d.u64(uint64(len(cl.MsgIDs)))
				for _, mid := range cl.MsgIDs {
					d.str(mid)
				}
			}
			return true
		})
	}
	entries := s.dedupe.entries()
	d.u64(uint64(len(entries)))
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	for _, e := range entries {
		d.str(e.id)
		buf.Reset()
		if err := enc.Encode(e.res); err != nil {
			d.str("unencodable result: " + err.Error())
			continue
		}
		d.bytes(buf.Bytes())
	}
	return hex.EncodeToString(d.h.Sum(nil))
}
