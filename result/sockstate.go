package result

import "net/netip"

// SocketStates counts the TCP sockets of one network namespace by state,
// and the distinct local ports they pin.
type SocketStates struct {
	Established int `json:"established"`
	SynSent     int `json:"syn_sent"`
	SynRecv     int `json:"syn_recv"`
	FinWait1    int `json:"fin_wait1"`
	FinWait2    int `json:"fin_wait2"`
	TimeWait    int `json:"time_wait"`
	CloseWait   int `json:"close_wait"`
	LastAck     int `json:"last_ack"`
	Closing     int `json:"closing"`
	Listen      int `json:"listen"`
	// PortsInUse is the number of distinct local ports held by sockets
	// that are not listening, within the sampler's port range if it has
	// one: what the ephemeral range has left to give. It is PortsUncounted
	// in a quick sample, which does not see every socket.
	PortsInUse int `json:"ports_in_use"`
	// TimeWaitRecent counts the TIME_WAIT sockets younger than the reuse
	// delay (tcp_tw_reuse_delay), whose ports tcp_tw_reuse cannot take
	// over yet. A quick sample does
	// not count them.
	TimeWaitRecent int `json:"time_wait_recent,omitempty"`
	// Unsorted counts, in a counted sample (a quick one read from the
	// kernel's counters alone, at hundreds of thousands of sockets), the
	// sockets in the states those counters do not tell apart: SYN_SENT,
	// FIN_WAIT1, FIN_WAIT2 until the orphans among them turn timewait,
	// LAST_ACK, CLOSING and LISTEN. Such a sample counts CLOSE_WAIT in
	// Established, and the FIN_WAIT2 orphans in TimeWait.
	Unsorted int `json:"unsorted,omitempty"`
}

// PortsUncounted is PortsInUse in a quick sample.
const PortsUncounted = -1

// PortsCounted reports whether the sample counted the ports in use.
func (s SocketStates) PortsCounted() bool { return s.PortsInUse != PortsUncounted }

// Total is the number of sockets counted.
func (s SocketStates) Total() int {
	return s.Established + s.SynSent + s.SynRecv + s.FinWait1 + s.FinWait2 + s.TimeWait +
		s.CloseWait + s.LastAck + s.Closing + s.Listen + s.Unsorted
}

// DestinationSockets counts the client sockets of a network namespace
// toward one destination (remote address and port).
type DestinationSockets struct {
	// Destination is the remote address and port.
	Destination netip.AddrPort `json:"destination"`
	// Sockets counts the sockets by state; its PortsInUse is the distinct
	// local ports they hold, TIME_WAIT included, within the sampler's
	// range if it has one: what this destination's budget has left.
	Sockets SocketStates `json:"sockets"`
}
