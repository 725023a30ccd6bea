// Package modemsim simulates stateful GSM modems and the small GSM network
// they live in, so that simgate (and peer tools such as gammu) can be
// developed and tested without hardware.
//
// # What it owns
//
// A Network holds simulated modems (AddModem) and routes SMS-SUBMITs
// between them: a message to another simulated modem's MSISDN arrives there
// as an SMS-DELIVER after NetworkOptions.DeliveryDelay; a TP-SRR request
// yields an SMS-STATUS-REPORT (TP-MR = the +CMGS reference, TP-ST 0) to the
// sender after NetworkOptions.ReportDelay. Every accepted submission is
// recorded (Submissions), those to numbers that are not simulated modems
// count as delivered to the outside world (Outside), where
// NetworkOptions.Recipients, when set, plays the people who answer (their
// answer reaches the sending SIM after ReplyDelay). A carrier block shows
// as Faults.ReportsLost, Faults.ReportStatus (a permanent TP-ST) or
// Faults.RepliesLost (nothing from outside the network reaches the SIM,
// while its sends and reports go through). Tests inject inbound
// traffic with InjectSMS (long texts become concatenated parts) and
// InjectPDU (raw TPDUs, e.g. parts out of order). While a modem cannot take
// a message (not registered, SIM locked, unplugged, storage full) the
// network holds it and delivers it, in order, once the modem can.
//
// A SIM card (SIMCard: number, IMSI, ICCID, PIN, credit) can be taken out
// of a modem and put into another (Modem.TakeSIM, Modem.InsertSIM,
// Network.MoveSIM, and the control endpoint's sim routes); the network
// routes the card's number to the modem that holds it. A modem without a
// card answers +CME ERROR: 10 (SIM not inserted) to SIM commands and
// +CMS ERROR: 310 to SMS commands, and is not registered. A Huawei
// (the default manufacturer) notices at once and says so with ^SIMST: 255
// and ^SIMST: 1; another firmware reads a new card only at its next boot.
//
// # The modem
//
// Each Modem speaks the AT command set of 3GPP TS 27.007 / 27.005 the way
// USB dongles do: CR-terminated (LF accepted), case-insensitive command
// lines; basic commands chained directly (ATE0V1) and extended ones with
// ';'; A/ repeats the last line; input before "AT" on a line is ignored;
// an unknown command answers ERROR. Errors follow AT+CMEE: +CME ERROR is
// plain ERROR with CMEE=0, numeric with 1 and verbose with 2; +CMS ERROR
// is not governed by CMEE (TS 27.005) and is numeric unless CMEE=2.
//
// SMS: PDU (AT+CMGF=0) and text mode (AT+CMGF=1, honouring AT+CSMP and
// AT+CSCS "IRA", "GSM", "UCS2", "8859-1"). AT+CMGS / AT+CMGW answer the
// "\r\n> " prompt (or another, see Faults), read the body until Ctrl-Z;
// ESC cancels with OK and nothing sent. A PDU that is not hex, not an SMS-SUBMIT or whose TPDU
// length differs from the announced one is answered +CMS ERROR: 304. The
// TP-MR is assigned by the modem, per modem, 0..255 wrapping. Storage: "SM"
// (ModemConfig.StorageSlots, default 30), "ME" (100 slots), "MT" (SM
// then ME) and, with ModemConfig.SRMemory, "SR" (20 slots, where status
// reports are stored) selected with AT+CPMS; indices start at 1; AT+CMGR on an empty
// slot answers OK without information, out of range +CMS ERROR: 321;
// AT+CMGL and AT+CMGR mark REC UNREAD messages read; AT+CMGD takes an
// index and delflag 0..4. AT+CNMI (default 1,0,0,0,0: no indications)
// decides indications: mt=1 stores and announces +CMTI, mt=2 routes +CMT
// (stored instead when no port is open), ds=1 routes +CDS, ds=2 stores the
// report and announces +CDSI, ds=0 drops reports, mode 0 suppresses them.
// The SIM PIN (ModemConfig.PIN) is asked for after every boot; three wrong
// PINs need the PUK "12345678". AT+CUSD=1 with the modem's balance code
// (ModemConfig.BalanceCode, default "*100#") answers, after
// Faults.USSDDelay, "+CUSD: 0,"Your balance is <Balance>. ...",15"
// (ModemConfig.Balance, changed with Modem.SetBalance), in the dialect
// the faults say: text per AT+CSCS, UCS-2 hex with dcs 72
// (Faults.USSDUCS2), over several lines (Faults.USSDMultiline), or packed GSM 7-bit hex (Faults.USSDPacked, which
// also refuses a code that is not packed); any other code answers
// "+CUSD: 4"; Faults.USSDSilent never answers; AT+CUSD=2 closes an open
// session (Modem.USSDCancels counts it).
//
// # Ports
//
// A modem is reached in process (Modem.Conn, one call per "open" of the
// port) or over a real pseudo-terminal (Modem.ServePTY) that a client opens
// like /dev/ttyUSB0 (the slave is in raw mode). The simulator does not keep
// the slave open: while no client has it open, output is dropped as a UART
// drops what nobody reads, and the next open counts as a reopen. Unplug
// and Replug simulate a USB drop and its return under a new /dev/pts name
// behind the same symlink; a replug reboots the modem.
//
// # Faults
//
// Faults (Modem.SetFaults) switch quirks and failures at runtime: echo on
// after boot (setting it also switches the current echo), URCs (^RSSI,
// +CREG, +CMTI) inside answers, boot noise (RDY, ^BOOT, +CPIN, Call Ready,
// SMS Ready after a reboot or at the first open after a replug), send
// latency and jitter, a fraction of sends answered with a +CMS ERROR code,
// storage full (+CMS ERROR: 322), not registered (+CREG stat 2, sends
// +CMS ERROR: 331), garbage bytes after a reboot and before some answers,
// the dialects of real firmwares (Faults.CPINNoFinal: "+CPIN: READY"
// without OK, as Wavecom; Faults.CommandNotSupport: "COMMAND NOT SUPPORT"
// for an unknown command, as Huawei; Faults.BusyAfterBoot: +CMS ERROR: 515
// and +CME ERROR: 14 for a while after a boot, as SIMCom; Faults.CharsetUCS2:
// UCS2 strings after a reset; ModemConfig.Unsupported: commands a
// firmware lacks; Faults.CPMSTwoMemories: AT+CPMS with two memories,
// nested lists and a third memory refused, as old Wavecom;
// Faults.CPMSUnquoted: memory names without quotes and a trailing extra
// AT+CPMS=? group; Faults.CMGLOddFraming: PDU-mode AT+CMGL entries with
// blank and stray lines, spaces after commas, "" or no alpha, no length,
// the PDU on the header line, and the OK without its blank line, as D-Link
// and other dongles; Faults.CMGSNoFinal: "+CMGS: <mr>" without the OK, or
// with it late, after a URC, before the next answer (Faults.CMGSFinalLater),
// as SIMCom and Quectel under load; Faults.PromptBare, Faults.PromptCRLF
// and Faults.PromptSplit: the prompt as a bare ">" (u-blox LARA-L6), as
// "\r\n>\r\n" (SIMCom SIM7670G), or a byte at a time), and hangs:
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
// A PTY reopen is noticed when the client's close is seen before its next
// open; a client that reopens within microseconds may be taken for the
// same open (real drivers back off between attempts).
//
// # Concurrency
//
// All exported methods are safe for concurrent use. Every goroutine the
// package starts is stopped by Network.Close (or Modem.Unplug for a PTY's
// goroutines) and Close waits for them.
//
// # Errors
//
// AT errors are answered on the wire, never returned to Go callers.
// Go-level errors are returned for unknown numbers (ErrUnknownNumber),
// malformed injected PDUs, PTY failures and use after Close (ErrClosed).
//
// Serve runs the standalone simulator behind `simgate sim`, with a small
// loopback HTTP control endpoint (Network.Handler) and optional line
// commands for injecting messages and toggling faults.
package modemsim
