package modemsim

import "fmt"

// atError is a final error result: plain ERROR, +CME ERROR or +CMS ERROR.
type atError struct {
	kind int // errKindPlain, errKindCME, errKindCMS
	code int
}

const (
	errKindPlain = iota
	errKindCME
	errKindCMS
)

var errPlain = &atError{kind: errKindPlain}

func cme(code int) *atError { return &atError{kind: errKindCME, code: code} }
func cms(code int) *atError { return &atError{kind: errKindCMS, code: code} }

// cmeText are the verbose +CME ERROR texts of TS 27.007 §9.2.
var cmeText = map[int]string{
	0: "phone failure", 3: "operation not allowed", 4: "operation not supported",
	10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure",
	16: "incorrect password", 20: "memory full", 21: "invalid index", 22: "not found",
	30: "no network service", 31: "network timeout", 50: "incorrect parameters", 100: "unknown",
}

// cmsText are the verbose +CMS ERROR texts of TS 27.005 §3.2.5.
var cmsText = map[int]string{
	38: "network out of order", 42: "congestion", 300: "ME failure",
	302: "operation not allowed", 303: "operation not supported",
	304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
	310: "SIM not inserted", 311: "SIM PIN required", 312: "PH-SIM PIN required",
	316: "SIM PUK required", 321: "invalid memory index", 322: "memory full", 330: "SMSC address unknown",
	331: "no network service", 332: "network timeout", 340: "no +CNMA acknowledgement expected",
	500: "unknown error", 515: "please wait, init or command processing in progress",
}

// text renders the error per AT+CMEE: +CME errors are plain ERROR with
// CMEE=0, numeric with 1 and verbose with 2. +CMS ERROR is not governed by
// CMEE (TS 27.005 §3.2.5): numeric with 0 and 1, verbose with 2, as on
// Huawei, SIMCom and Quectel modules.
func (e *atError) text(cmee int) string {
	if e.kind == errKindPlain || cmee == 0 && e.kind == errKindCME {
		return "ERROR"
	}
	prefix, texts := "+CME ERROR: ", cmeText
	if e.kind == errKindCMS {
		prefix, texts = "+CMS ERROR: ", cmsText
	}
	if cmee == 2 {
		if t, ok := texts[e.code]; ok {
			return prefix + t
		}
	}
	return fmt.Sprintf("%s%d", prefix, e.code)
}
