package fsm

import (
	"fmt"
	"sort"
	"testing"
	"unsafe"
)

// checkTree verifies a msgTree's structure and summaries: ids strictly
// increasing, separator keys bounding their children, free counts and
// earliest expiries exact, node sizes within bounds, no empty node below
// the root, all leaves at one depth, and the count.
func checkTree(tb testing.TB, t *msgTree) {
	tb.Helper()
	if t.root == nil {
		if t.n != 0 {
			tb.Fatalf("empty tree counts %d", t.n)
		}
		return
	}
	leafDepth := -1
	count := 0
	var last *mid
	var walk func(n *mnode, depth int, isRoot bool) (free int, lo int64, first, lastID mid)
	walk = func(n *mnode, depth int, isRoot bool) (free int, lo int64, first, lastID mid) {
		lo = maxInt64
		if n.size() == 0 && !isRoot {
			tb.Fatal("empty node below the root")
		}
		if n.leaf() {
			if leafDepth == -1 {
				leafDepth = depth
			} else if leafDepth != depth {
				tb.Fatalf("leaves at depths %d and %d", leafDepth, depth)
			}
			if len(n.items) > leafCap {
				tb.Fatalf("leaf holds %d", len(n.items))
			}
			for i := range n.items {
				m := &n.items[i]
				id := m.id()
				if last != nil && !last.less(id) {
					tb.Fatalf("ids out of order: %v then %v", *last, id)
				}
				last = &id
				if !m.claimed {
					free++
				}
				lo = min(lo, m.expires)
				count++
			}
			if len(n.items) > 0 {
				first, lastID = n.items[0].id(), n.items[len(n.items)-1].id()
			}
		} else {
			if len(n.kids) > innerCap || len(n.keys) != len(n.kids) || len(n.kmin) != len(n.kids) {
				tb.Fatalf("inner node with %d kids, %d keys, %d mins", len(n.kids), len(n.keys), len(n.kmin))
			}
			for i, k := range n.kids {
				f, m, kf, kl := walk(k, depth+1, false)
				if n.kmin[i] != m || k.min != m || k.free != f {
					tb.Fatalf("child %d summaries: kmin %d min %d free %d, computed %d %d", i, n.kmin[i], k.min, k.free, m, f)
				}
				if kf.less(n.keys[i]) || (i > 0 && !lastID.less(n.keys[i])) {
					tb.Fatalf("key %v does not separate %v..%v from its left", n.keys[i], kf, kl)
				}
				if i == 0 {
					first = kf
				}
				lastID = kl
				free += f
				lo = min(lo, m)
			}
		}
		if n.free != free || n.min != lo {
			tb.Fatalf("node summaries free %d min %d, computed %d %d", n.free, n.min, free, lo)
		}
		return free, lo, first, lastID
	}
	walk(t.root, 0, true)
	if count != t.n {
		tb.Fatalf("tree counts %d, holds %d", t.n, count)
	}
}

// treeModel is the reference a msgTree is compared with: the messages
// sorted by id.
type treeModel []msg

func (mo treeModel) find(id mid) (int, bool) {
	i := sort.Search(len(mo), func(i int) bool { return !mo[i].id().less(id) })
	return i, i < len(mo) && mo[i].id() == id
}

func (mo *treeModel) put(m msg) {
	i, found := mo.find(m.id())
	if found {
		(*mo)[i] = m
		return
	}
	*mo = append(*mo, msg{})
	copy((*mo)[i+1:], (*mo)[i:])
	(*mo)[i] = m
}

func (mo *treeModel) del(id mid) {
	if i, found := mo.find(id); found {
		*mo = append((*mo)[:i], (*mo)[i+1:]...)
	}
}

