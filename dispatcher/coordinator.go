package dispatcher

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// minReassignGap rate-limits coordinator passes triggered by applied
// entries (every message post is one).
const minReassignGap = 100 * time.Millisecond

// Owner returns the rendezvous (highest random weight) owner of a
// subscription among members: the member with the highest
// Weight(subID, member); ties go to the smaller id. "" when members is
// empty. Removing a member moves only the subscriptions it owned; adding
// one moves only those it now wins.
func Owner(subID string, members []string) string {
	best, bestW := "", uint64(0)
	for _, m := range members {
		w := Weight(subID, m)
		if best == "" || w > bestW || (w == bestW && m < best) {
			best, bestW = m, w
		}
	}
	return best
}

// Weight is the rendezvous weight of (subscription, member): FNV-64a of
// subID, a zero byte and member, passed through the splitmix64 finalizer
// so that ids differing in one character spread evenly.
func Weight(subID, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(subID))
	h.Write([]byte{0})
	h.Write([]byte(member))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Plan returns the ownership changes that make every subscription owned
// by its rendezvous owner among members (sorted or not). Nothing changes
// when members is empty: a node that sees no live voter keeps the last
// decision rather than unassigning everything.
func Plan(subs []fsm.SubscriptionInfo, members []string) []fsm.Assignment {
	if len(members) == 0 {
		return nil
	}
	var out []fsm.Assignment
	for _, s := range subs {
		if want := Owner(s.ID, members); want != s.Owner {
			out = append(out, fsm.Assignment{SubscriptionID: s.ID, Owner: want})
		}
	}
	return out
}

// coordinate is the leader's loop: it reassigns on membership change
// (LiveVoters polled every MembershipPoll), on applied entries (new
// subscriptions; rate-limited) and every ReconcileInterval. It returns
// when ctx ends (leadership lost or Close).
func (d *Dispatcher) coordinate(ctx context.Context) {
	poll := time.NewTicker(d.cfg.MembershipPoll)
	defer poll.Stop()
	full := time.NewTicker(d.cfg.ReconcileInterval)
	defer full.Stop()
	var (
		last    []string
		dirty   = true
		lastRun time.Time
	)
	for {
		members := d.cfg.Members.LiveVoters()
		slices.Sort(members)
		if !slices.Equal(members, last) {
			if last != nil {
				d.log.Info("coordinator: live voters changed", "members", members)
			}
			last, dirty = members, true
		}
		if dirty {
			if gap := time.Since(lastRun); gap < minReassignGap && !sleep(ctx, minReassignGap-gap) {
				return
			}
			lastRun = time.Now()
			if err := d.reassign(ctx, members); err != nil {
				if ctx.Err() != nil {
					return
				}
				d.log.Debug("coordinator: assign failed; retrying", "err", err)
			} else {
				dirty = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-full.C:
			dirty = true
		case <-d.sig.wait():
			dirty = true
		}
	}
}

// reassign applies one Assign with the changes Plan finds, if any. The
// epoch is read from the local (leader's) state; a stale view loses with
// CodeConflict and the next pass retries.
func (d *Dispatcher) reassign(ctx context.Context, members []string) error {
	var (
		epoch   uint64
		changes []fsm.Assignment
	)
	now := d.now()
	if err := d.cfg.Backend.Read(ctx, true, func(s *fsm.State) {
		epoch = s.AssignmentEpoch()
		changes = Plan(s.AllSubscriptions(now), members)
	}); err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	cmd, err := fsm.NewCommand(fsm.CmdAssign, "", fsm.Assign{Epoch: epoch + 1, Changes: changes})
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := d.cfg.Backend.Apply(actx, cmd)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		if errors.Is(err, fsm.ErrConflict) {
			d.sig.broadcast() // our view was stale: look again soon
		}
		return err
	}
	d.ctr.assigns.Add(1)
	d.log.Info("coordinator: assigned subscriptions", "epoch", epoch+1, "changes", len(changes), "members", len(members))
	return nil
}
