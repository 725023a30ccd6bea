package gateway

import "testing"

func TestPageLimit(t *testing.T) {
	for _, c := range []struct{ in, want int }{{0, 50}, {-3, 50}, {1, 1}, {500, 500}, {501, 500}, {1 << 30, 500}} {
		if got := PageLimit(c.in); got != c.want {
			t.Errorf("PageLimit(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}
