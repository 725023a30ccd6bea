// Package balance keeps an eye on each SIM's credit: on a schedule it runs
// the operator's balance code (USSD, e.g. "*100#") on a modem, pulls the
// amount out of the answer with a regular expression, exports it as a
// metric, and pauses the modem (through the dispatcher's public Pause, the
// reason saying why) when the amount falls below its threshold; a later
// check above the threshold resumes a modem it paused itself, and only
// such a modem (a pause with another reason is the operator's).
//
// # What it owns
//
// A Checker owns the schedule and the last result per modem (Last), and
// the metrics simgate_modem_balance{modem}, simgate_modem_balance_low{modem}
// and simgate_balance_checks_total{modem,result}. Every amount read is
// also handed to Options.History: the gateway's SIM inventory keeps the
// readings with the SIM, so its balance history follows it to another modem. The USSD itself runs in
// the modem driver's own goroutine (gateway.USSDService), so sends and
// receives go on while the network answers.
//
// # Concurrency
//
// Every exported method is safe for concurrent use. Run is one goroutine
// that checks the modems one at a time, each when it is due; it returns
// when ctx ends. CheckNow runs one check at once, outside the schedule.
//
// # Errors
//
// A failed check (no modem, USSD timeout, no amount in the answer) is kept
// in the modem's Result (Err) and counted; it never pauses a modem and
// never stops Run. New fails on an invalid Check (names the field).
package balance
