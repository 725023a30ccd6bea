package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/simgate/simgate/gateway"
)

// SIMs returns every stored SIM, by ID.
func (db *DB) SIMs(ctx context.Context) ([]gateway.SIM, error) {
	var out []gateway.SIM
	err := forEachRow(ctx, db, `SELECT id, data FROM sims ORDER BY id`, func(_ string, raw []byte) error {
		var s gateway.SIM
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		return nil, db.fail("sims", err)
	}
	return out, nil
}

// SaveSIM stores s durably, replacing the record of s.ID.
func (db *DB) SaveSIM(ctx context.Context, s gateway.SIM) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.ID == "" {
		return gateway.Invalid("id", "missing")
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return db.fail("save_sim", db.exec(ctx,
		`INSERT INTO sims (id, data) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET data = excluded.data`, s.ID, raw))
}

// RebindSIM moves the bindings of SIM sim (and the SIM-less ones of modem
// from) to modem to, in one transaction; the rows are locked while they
// are rewritten, so a node binding a contact meanwhile is not lost.
func (db *DB) RebindSIM(ctx context.Context, sim, from, to string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if sim == "" || to == "" {
		return 0, gateway.Invalid("sim", "sim and modem are required")
	}
	n := 0
	err := db.write(ctx, func(ctx context.Context, tx pgx.Tx) error {
		n = 0
		rows, err := tx.Query(ctx, `SELECT contact, data FROM sticky
			WHERE (sim = $1 AND modem <> $3) OR ($2 <> '' AND sim = '' AND modem = $2) FOR UPDATE`, sim, from, to)
		if err != nil {
			return err
		}
		type row struct {
			contact string
			raw     []byte
		}
		var rs []row
		for rows.Next() {
			var (
				contact string
				raw     []byte
				s       gateway.Sticky
			)
			if err := rows.Scan(&contact, &raw); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal(raw, &s); err != nil {
				rows.Close()
				return err
			}
			s.Modem, s.SIM = to, sim
			if raw, err = json.Marshal(s); err != nil {
				rows.Close()
				return err
			}
			rs = append(rs, row{contact, raw})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range rs {
			if _, err := tx.Exec(ctx, `UPDATE sticky SET modem = $2, sim = $3, data = $4 WHERE contact = $1`, r.contact, to, sim, r.raw); err != nil {
				return err
			}
		}
		n = len(rs)
		return nil
	})
	return n, db.fail("rebind_sim", err)
}
