package fsm

// msgTree holds one queue's messages: a B+tree keyed by message id whose
// leaves store msg values (no pointer per message), and whose nodes carry
// two summaries of their subtree, so that one structure answers what used
// to need three trees:
//
//   - by id (get, ascend from a marker, descend): O(log n) + O(page);
//   - free: the number of messages without a claim, so claim candidates are
//     found in id order without visiting claimed messages (ascendFree);
//   - min: the earliest expiry, so the next message to expire (minExpID,
//     ties by id) and the queue's next due time (minExp) cost O(log n).
//
// New ids are always the largest in the state (they are minted from the raft
// index), so inserts are appends at the right edge: a full rightmost node
// is not halved but gets a new right sibling, which keeps leaves full.
// Deletes merge a node that falls under a quarter full into a neighbour when
// both fit in one, and shrink an emptied leaf's array, so memory per stored
// message stays bounded whatever the delete pattern.
//
// Copy-on-write as in github.com/google/btree: every node records the
// context of the tree allowed to modify it in place; clone gives both trees
// new contexts, so either copies a node before its first change. A snapshot
// therefore takes an O(1) clone and later Applies copy only the nodes they
// touch. A tree is not safe for concurrent use; a clone may be read while
// its origin is modified.

const (
	leafCap  = 32 // messages per leaf: 32 × 96 bytes, one 3 KiB array when full
	innerCap = 64 // children per inner node
	maxInt64 = 1<<63 - 1
)

// cowCtx identifies the tree that may modify a node in place (non-empty, so
// that distinct contexts have distinct addresses).
type cowCtx struct{ _ byte }

// mnode is a leaf (kids == nil) or an inner node.
type mnode struct {
	cow   *cowCtx
	items []msg    // leaf: messages in id order
	kids  []*mnode // inner: children in id order
	keys  []mid    // inner: keys[i] <= every id in kids[i] and > every id in kids[i-1]
	kmin  []int64  // inner: kmin[i] == kids[i].min
	free  int      // messages without a claim in the subtree
	min   int64    // earliest expiry in the subtree; maxInt64 when empty
}

// msgTree is an ordered set of messages; see the comment at the top.
type msgTree struct {
	root *mnode
	cow  *cowCtx
	n    int
}

func newMsgTree() *msgTree { return &msgTree{cow: new(cowCtx)} }

// Len returns the number of messages.
func (t *msgTree) Len() int { return t.n }

// free returns the number of messages without a claim.
func (t *msgTree) free() int {
	if t.root == nil {
		return 0
	}
	return t.root.free
}

// clone returns a copy of t sharing all nodes; both copy on write from now.
func (t *msgTree) clone() *msgTree {
	c := *t
	t.cow, c.cow = new(cowCtx), new(cowCtx)
	return &c
}

func (n *mnode) leaf() bool { return n.kids == nil }

func (n *mnode) size() int {
	if n.leaf() {
		return len(n.items)
	}
	return len(n.kids)
}

// firstKey is a lower bound of the ids in n (exact for a leaf).
func (n *mnode) firstKey() mid {
	if n.leaf() {
		return n.items[0].id()
	}
	return n.keys[0]
}

