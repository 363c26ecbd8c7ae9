package httpapi

import (
	"net/http"

	"github.com/herald-mq/herald/fsm"
)

// healthz: GET /healthz, the process is up.
func (s *server) healthz(c *call) {
	writeJSON(c.w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz: GET /readyz, the node can serve (a leader is known and the log
// is applied).
func (s *server) readyz(c *call) {
	if s.ops.Ready() {
		writeJSON(c.w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	writeJSON(c.w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
}

// clusterStatus: GET /cluster/status.
func (s *server) clusterStatus(c *call) {
	writeJSON(c.w, http.StatusOK, s.ops.Status())
}

// ping: GET /v2/ping answers 204 when a read of the state succeeds
// (linearizable unless stale was asked for), else 503.
func (s *server) ping(c *call) {
	if err := s.read(c, func(*fsm.State) {}); err != nil {
		s.fail(c, err)
		return
	}
	writeEmpty(c.w, http.StatusNoContent)
}

// pingHead: HEAD /v2/ping always answers 204.
func (s *server) pingHead(c *call) { writeEmpty(c.w, http.StatusNoContent) }

// healthPage is how many queues health reads per step.
const healthPage = 1000

// health: GET /v2/health (role admin). Herald has no storage to probe
// separately, so operation_status is empty and message_volume sums the
// project's queues.
func (s *server) health(c *call) {
	now := s.nowNano()
	var free, claimed, total int
	err := s.read(c, func(st *fsm.State) {
		marker := ""
		for {
			page, _ := st.ListQueues(c.project, fsm.QueueListOptions{Marker: marker, Limit: healthPage})
			for _, q := range page {
				n := st.Stats(c.project, q.Name, now)
				free, claimed, total = free+n.Free, claimed+n.Claimed, total+n.Total
			}
			if len(page) < healthPage {
				return
			}
			marker = page[len(page)-1].Name
		}
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	writeJSON(c.w, http.StatusOK, map[string]any{
		"storage_reachable": true,
		"operation_status":  map[string]any{},
		"message_volume":    map[string]int{"free": free, "claimed": claimed, "total": total},
	})
}