// compareTree checks every query of t against the model.
func compareTree(tb testing.TB, t *msgTree, want treeModel, rng *prng) {
	tb.Helper()
	i := 0
	t.ascend(mid{}, func(m *msg) bool {
		if i >= len(want) || *m != want[i] {
			tb.Fatalf("ascend: message %d differs", i)
		}
		i++
		return true
	})
	if i != len(want) || t.Len() != len(want) {
		tb.Fatalf("ascend: %d messages (Len %d), want %d", i, t.Len(), len(want))
	}
	t.descend(func(m *msg) bool {
		i--
		if m.id() != want[i].id() {
			tb.Fatal("descend order")
		}
		return true
	})
	j := 0
	t.ascendFree(func(m *msg) bool {
		for j < len(want) && want[j].claimed {
			j++
		}
		if j == len(want) || m.id() != want[j].id() {
			tb.Fatalf("ascendFree: %v is not the next free message", m.id())
		}
		j++
		return true
	})
	for ; j < len(want); j++ {
		if !want[j].claimed {
			tb.Fatalf("ascendFree missed %v", want[j].id())
		}
	}
	if len(want) > 0 {
		best := want[0]
		for _, m := range want {
			if m.expires < best.expires {
				best = m
			}
		}
		if at, _ := t.minExp(); at != best.expires {
			tb.Fatalf("minExp %d, want %d", at, best.expires)
		}
		if id, _ := t.minExpID(); id != best.id() {
			tb.Fatalf("minExpID %v, want %v", id, best.id())
		}
		now := want[rng.intn(len(want))].expires
		n := 0
		for _, m := range want {
			if m.expires <= now {
				n++
			}
		}
		if c := t.countExpired(now); c != n {
			tb.Fatalf("countExpired %d, want %d", c, n)
		}
		from := want[rng.intn(len(want))].id()
		from.n += uint32(rng.intn(2)) // sometimes an absent id
		var page []mid
		t.ascend(from, func(m *msg) bool { page = append(page, m.id()); return len(page) < 5 })
		k, _ := want.find(from)
		var wantPage []mid
		for ; k < len(want) && len(wantPage) < 5; k++ {
			wantPage = append(wantPage, want[k].id())
		}
		if fmt.Sprint(page) != fmt.Sprint(wantPage) {
			tb.Fatalf("ascend from %v: %v, want %v", from, page, wantPage)
		}
		for k := 0; k < 20; k++ {
			m := want[rng.intn(len(want))]
			if g, ok := t.get(m.id()); !ok || *g != m {
				tb.Fatalf("get %v", m.id())
			}
		}
	} else if _, ok := t.minExp(); ok {
		tb.Fatal("minExp of an empty tree")
	}
	if _, ok := t.get(mid{idx: 1 << 60}); ok {
		tb.Fatal("get of an absent id")
	}
	checkTree(tb, t)
}

// TestMsgTreeRandom drives msgTrees with random appends (and some
// out-of-order inserts), deletes and updates, compares them with a sorted
// slice, and checks that clones taken along the way never change.
func TestMsgTreeRandom(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := &prng{s: seed}
			tr, mo := newMsgTree(), treeModel{}
			type frozen struct {
				t  *msgTree
				mo treeModel
			}
			var clones []frozen
			next := uint64(1)
			for step := 0; step < 6000; step++ {
				phase := (step / 1500) % 2 // grow, then mostly shrink
				switch op := rng.intn(10); {
				case op < 5-3*phase || len(mo) == 0:
					n := 1 + rng.intn(24)
					for i := 0; i < n; i++ {
						id := mid{next, uint32(i)}
						if rng.intn(20) == 0 && len(mo) > 0 { // out of order, between existing ids
							id = mo[rng.intn(len(mo))].id()
							id.n += 1 + uint32(rng.intn(1000))
							if _, dup := mo.find(id); dup || id.idx == next {
								continue
							}
						}
						m := msg{idx: id.idx, n: id.n, expires: int64(rng.intn(500)), body: "b"}
						if rng.intn(4) == 0 {
							m.setClaim(mid{next, 999}, 5)
						}
						tr.insert(m)
						mo.put(m)
					}
					next++
				case op < 8:
					n := 1 + rng.intn(30)
					for i := 0; i < n && len(mo) > 0; i++ {
						j := 0 // FIFO
						if rng.intn(2) == 0 {
							j = rng.intn(len(mo))
						}
						want := mo[j]
						got, ok := tr.remove(want.id())
						if !ok || got != want {
							t.Fatalf("remove %v: %v %v", want.id(), ok, got)
						}
						mo.del(want.id())
					}
					if _, ok := tr.remove(mid{idx: 1 << 62}); ok {
						t.Fatal("removed an absent id")
					}
				default:
					m := mo[rng.intn(len(mo))]
					exp, claim := int64(rng.intn(500)), rng.intn(2) == 0
					change := func(m *msg) {
						m.expires = exp
						if claim {
							m.setClaim(mid{7, 7}, 9)
						} else {
							m.clearClaim()
						}
					}
					tr.update(m.id(), change)
					change(&m)
					mo.put(m)
				}
				if step%25 == 0 {
					compareTree(t, tr, mo, rng)
				}
				if step%500 == 250 {
					clones = append(clones, frozen{tr.clone(), append(treeModel(nil), mo...)})
				}
			}
			compareTree(t, tr, mo, rng)
			for _, c := range clones {
				compareTree(t, c.t, c.mo, rng)
			}
		})
	}
}

