package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/herald-mq/herald/internal/chaos"
)

// printPartition prints the summary of -measure partition: per role of
// the cut-off node, the majority's success fraction (median and worst),
// the time to the first acknowledged write (median and max), the
// convergence time after the heal, and what the cut-off node answered.
func printPartition(cfg chaos.Config, r chaos.PartitionResult, cut time.Duration) {
	fmt.Printf("\n=== herald-chaos partition (nodes=%d cut=%v node-args=%q trials=%d) ===\n",
		cfg.Nodes, cut, strings.Join(cfg.ExtraArgs, " "), len(r.Trials))
	for _, role := range []string{"leader", "follower"} {
		ts := r.By(role)
		if len(ts) == 0 {
			continue
		}
		var fr []float64
		var first, conv, lat, errLat []time.Duration
		noWrite, noConv := 0, 0
		ok, total := 0, 0
		minority, majErr := map[string]int{}, map[string]int{}
		for _, t := range ts {
			fr = append(fr, t.Fraction())
			ok += t.WritesOK + t.ReadsOK
			total += t.Writes + t.Reads
			if t.FirstWriteOK {
				first = append(first, t.FirstWrite)
			} else {
				noWrite++
			}
			if t.ConvergedOK {
				conv = append(conv, t.Converged)
			} else {
				noConv++
			}
			lat = append(lat, t.MinorityLatency...)
			for k, v := range t.Minority {
				minority[k] += v
			}
			errLat = append(errLat, t.MajorityErrLatency...)
			for k, v := range t.MajorityErrors {
				majErr[k] += v
			}
		}
		sort.Float64s(fr)
		fm, fx := chaos.MedianMax(first)
		cm, cx := chaos.MedianMax(conv)
		lm, lx := chaos.MedianMax(lat)
		em, ex := chaos.MedianMax(errLat)
		fmt.Printf("%s cut off (%d trials): majority requests ok %d/%d; per trial median %.4f, worst %.4f\n",
			role, len(ts), ok, total, fr[len(fr)/2], fr[0])
		if len(majErr) == 0 {
			fmt.Println("  majority failures: none")
		} else {
			fmt.Printf("  majority failures: %s, answered after median %v, max %v\n",
				chaos.FormatCounts(majErr), em.Round(time.Millisecond), ex.Round(time.Millisecond))
		}
		fmt.Printf("  first acknowledged majority write after the cut: median %v, max %v (%d trials without one)\n",
			fm.Round(time.Millisecond), fx.Round(time.Millisecond), noWrite)
		fmt.Printf("  cut-off node answered: %v; answer time median %v, max %v\n",
			chaos.FormatCounts(minority), lm.Round(time.Millisecond), lx.Round(time.Millisecond))
		fmt.Printf("  converged after the heal (healthy, every node holds every acknowledged write): median %v, max %v (%d trials did not within 60s)\n",
			cm.Round(time.Millisecond), cx.Round(time.Millisecond), noConv)
	}
}
