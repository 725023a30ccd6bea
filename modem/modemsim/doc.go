// Package modemsim simulates stateful GSM modems and the small GSM network
// they live in, so that simgate (and peer tools such as gammu) can be
// developed and tested without hardware.
//
// # What it owns
//
// A Network holds simulated modems (AddModem), routes SMS-SUBMITs between
// them (a message to another simulated modem's MSISDN arrives there as an
// SMS-DELIVER after NetworkOptions.DeliveryDelay; a TP-SRR request yields an
// SMS-STATUS-REPORT after NetworkOptions.ReportDelay) and records every
// submission, including those to numbers outside the simulation
// (Submissions, Outside). Tests inject inbound traffic with InjectSMS and
// InjectPDU.
//
// Each Modem speaks the AT command set of 3GPP TS 27.007 / 27.005 the way
// real USB dongles do: CR-terminated, case-insensitive, ';'-chained command
// lines, echo (ATE), numeric or verbose errors (AT+CMEE), PDU and text mode
// SMS with the "> " prompt, Ctrl-Z to send and ESC to cancel, SIM storage
// with +CMTI/+CMT/+CDS/+CDSI indications per AT+CNMI, and vendor noise.
// A modem is reached either in process (Modem.Conn, one call per "open" of
// the port) or over a real pseudo-terminal (Modem.ServePTY) that a client
// opens like /dev/ttyUSB0; Unplug and Replug simulate a USB drop and its
// return under a new /dev/pts name behind the same symlink.
//
// # Faults
//
// Faults (Modem.SetFaults) switch quirks and failures at runtime: echo on
// after boot, URCs inside answers, boot noise, send latency, CMS errors,
// storage full, no registration, garbage bytes, and hangs:
//
//   - Faults.Hang: the modem answers nothing and swallows everything
//     (including a PDU after a prompt) until it sees AT+CFUN=1,1 (it still
//     reads its input), the port is closed and reopened, or it is replugged.
//     Any of those clears the fault.
//   - Faults.HangHard: like Hang, but AT+CFUN=1,1 does not help; only a
//     reopen of the port or a replug clears it.
//   - Faults.HangAfterPDU: the PDU of the next AT+CMGS is accepted and handed
//     to the network (recorded with Submission.Ambiguous set), then the modem
//     hangs as with Hang. The fault stays armed until SetFaults clears it.
//
// # Concurrency
//
// All exported methods are safe for concurrent use. Every goroutine the
// package starts is stopped by Network.Close (or Modem.Unplug for a PTY's
// goroutines) and Close waits for them.
//
// # Errors
//
// AT errors are answered on the wire (ERROR, +CME ERROR, +CMS ERROR per
// AT+CMEE), never returned to Go callers. Go-level errors are returned for
// unknown numbers (ErrUnknownNumber), malformed injected PDUs, PTY failures
// and use after Close (ErrClosed).
//
// Serve runs the standalone simulator behind `simgate sim`, with a small
// loopback HTTP control endpoint for injecting messages and toggling faults.
package modemsim