// TestMsgTreeFill checks that appends fill leaves completely and that FIFO
// deletes release the emptied leaves.
func TestMsgTreeFill(t *testing.T) {
	tr := newMsgTree()
	const n = 100 * leafCap * innerCap / 10
	for i := 0; i < n; i++ {
		tr.insert(msg{idx: uint64(i + 1), expires: int64(i)})
	}
	checkTree(t, tr)
	leaves, items := 0, 0
	var walk func(*mnode)
	walk = func(nd *mnode) {
		if nd.leaf() {
			leaves++
			items += cap(nd.items)
			return
		}
		for _, k := range nd.kids {
			walk(k)
		}
	}
	walk(tr.root)
	if want := (n + leafCap - 1) / leafCap; leaves != want || items > n+leafCap {
		t.Fatalf("%d messages in %d leaves with room for %d; want %d leaves", n, leaves, items, want)
	}
	for i := 0; i < n-1; i++ {
		if id, _ := tr.minExpID(); id.idx != uint64(i+1) {
			t.Fatalf("minExpID %v at %d", id, i)
		}
		tr.remove(mid{idx: uint64(i + 1)})
	}
	checkTree(t, tr)
	if tr.Len() != 1 || !tr.root.leaf() || cap(tr.root.items) > leafCap {
		t.Fatalf("one message left in a tree of %d, leaf root %v", tr.Len(), tr.root.leaf())
	}
}

// TestMsgTreeSparseDeletes checks that deleting most messages in a
// scattered pattern merges leaves, so memory follows the live count.
func TestMsgTreeSparseDeletes(t *testing.T) {
	tr := newMsgTree()
	const n = 64 * leafCap
	for i := 0; i < n; i++ {
		tr.insert(msg{idx: uint64(i + 1)})
	}
	for i := 0; i < n; i++ {
		if i%16 != 0 {
			tr.remove(mid{idx: uint64(i + 1)})
		}
	}
	checkTree(t, tr)
	slots := 0
	var walk func(*mnode)
	walk = func(nd *mnode) {
		if nd.leaf() {
			slots += cap(nd.items)
			return
		}
		for _, k := range nd.kids {
			walk(k)
		}
	}
	walk(tr.root)
	if live := tr.Len(); slots > 4*live {
		t.Fatalf("%d live messages hold %d leaf slots", live, slots)
	}
}

func TestParseID(t *testing.T) {
	for _, id := range []mid{{}, {1, 0}, {0xfedcba9876543210, 0xffffffff}, {42, 7}} {
		s := id.String()
		if back, ok := parseID(s); !ok || back != id || s != formatID(id.idx, id.n) || string(appendID(nil, id)) != s {
			t.Fatalf("%v -> %q -> %v", id, s, back)
		}
	}
	for _, bad := range []string{"", "xyz", "0000000000000000000000000", "00000000000000000000000G", "00000000000000000000000A"} {
		if _, ok := parseID(bad); ok {
			t.Fatalf("parsed %q", bad)
		}
	}
}

// TestMsgSize guards the stored message's layout (fsm/DESIGN.md, "Memory
// layout"): every byte here is paid once per stored message.
func TestMsgSize(t *testing.T) {
	if got := unsafe.Sizeof(msg{}); got != 96 {
		t.Fatalf("msg is %d bytes, want 96", got)
	}
	if got := unsafe.Sizeof(msg{}) * leafCap; got != 3072 { // a size class: no slack per leaf
		t.Fatalf("a full leaf is %d bytes", got)
	}
}
