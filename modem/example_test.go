package modem_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/warthog618/sms"

	"github.com/simgate/simgate/modem"
	"github.com/simgate/simgate/modem/modemsim"
)

// A Device on a simulated modem served over a pseudo-terminal: open it,
// wait until it is up, send one part.
func ExampleOpen() {
	net := modemsim.NewNetwork(modemsim.NetworkOptions{})
	defer net.Close()
	dir, err := os.MkdirTemp("", "modem-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	link := filepath.Join(dir, "ttyUSB0")
	if _, err := net.AddModem(modemsim.ModemConfig{}).ServePTY(link); err != nil {
		fmt.Println(err)
		return
	}

	d, err := modem.Open(context.Background(), modem.Config{Name: "sim1", Port: link}, nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	for deadline := time.Now().Add(10 * time.Second); !d.Status().Usable() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	info := d.Info()
	fmt.Println(d.Status().State, info.Manufacturer, info.Model)

	pdus, _ := sms.Encode([]byte("hello"), sms.To("+15557654321"))
	tpdu, _ := pdus[0].MarshalBinary()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = d.SendPDU(ctx, tpdu)
	fmt.Println("sent:", err == nil, "submissions:", len(net.Submissions()))
	// Output:
	// up huawei E3531
	// sent: true submissions: 1
}
