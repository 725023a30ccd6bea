package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// BackupPath is the online backup route (admin scope). It lives outside
// /v1: it streams a database file, not JSON.
const BackupPath = "/admin/backup"

// Backuper writes a consistent copy of the store while it stays online.
// store.DB implements it.
type Backuper interface {
	Backup(w io.Writer) (int64, error)
}

// backupStall is how long one write of the backup may take: each write
// moves the connection's write deadline this far ahead, so a large store
// is not cut off by the server's WriteTimeout while a stalled client still is.
const backupStall = time.Minute

// backup streams an online copy of the store (GET /admin/backup).
func (s *Server) backup(c echo.Context) error {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, echo.MIMEOctetStream)
	w.Header().Set(echo.HeaderContentDisposition, `attachment; filename="simgate.db"`)
	dw := &deadlineWriter{w: w, rc: http.NewResponseController(w), step: backupStall}
	n, err := s.backupper.Backup(dw)
	k, _ := keyOf(c)
	if err != nil {
		s.backups.WithLabelValues("failed").Inc()
		s.backupBytes.Add(float64(n))
		if n == 0 && !w.Committed {
			return errors.Join(errors.New("backup"), err) // nothing sent yet: a problem document
		}
		// The copy is cut short; the client sees a short body (and a
		// verification that fails), never a truncated file called a backup.
		s.log.Error("online backup failed", "key_id", k.ID, "bytes", n, "err", err)
		return nil
	}
	s.backups.WithLabelValues("success").Inc()
	s.backupBytes.Add(float64(n))
	s.log.Info("online backup", "key_id", k.ID, "bytes", n)
	return nil
}

// deadlineWriter moves the connection's write deadline ahead before each write.
type deadlineWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	step time.Duration
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// ErrNotSupported (a recorder in tests) leaves the server's own deadline.
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.step))
	return d.w.Write(p)
}

func newBackupMetrics() (*prometheus.CounterVec, prometheus.Counter) {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "simgate_backups_total",
			Help: "Online backups served through GET /admin/backup, by result (success, failed).",
		}, []string{"result"}), prometheus.NewCounter(prometheus.CounterOpts{
			Name: "simgate_backup_bytes_total",
			Help: "Bytes of online backups written to clients.",
		})
}
