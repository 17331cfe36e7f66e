package loadgen

import (
	"testing"
)

func TestParseNetstat(t *testing.T) {
	netstat := []byte("TcpExt: SyncookiesSent TW TWRecycled TCPTimeWaitOverflow ListenOverflows\n" +
		"TcpExt: 0 7 3 280 1204\n" +
		"IpExt: InNoRoutes\nIpExt: 5\n")
	snmp := []byte("Ip: Forwarding DefaultTTL\nIp: 1 64\n" +
		"Tcp: RtoAlgorithm ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab\n" +
		"Tcp: 1 150 148 2 1 9\n")
	got := map[string]int64{}
	parseNetstat(netstat, got)
	parseNetstat(snmp, got)
	want := map[string]int64{"TcpExtTW": 7, "TcpExtTWRecycled": 3, "TcpExtTCPTimeWaitOverflow": 280, "TcpExtListenOverflows": 1204,
		"TcpActiveOpens": 150, "TcpPassiveOpens": 148, "TcpAttemptFails": 2, "TcpEstabResets": 1}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	d := CounterGrowth(map[string]int64{"TcpActiveOpens": 100, "TcpExtTW": 7}, got)
	if d["TcpActiveOpens"] != 50 || d["TcpExtTW"] != 0 || len(d) != 2 {
		t.Errorf("growth %v", d)
	}
}

// This kernel's own files have every counter portex keeps.
func TestReadKernelCounters(t *testing.T) {
	got, err := ReadKernelCounters("/proc/self/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range KernelCounters {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
}
