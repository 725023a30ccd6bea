package modemsim

import (
	"fmt"
	"testing"
)

// BenchmarkSendPDU measures an AT+CMGS round trip (prompt, PDU, +CMGS)
// without latency, in process and through a real PTY.
func BenchmarkSendPDU(b *testing.B) {
	for _, kind := range []string{"conn", "pty"} {
		b.Run(kind, func(b *testing.B) {
			n := newNet(b, NetworkOptions{})
			m := n.AddModem(ModemConfig{})
			var c *client
			if kind == "pty" {
				c = newClient(b, servePTY(b, m))
			} else {
				c = newClient(b, m.Conn())
			}
			c.cmd("ATE0")
			pdu := submitPDUs(b, "+15550001", "benchmark message", false)[0]
			cmgs := fmt.Sprintf("AT+CMGS=%d", len(pdu))
			body := fmt.Sprintf("00%X\x1a", pdu)
			b.ResetTimer()
			for range b.N {
				c.cmd(cmgs)
				c.send(body)
				c.until(finalRE)
			}
			b.StopTimer()
			b.ReportMetric(float64(len(n.Submissions()))/b.Elapsed().Seconds(), "sends/s")
		})
	}
}
