//go:build race

package filterpolicy

// raceEnabled: the race detector makes sync.Pool (used by json.Valid)
// drop items, so allocation counts are not meaningful.
const raceEnabled = true
