package analysis

import (
	"fmt"
	"slices"
	"time"
)

// NATPreset is a cloud NAT's documented port budget, for portex plan
// --nat: what one destination gets, and how long a closed connection
// keeps its port there.
type NATPreset struct {
	Name, Title string
	// Ports is the NAT's ports per destination (address, port, protocol):
	// per NAT address, or per client when PerClient is set.
	Ports     int
	PerClient bool
	// TimeWait is how long the NAT keeps a closed connection's port; 0
	// where the provider documents none.
	TimeWait time.Duration
	// Says is the provider's figure in its words, and Source where it
	// says so.
	Says, Source string
}

// NATPresets are the providers' documented figures.
var NATPresets = []NATPreset{
	{
		Name: "aws", Title: "an AWS NAT gateway", Ports: 55000,
		Says:   "an AWS NAT gateway supports 55,000 simultaneous connections to each unique destination (IP, port, protocol) per NAT gateway address; beyond, ErrorPortAllocation; the clients behind it share them; nothing is documented of a closed connection holding its port",
		Source: "https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html",
	},
	{
		Name: "azure", Title: "Azure Load Balancer's default outbound SNAT", Ports: 1024, PerClient: true,
		Says:   "Azure Load Balancer's default outbound SNAT gives each VM of a backend pool of up to 50 a fixed 1,024 ports per frontend IP (fewer in larger pools: 512 up to 100, 256 up to 200, ...), each reusable for other destinations; nothing is documented of a closed connection holding its port",
		Source: "https://learn.microsoft.com/azure/load-balancer/load-balancer-outbound-connections",
	},
	{
		Name: "gcp", Title: "GCP Cloud NAT (static allocation)", Ports: 64, PerClient: true, TimeWait: 120 * time.Second,
		Says:   "GCP Cloud NAT's static allocation gives each VM 64 ports by default (min-ports-per-vm), per destination (IP, port, protocol); a closed connection keeps its NAT port for tcp-time-wait-timeout, 120 s by default",
		Source: "https://cloud.google.com/nat/docs/ports-and-addresses",
	},
}

// NATPresetNamed returns the preset of that name.
func NATPresetNamed(name string) (NATPreset, error) {
	for _, p := range NATPresets {
		if p.Name == name {
			return p, nil
		}
	}
	names := make([]string, len(NATPresets))
	for i, p := range NATPresets {
		names[i] = p.Name
	}
	return NATPreset{}, fmt.Errorf("unknown NAT preset %q: want one of %v", name, names)
}

// BehindNAT turns a load's input into the NAT's, as the preset describes
// it: its ports per destination for the budget, shared by the sources
// (per NAT address) or per source (a slice each), and its TIME_WAIT
// pinning a closed connection's port.
func (np NATPreset) BehindNAT(in ModelInput, dests, sources int) ModelInput {
	in.NAT, in.NATTimeWait = true, np.TimeWait
	in.RangeSize, in.Reserved, in.TimeWaitBuckets = np.Ports, 0, 0
	in.Pools = slices.Clone(in.Pools)
	for i := range in.Pools {
		in.Pools[i].Share = 0
		in.Pools[i].Tuples = max(dests, 1)
		if np.PerClient {
			in.Pools[i].Tuples = max(dests, 1) * max(sources, 1)
		}
	}
	pin := "a closed connection frees its NAT port at once (the provider documents no hold)"
	if np.TimeWait > 0 {
		pin = fmt.Sprintf("a closed connection keeps its NAT port %s", short(np.TimeWait))
	}
	in.natNotes = []string{
		fmt.Sprintf("--nat %s: %s (%s)", np.Name, np.Says, np.Source),
		pin,
		"the load is spread evenly over the destinations and sources",
	}
	return in
}
