package sandbox

import (
	"fmt"
	"strconv"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/portex/portex/loadgen"
)

// RefuseDropSYN refuses a plan whose server drops SYNs on a runtime that
// cannot install the rule that drops them: it needs nftables in a server
// namespace of portex's own.
func RefuseDropSYN(runtime string, p *loadgen.Plan) error {
	if p.Server.DropSYN == 0 {
		return nil
	}
	return &Unsupported{Runtime: runtime, Key: "server.drop_syn",
		Reason: "an unresponsive server (a rule that drops SYNs in the server's namespace) runs on the netns runtime only; use --runtime netns"}
}

// dropSYNTable is the server namespace's table for drop_syn.
const dropSYNTable = "portex_server"

// installDropSYN adds, in the calling process's network namespace (the
// server's), the table `ip portex_server` with an input chain whose rule
// drops the share of the SYNs to the plan's listeners that drop_syn asks
// for:
//
//	tcp flags & (syn|ack) == syn [numgen random mod 1000 < N] counter drop
//
// A dropped SYN is never answered, so the client's kernel resends it
// until the dial's deadline or its tcp_syn_retries end the attempt.
func installDropSYN(share float64) error {
	if share <= 0 {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("server: nftables: %w", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: dropSYNTable})
	ch := c.AddChain(&nftables.Chain{Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	exprs := append(matchTCP(),
		// tcp flags & (syn|ack) == syn: the first packet of a handshake
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x12}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x02}})
	if share < 1 {
		// numgen random mod 1000 < share x 1000. nft compares registers
		// byte by byte, so the number numgen writes in the host's order
		// goes to network order first, as nft's own byteorder does.
		exprs = append(exprs,
			&expr.Numgen{Register: 1, Modulus: 1000, Type: unix.NFT_NG_RANDOM},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(uint32(share * 1000))})
	}
	exprs = append(exprs, &expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop})
	c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: exprs})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("server: install the drop_syn rule: %w", err)
	}
	return nil
}

// percentWords writes a share as a percentage: "50%", "100%", "2.5%".
func percentWords(share float64) string {
	return strconv.FormatFloat(share*100, 'f', -1, 64) + "%"
}