// search returns the position of the first message with id >= id.
func (n *mnode) search(id mid) (int, bool) {
	lo, hi := 0, len(n.items)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if n.items[h].id().less(id) {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return lo, lo < len(n.items) && n.items[lo].id() == id
}

// findKid returns the child whose range holds id.
func (n *mnode) findKid(id mid) int {
	lo, hi := 0, len(n.keys)
	for lo < hi { // first key > id
		h := int(uint(lo+hi) >> 1)
		if id.less(n.keys[h]) {
			hi = h
		} else {
			lo = h + 1
		}
	}
	if lo == 0 {
		return 0
	}
	return lo - 1
}

// fixLeaf recomputes a leaf's summaries.
func (n *mnode) fixLeaf() {
	free, lo := 0, int64(maxInt64)
	for i := range n.items {
		if !n.items[i].claimed {
			free++
		}
		lo = min(lo, n.items[i].expires)
	}
	n.free, n.min = free, lo
}

// fixInner recomputes an inner node's summaries from its children.
func (n *mnode) fixInner() {
	free, lo := 0, int64(maxInt64)
	for i, k := range n.kids {
		free += k.free
		n.kmin[i] = k.min
		lo = min(lo, k.min)
	}
	n.free, n.min = free, lo
}

func minOf(xs []int64) int64 {
	lo := int64(maxInt64)
	for _, x := range xs {
		lo = min(lo, x)
	}
	return lo
}

// mut returns n if t may modify it, else a copy owned by t.
func (t *msgTree) mut(n *mnode) *mnode {
	if n.cow == t.cow {
		return n
	}
	c := &mnode{cow: t.cow, free: n.free, min: n.min}
	if n.leaf() {
		c.items = make([]msg, len(n.items), cap(n.items))
		copy(c.items, n.items)
		return c
	}
	c.kids = append(make([]*mnode, 0, cap(n.kids)), n.kids...)
	c.keys = append(make([]mid, 0, cap(n.keys)), n.keys...)
	c.kmin = append(make([]int64, 0, cap(n.kmin)), n.kmin...)
	return c
}

// get returns the message with id. The pointer is valid until the next
// change of t and must not be written through.
func (t *msgTree) get(id mid) (*msg, bool) {
	n := t.root
	if n == nil {
		return nil, false
	}
	for !n.leaf() {
		n = n.kids[n.findKid(id)]
	}
	i, ok := n.search(id)
	if !ok {
		return nil, false
	}
	return &n.items[i], true
}

// insert adds m; its id must not be stored yet (ids are minted once).
func (t *msgTree) insert(m msg) {
	if t.root == nil {
		t.root = &mnode{cow: t.cow, items: make([]msg, 0, 4), min: maxInt64}
	}
	t.root = t.mut(t.root)
	if sib := t.insertInto(t.root, m); sib != nil {
		old := t.root
		t.root = &mnode{cow: t.cow, kids: []*mnode{old, sib}, keys: []mid{old.firstKey(), sib.firstKey()},
			kmin: []int64{old.min, sib.min}, free: old.free + sib.free, min: min(old.min, sib.min)}
	}
	t.n++
}

// insertInto adds m below the mutable node n and returns n's new right
// sibling when n had to split.
func (t *msgTree) insertInto(n *mnode, m msg) *mnode {
	id := m.id()
	if n.leaf() {
		i, found := n.search(id)
		if found {
			panic("fsm: message id " + id.String() + " stored twice")
		}
		if len(n.items) < leafCap {
			n.items = insertItem(n.items, i, m, leafCap)
			if !m.claimed {
				n.free++
			}
			n.min = min(n.min, m.expires)
			return nil
		}
		sib := &mnode{cow: t.cow}
		if i == len(n.items) { // append at the right edge: start a new leaf
			sib.items = append(make([]msg, 0, leafCap), m)
		} else {
			half := len(n.items) / 2
			sib.items = append(make([]msg, 0, leafCap), n.items[half:]...)
			clear(n.items[half:])
			n.items = n.items[:half]
			if i <= half {
				n.items = insertItem(n.items, i, m, leafCap)
			} else {
				sib.items = insertItem(sib.items, i-half, m, leafCap)
			}
			n.fixLeaf()
		}
		sib.fixLeaf()
		return sib
	}
	i := n.findKid(id)
	kid := t.mut(n.kids[i])
	n.kids[i] = kid
	sib := t.insertInto(kid, m)
	if i == 0 && id.less(n.keys[0]) {
		n.keys[0] = id
	}
	if !m.claimed {
		n.free++
	}
	n.min = min(n.min, m.expires)
	n.kmin[i] = kid.min
	if sib == nil {
		return nil
	}
	n.kids = insertItem(n.kids, i+1, sib, innerCap+1)
	n.keys = insertItem(n.keys, i+1, sib.firstKey(), innerCap+1)
	n.kmin = insertItem(n.kmin, i+1, sib.min, innerCap+1)
	if len(n.kids) <= innerCap {
		return nil
	}
	half := len(n.kids) / 2
	if i+1 == len(n.kids)-1 { // the new child is the rightmost: keep n full
		half = len(n.kids) - 1
	}
	s := &mnode{cow: t.cow,
		kids: append(make([]*mnode, 0, innerCap+1), n.kids[half:]...),
		keys: append(make([]mid, 0, innerCap+1), n.keys[half:]...),
		kmin: append(make([]int64, 0, innerCap+1), n.kmin[half:]...)}
	clear(n.kids[half:])
	n.kids, n.keys, n.kmin = n.kids[:half], n.keys[:half], n.kmin[:half]
	n.fixInner()
	s.fixInner()
	return s
}

// insertItem inserts v at i, growing a full array by doubling, but not
// beyond limit elements unless it must.
func insertItem[T any](s []T, i int, v T, limit int) []T {
	if len(s) == cap(s) {
		c := max(min(max(2*cap(s), 4), limit), len(s)+1)
		ns := make([]T, len(s), c)
		copy(ns, s)
		s = ns
	}
	s = s[:len(s)+1]
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// removeItem removes s[i], zeroing the freed slot.
func removeItem[T any](s []T, i int) []T {
	copy(s[i:], s[i+1:])
	var zero T
	s[len(s)-1] = zero
	return s[:len(s)-1]
}

// remove deletes the message with id and returns it.
func (t *msgTree) remove(id mid) (msg, bool) {
	if _, ok := t.get(id); !ok {
		return msg{}, false
	}
	t.root = t.mut(t.root)
	m := t.removeFrom(t.root, id)
	for t.root != nil {
		if t.root.size() == 0 {
			t.root = nil
		} else if !t.root.leaf() && len(t.root.kids) == 1 {
			t.root = t.root.kids[0]
		} else {
			break
		}
	}
	t.n--
	return m, true
}

// removeFrom deletes id (which is stored) below the mutable node n.
func (t *msgTree) removeFrom(n *mnode, id mid) msg {
	if n.leaf() {
		i, _ := n.search(id)
		m := n.items[i]
		n.items = removeItem(n.items, i)
		if !m.claimed {
			n.free--
		}
		if m.expires == n.min {
			n.fixLeaf()
		}
		if c := cap(n.items); c > 8 && len(n.items) <= c/4 { // give memory back
			n.items = append(make([]msg, 0, 2*len(n.items)), n.items...)
		}
		return m
	}
	i := n.findKid(id)
	kid := t.mut(n.kids[i])
	n.kids[i] = kid
	m := t.removeFrom(kid, id)
	if !m.claimed {
		n.free--
	}
	n.kmin[i] = kid.min
	t.rebalance(n, i)
	n.min = minOf(n.kmin)
	return m
}

// rebalance drops n's child i when it is empty, and merges it with a
// neighbour when it is under a quarter full and both fit in one node.
func (t *msgTree) rebalance(n *mnode, i int) {
	kid := n.kids[i]
	size, limit := kid.size(), innerCap
	if kid.leaf() {
		limit = leafCap
	}
	if size == 0 {
		n.kids, n.keys, n.kmin = removeItem(n.kids, i), removeItem(n.keys, i), removeItem(n.kmin, i)
		return
	}
	if size >= limit/4 || len(n.kids) < 2 {
		return
	}
	l := i
	if i+1 == len(n.kids) {
		l = i - 1
	}
	left, right := n.kids[l], n.kids[l+1]
	if left.size()+right.size() > limit {
		return
	}
	left = t.mut(left)
	if left.leaf() {
		if cap(left.items) < len(left.items)+len(right.items) {
			left.items = append(make([]msg, 0, len(left.items)+len(right.items)), left.items...)
		}
		left.items = append(left.items, right.items...)
	} else {
		left.kids = append(left.kids, right.kids...)
		left.keys = append(left.keys, right.keys...)
		left.kmin = append(left.kmin, right.kmin...)
	}
	left.free += right.free
	left.min = min(left.min, right.min)
	n.kids[l], n.kmin[l] = left, left.min
	n.kids, n.keys, n.kmin = removeItem(n.kids, l+1), removeItem(n.keys, l+1), removeItem(n.kmin, l+1)
}

// update applies fn to the stored message with id; fn must not change the
// id. It reports whether the message exists.
func (t *msgTree) update(id mid, fn func(*msg)) bool {
	if _, ok := t.get(id); !ok {
		return false
	}
	t.root = t.mut(t.root)
	t.updateIn(t.root, id, fn)
	return true
}

// updateIn applies fn below the mutable node n and returns the change of
// the free count.
func (t *msgTree) updateIn(n *mnode, id mid, fn func(*msg)) int {
	if n.leaf() {
		i, _ := n.search(id)
		old := n.items[i]
		m := &n.items[i]
		fn(m)
		if m.id() != id {
			panic("fsm: msgTree.update changed a message id")
		}
		delta := 0
		if old.claimed != m.claimed {
			delta = 1
			if m.claimed {
				delta = -1
			}
		}
		n.free += delta
		if m.expires < n.min {
			n.min = m.expires
		} else if old.expires == n.min && m.expires != old.expires {
			n.fixLeaf()
		}
		return delta
	}
	i := n.findKid(id)
	kid := t.mut(n.kids[i])
	n.kids[i] = kid
	delta := t.updateIn(kid, id, fn)
	n.free += delta
	n.kmin[i] = kid.min
	n.min = minOf(n.kmin)
	return delta
}

// ascend calls fn for the messages with id >= from in id order until fn
// returns false. fn must not change t.
func (t *msgTree) ascend(from mid, fn func(*msg) bool) {
	if t.root != nil {
		t.root.ascend(from, fn)
	}
}

func (n *mnode) ascend(from mid, fn func(*msg) bool) bool {
	if n.leaf() {
		i, _ := n.search(from)
		for ; i < len(n.items); i++ {
			if !fn(&n.items[i]) {
				return false
			}
		}
		return true
	}
	for i := n.findKid(from); i < len(n.kids); i++ {
		if !n.kids[i].ascend(from, fn) {
			return false
		}
	}
	return true
}

// descend calls fn for every message in reverse id order until fn returns
// false.
func (t *msgTree) descend(fn func(*msg) bool) {
	if t.root != nil {
		t.root.descend(fn)
	}
}

func (n *mnode) descend(fn func(*msg) bool) bool {
	if n.leaf() {
		for i := len(n.items) - 1; i >= 0; i-- {
			if !fn(&n.items[i]) {
				return false
			}
		}
		return true
	}
	for i := len(n.kids) - 1; i >= 0; i-- {
		if !n.kids[i].descend(fn) {
			return false
		}
	}
	return true
}

// ascendFree calls fn for the messages without a claim, in id order, until
// fn returns false; subtrees without any are skipped.
func (t *msgTree) ascendFree(fn func(*msg) bool) {
	if t.root != nil {
		t.root.ascendFree(fn)
	}
}

func (n *mnode) ascendFree(fn func(*msg) bool) bool {
	if n.free == 0 {
		return true
	}
	if n.leaf() {
		for i := range n.items {
			if !n.items[i].claimed && !fn(&n.items[i]) {
				return false
			}
		}
		return true
	}
	for _, k := range n.kids {
		if !k.ascendFree(fn) {
			return false
		}
	}
	return true
}

// minExp returns the earliest expiry of a message.
func (t *msgTree) minExp() (int64, bool) {
	if t.root == nil {
		return 0, false
	}
	return t.root.min, true
}

// minExpID returns the id of the message that expires first (the smallest
// id among those with the earliest expiry).
func (t *msgTree) minExpID() (mid, bool) {
	n := t.root
	if n == nil {
		return mid{}, false
	}
	for !n.leaf() {
		i := 0
		for n.kmin[i] != n.min {
			i++
		}
		n = n.kids[i]
	}
	for i := range n.items {
		if n.items[i].expires == n.min {
			return n.items[i].id(), true
		}
	}
	panic("fsm: msgTree summary out of date")
}

// countExpired returns the number of messages with expiry <= now, visiting
// only subtrees that hold one: O(expired · log n) at worst.
func (t *msgTree) countExpired(now int64) int {
	if t.root == nil {
		return 0
	}
	return t.root.countExpired(now)
}

func (n *mnode) countExpired(now int64) int {
	if n.min > now {
		return 0
	}
	c := 0
	if n.leaf() {
		for i := range n.items {
			if n.items[i].expires <= now {
				c++
			}
		}
		return c
	}
	for i, k := range n.kids {
		if n.kmin[i] <= now {
			c += k.countExpired(now)
		}
	}
	return c
}
