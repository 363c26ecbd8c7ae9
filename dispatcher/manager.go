package dispatcher

import (
	"context"
	"sync"
	"time"

	"github.com/herald-mq/herald/fsm"
)

// minManageGap rate-limits manager passes triggered by applied entries.
const minManageGap = 20 * time.Millisecond

// manage keeps exactly one worker per subscription this node owns at its
// current OwnerEpoch (local stale reads). A worker whose ownership or
// epoch changed is cancelled; its successor starts only once it has
// exited, so one subscription never has two workers here. On Close every
// worker is cancelled and awaited.
func (d *Dispatcher) manage() {
	defer d.wg.Done()
	var wg sync.WaitGroup // the workers
	defer func() {
		d.mu.Lock()
		for _, w := range d.workers {
			w.cancel()
		}
		d.mu.Unlock()
		wg.Wait()
	}()
	t := time.NewTicker(d.cfg.ManagerInterval)
	defer t.Stop()
	var lastRun time.Time
	for {
		if gap := time.Since(lastRun); gap < minManageGap && !sleep(d.ctx, minManageGap-gap) {
			return
		}
		lastRun = time.Now()
		d.syncWorkers(&wg)
		select {
		case <-d.ctx.Done():
			return
		case <-t.C:
		case <-d.kick:
		case <-d.sig.wait():
		}
	}
}

// ownedSub is what the manager needs of an owned subscription.
type ownedSub struct {
	project, kind, source string
	epoch                 uint64
}

// syncWorkers does one manager pass.
func (d *Dispatcher) syncWorkers(wg *sync.WaitGroup) {
	owned := map[string]ownedSub{}
	now := d.now()
	if err := d.cfg.Backend.Read(d.ctx, true, func(s *fsm.State) {
		for _, si := range s.AllSubscriptions(now) {
			if si.Owner == d.cfg.NodeID {
				owned[si.ID] = ownedSub{si.Project, si.SourceKind, si.Source, si.OwnerEpoch}
			}
		}
	}); err != nil {
		d.log.Debug("manager: read failed", "err", err)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, w := range d.workers {
		o, ok := owned[id]
		if !ok || o.epoch != w.epoch {
			w.cancel()
		}
		if w.exited() {
			delete(d.workers, id)
		}
	}
	for id, fe := range d.fenced {
		if o, ok := owned[id]; !ok || o.epoch != fe {
			delete(d.fenced, id) // our view moved on: fencing is resolved
		}
	}
	for id, o := range owned {
		if _, busy := d.workers[id]; busy {
			continue
		}
		if fe, ok := d.fenced[id]; ok && fe == o.epoch {
			continue // refused at this epoch: wait until our view catches up
		}
		ctx, cancel := context.WithCancel(d.ctx)
		w := &worker{
			d: d, id: id, project: o.project, kind: o.kind, src: o.source, epoch: o.epoch,
			cancel: cancel, done: make(chan struct{}),
		}
		d.workers[id] = w
		wg.Add(1)
		go func() { // owner: manage; stopped by w.cancel, awaited by manage
			defer wg.Done()
			w.run(ctx)
		}()
	}
}

// noteFenced records that an Ack for id at epoch was refused.
func (d *Dispatcher) noteFenced(id string, epoch uint64) {
	d.mu.Lock()
	d.fenced[id] = epoch
	d.mu.Unlock()
}

// kickManager wakes the manager (non-blocking).
func (d *Dispatcher) kickManager() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}
