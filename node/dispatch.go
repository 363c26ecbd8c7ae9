package node

import (
	"time"

	"github.com/herald-mq/herald/cluster"
	"github.com/herald-mq/herald/dispatcher"
	"github.com/herald-mq/herald/dispatcher/notify"
	"github.com/herald-mq/herald/httpapi"
)

// Status is the JSON body of GET /cluster/status: the cluster's status at
// the top level (unchanged) plus the dispatcher's under "dispatcher".
type Status struct {
	cluster.Status
	Dispatcher dispatcher.Status `json:"dispatcher"`
}

// Status reports the node's cluster and dispatcher state.
func (n *Node) Status() Status {
	return Status{Status: n.cluster.Status(), Dispatcher: n.dispatcher.Status()}
}

// newDispatcher builds the notifiers and the dispatcher (started by Start).
func (n *Node) newDispatcher() error {
	cfg := n.cfg
	wh := notify.NewWebhook(notify.WebhookConfig{AllowCIDRs: cfg.SubscriberAllowCIDRs})
	var mailer notify.Notifier // a nil interface when no SMTP host: mailto fails permanently
	if cfg.SMTPHost != "" {
		m, err := notify.NewMailer(notify.MailConfig{
			Host:     cfg.SMTPHost,
			Port:     cfg.SMTPPort,
			Username: cfg.SMTPUser,
			Password: cfg.SMTPPassword,
			TLSMode:  cfg.SMTPTLS,
			From:     cfg.SMTPFrom,
		})
		if err != nil {
			return err
		}
		mailer = m
	}
	var signer dispatcher.Signer
	if key := cfg.SignedURLKey; key != "" {
		signer = func(paths, methods []string, project string, expires time.Time) string {
			return httpapi.SignURL(key, paths, methods, project, expires)
		}
	}
	d, err := dispatcher.New(dispatcher.Config{
		NodeID:              cfg.NodeID,
		Backend:             n.cluster,
		Members:             liveVoters{n.cluster},
		AppliedIndex:        n.fsm.AppliedIndex,
		Notifier:            notify.NewRegistry(wh, mailer, nil),
		RequireConfirmation: cfg.RequireConfirmation,
		Signer:              signer,
		ConfirmPath:         httpapi.ConfirmPath,
		ExternalURL:         cfg.ExternalURL,
		Concurrency:         cfg.DeliveryConcurrency,
		Log:                 n.log,
	})
	if err != nil {
		wh.Close()
		return err
	}
	n.dispatcher, n.webhook = d, wh
	return nil
}

// liveVoters adapts the cluster to dispatcher.Members.
type liveVoters struct{ c *cluster.Cluster }

// LiveVoters returns the raft voters gossip sees alive.
func (l liveVoters) LiveVoters() []string {
	var out []string
	for _, m := range l.c.Members() {
		if m.Voter && m.GossipState == "alive" {
			out = append(out, m.ID)
		}
	}
	return out
}
