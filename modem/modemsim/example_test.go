package modemsim_test

import (
	"bufio"
	"fmt"
	"strings"
	"time"

	"github.com/simgate/simgate/modem/modemsim"
	"github.com/warthog618/sms"
	"github.com/warthog618/sms/encoding/tpdu"
)

// chat sends a command line and prints the non-empty answer lines up to
// the final result.
func chat(rw *bufio.ReadWriter, line string) {
	rw.WriteString(line + "\r")
	rw.Flush()
	for {
		l, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		l = strings.TrimSpace(l)
		if l != "" {
			fmt.Println(l)
		}
		if l == "OK" || strings.Contains(l, "ERROR") {
			return
		}
	}
}

func Example() {
	n := modemsim.NewNetwork(modemsim.NetworkOptions{})
	defer n.Close()
	m := n.AddModem(modemsim.ModemConfig{Name: "m1", MSISDN: "+15551230001"})
	conn := m.Conn() // or m.ServePTY("/tmp/ttyUSB-sim") for a real tty
	defer conn.Close()
	rw := bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn))

	chat(rw, "AT+CNUM")
	// InjectSMS(m.MSISDN(), "+15557777", "hello") stamps the current time;
	// InjectPDU takes a TPDU built by the test, here with a fixed SCTS.
	pdus, _ := sms.Encode([]byte("hello"), sms.AsDeliver, sms.From("+15557777"))
	pdus[0].SCTS = tpdu.Timestamp{Time: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)}
	b, _ := pdus[0].MarshalBinary()
	n.InjectPDU(m.MSISDN(), b)
	chat(rw, `AT+CMGF=1;+CMGL="ALL"`)
	chat(rw, "AT+CMEE=1;+CMGR=99")
	// Output:
	// +CNUM: "","+15551230001",145
	// OK
	// +CMGL: 1,"REC UNREAD","+15557777",,"26/11/27,09:30:00+00"
	// hello
	// OK
	// +CMS ERROR: 321
}
