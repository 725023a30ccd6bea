// Package modem drives one physical GSM modem over AT commands and presents
// it to the gateway as a gateway.Device.
//
// # What it owns
//
// A Device (Open) owns one serial port, opened with go.bug.st/serial and
// handed to github.com/warthog618/modem/at as an io.ReadWriter, and the
// whole life of the modem behind it:
//
//   - init: resynchronise (ESC, then "AT" until a clean OK, so boot noise,
//     stray echo and garbage bytes do not matter), ATZ, ATE0, AT+CMEE=1,
//     AT+CSCS="IRA",
//     identity (AT+CGSN first, so a port holding another modem is refused
//     before its SIM is touched; then +CGMI/+CGMM/+CGMR), SIM PIN
//     (+CPIN?; the configured PIN is entered, and never again once the SIM
//     rejected it: state sim_locked), +CIMI, +CCID (or +ICCID ...), PDU mode,
//     +CNMI (with fallbacks), +CPMS=? then +CPMS, +CREG=1, +CNUM;
//   - health: +CSQ, +CREG?, +COPS? and +CPMS? every HealthInterval, and
//     +CREG URCs at once, reported through Status and the DeviceObserver
//     (on a state change, a registration or operator change, a storage
//     change, or a signal move of 4 steps or more);
//   - sending: SendPDU runs AT+CMGS=<len> with "00"+TPDU in hex, under two
//     deadlines: PromptTimeout for the ">" prompt (the modem's own,
//     within a second) and SendTimeout for the answer after the PDU (the
//     network's);
//   - receiving: +CMTI / +CDSI make the driver read the announced index
//     (AT+CMGR), AT+CMGL=4 every PollInterval is the safety net, routed
//     +CMT / +CDS PDUs are handed over directly. Each TPDU goes to the
//     InboundHandler and is deleted (AT+CMGD) only after the handler
//     returned nil. A full storage is read out at once and shown in
//     Status().LastError until it has room again. A modem whose AT+CPMS=?
//     offers an "SR" memory (status reports stored with +CNMI ds=2, or
//     while nobody listened) has it swept too, at the start of every
//     session and every PollInterval: reports that came while the daemon
//     was down reach the handler and are deleted once it took them;
//   - USSD: Device.USSD sends AT+CUSD=1,"<code>",15 from the owner
//     goroutine and goes on serving (sends, inbound, health) until the
//     +CUSD URC answers or USSDTimeout passes, when AT+CUSD=2 cancels the
//     session; an answer asking for more input (<m>=1) is taken and the
//     session closed. One session at a time. The answer is decoded per
//     its data coding scheme: GSM 7-bit text, UCS-2 hex, 8-bit hex, and
//     the packed-septet hex Huawei firmwares use;
//   - recovery: every AT timeout is followed by a plain "AT" probe (given
//     ProbeTimeout, plus what is left of SendTimeout after a send whose
//     caller gave up, since a modem waiting on the network answers
//     nothing); an unanswered probe, or HangAfter consecutive AT timeouts,
//     is a hang, escalated from
//     re-init to AT+CFUN=1,1 to closing and reopening the port; a vanished
//     port (read error, EOF) is reopened with exponential backoff (MinBackoff
//     to MaxBackoff), first at Config.Port and then at every port the Globs
//     match that no other Device holds, accepting only the modem whose IMEI
//     this Device had (or Config.ExpectedIMEI). A modem that comes back
//     under another tty name is therefore the same Device, with the same
//     name. Status().Resets counts recovery actions and ATTimeouts counts
//     command timeouts.
//
// # Dialects
//
// Quirks of real firmwares the driver survives, each reproduced by the
// simulator (modemsim.Faults, ModemConfig) and tested over a PTY:
//
//   - a SIM taken out or put in while the modem runs, which Huawei
//     firmwares announce with ^SIMST (255: no SIM, 1: a valid one):
//     the driver asks +CPIN? and the ICCID again and, if the SIM is gone
//     or another, ends the session; the next init fails with "SIM not
//     inserted" (state down, retried with backoff) until a card is in,
//     then reads its identity (Info), which the gateway's SIM inventory
//     follows. Firmwares without the URC read a new card at their next
//     boot (AT+CFUN=1,1, a replug), as the simulator models;
//   - "+CPIN: READY" with no final OK (Wavecom; python-gsmmodem's
//     modem.py _unlockSim, its issue #19): after the +CPIN line a missing
//     final result is taken as OK once noFinalGrace has passed;
//   - "COMMAND NOT SUPPORT" instead of ERROR for an unknown command (some
//     Huawei firmwares; python-gsmmodem's modem.py write): read as ERROR,
//     so probing for +CCID/+ICCID/^ICCID costs no timeouts;
//   - "+CMS ERROR: 515" (please wait, init in progress) and "+CME ERROR:
//     14" (SIM busy) for some seconds after a boot (SIMCom SIM800 before
//     "SMS Ready"; python-gsmmodem's modem.py write retries both, its
//     issue #10 shows +CSCA? answered 14 after start): the command is asked
//     again every 250ms for up to 20s instead of failing the init (a PIN
//     entry is never repeated);
//   - a character set of "UCS2" after a reset (TS 27.007 §5.5 leaves the
//     default to the maker; python-gammu issue #43 shows a Huawei E153
//     and a Wavecom in a hex charset), which turns +CNUM and USSD strings
//     into hex: init sets AT+CSCS="IRA";
//   - USSD codes refused unless GSM 7-bit packed and hex-encoded, and
//     answers in that form with dcs 15 (Huawei E1550/E173 and others;
//     ModemManager's plugins/huawei/mm-broadband-modem-huawei.c encodes
//     USSD so, and the huawei-ussd script for the E1550 does): a refused
//     plain code is sent again packed, and the Device remembers it;
//   - USSD answers whose quoted text spans lines (operators' "Dear
//     customer,<CR><LF>your balance is ..."; python-gsmmodem's modem.py
//     parses +CUSD with re.DOTALL for it): the tap writes the line breaks
//     inside the quotes as `\n` (up to 1024 bytes), so the whole answer
//     reaches the +CUSD handler;
//   - USSD answers in UCS-2 hex while the dcs says 15 (Huawei E1550, noted
//     in vSlipenchuk/gmodem's gmodem_device.c): hex that starts "00" and
//     decodes as UTF-16 is read as such;
//   - message storages other than three quoted "SM"/"ME"/"MT"/"SR" lists:
//     two memories, with the groups in an outer pair of parentheses and a
//     third memory refused with +CMS ERROR: 302 (old Wavecom, whose
//     AT+CPMS=? answers (("SM","BM","SR"),("SM")), shown in
//     barnybug-archive/gogsmmodem pull request #1), memories in another
//     order and "ME" missing from one (Cinterion MC75i:
//     ("ME","SM","MT"),("ME","SM","MT"),("SM","MT"), gammu issue #1206),
//     and, modelled without a public transcript, names without quotes and
//     a trailing extra group: init asks AT+CPMS=? first and selects "SM"
//     for as many memories as it lists (fewer if refused), and the +CPMS
//     answers are read by name, quoted or not, however many groups follow;
//   - loosely framed AT+CMGL answers: a stray line before the list (D-Link
//     DWM222, gammu pull request #823), spaces after the commas (D-Link
//     DWM-156, python-gsmmodem pull request #38), an empty alpha as ""
//     (python-gsmmodem pull request #27) or with the length missing, blank
//     lines between entries, no blank line before the OK and, modelled
//     without a public transcript, the PDU on the header line after the
//     length: each entry is found by its "+CMGL:" header and its PDU is the
//     header's field after the length or the next hex line (AT+CMGR alike);
//   - "+CMGS: <mr>" without the final OK, or with the OK seconds later
//     (SIMCom SIM900: Seeed-Studio/GPRS_SIM900 issues #7 and #25, where
//     sends reported failed for want of the OK had been delivered): a
//     "+CMGS:" line that answered the PDU is the part's success, whatever
//     follows (no OK within cmgsFinalGrace, a timeout, a lost port), so the
//     part is never sent again; an OK still owed that then ends the next
//     AT+CMGS before its prompt is taken for what it is (the PDU did not
//     go out) and that AT+CMGS is asked once more. A "+CMGS:" that came
//     before the PDU was written is an earlier send's late answer and never
//     this part's reference;
//   - the prompt as ">" without the space, on a line of its own
//     ("\r\n>\r\n", SIMCom SIM7670G: gammu issue #1176) or with no line
//     break before it (u-blox LARA-L6: RIOT-OS pull request #20016), also
//     arriving a byte at a time: the AT layer takes a ">" at the start of a
//     line as the prompt and drops the spaces after it; a bare ">" right
//     after an echoed "AT+CMGS=<n>\r" (a modem that keeps echo on), which
//     the AT layer would not see at a line start, gets the tap's LF.
//
// The AT layer ends a command only on a line it reads, so the tap between
// the port and the AT layer ends such commands by adding a line of its own
// (a +CME ERROR carrying a mark that the driver recognises).
//
// Probe and Discover find modems without a configuration. A package-wide
// registry of claimed ports keeps two Devices (or a Device and a probe) off
// the same tty, also through different symlinks.
//
// Answers are parsed by prefix (the line starting "+CSQ:" ...), never by
// position: the AT layer may leave a URC, an echoed line or noise among a
// command's answer lines. Bytes no AT answer contains (controls other than
// CR/LF/Ctrl-Z, and 8-bit bytes) are dropped as they are read.
//
// # Concurrency
//
// Every exported method is safe for concurrent use. One goroutine per
// Device, started by Open and stopped by Close, owns the port: it runs init,
// health, inbound and recovery, and executes the sends that SendPDU hands it
// one at a time. Status and Info read a snapshot and never touch the port.
// The AT layer's own goroutines end when the port is closed. Close cancels
// the owner, closes the port (aborting a command in flight) and waits at
// most a few seconds. The observer is called from the owner goroutine and
// should not block.
//
// # Errors
//
// USSD returns the gateway.ErrUSSD* sentinels (timeout, busy, refused,
// unavailable), wrapped with context.
//
// SendPDU returns *gateway.SendError: a +CMS ERROR keeps its code (CMS) and
// is classified by gateway.CMSTemporary; a failure before the PDU bytes were
// written (modem not up, ctx ended while queued, no "> " prompt, timeout
// before the prompt, port lost) is Temporary; a timeout or port loss after
// the PDU was written, or an OK without a +CMGS reference, is Ambiguous: the
// part may have left and must not be resent blindly. A "+CMGS: <mr>" that
// answered the PDU is a success whatever follows it. Open fails only on an
// invalid Config; everything later shows up in Status (State, LastError).
// Logs never carry numbers or message bodies above Debug; raw AT traffic
// (including the PIN command) is logged at Debug only.
package modem
