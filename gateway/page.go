package gateway

// Page limits of every listing (messages, deliveries, opt-outs ...): the
// API refuses a limit above MaxPageLimit, the stores bound what they are
// asked for with PageLimit. Their one home.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 500
)

// PageLimit returns n as a listing's limit: DefaultPageLimit when n is
// not positive, at most MaxPageLimit.
func PageLimit(n int) int {
	if n <= 0 {
		return DefaultPageLimit
	}
	return min(n, MaxPageLimit)
}
