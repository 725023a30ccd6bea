package store

import (
	"context"
	"encoding/json"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// bSIMs holds the SIM inventory: SIM ID → gateway.SIM JSON.
var bSIMs = []byte("sims")

// SIMs returns every stored SIM, by ID.
func (db *DB) SIMs(ctx context.Context) ([]gateway.SIM, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []gateway.SIM
	err := db.view(func(tx *bbolt.Tx) error {
		return forEachJSON(tx, bSIMs, func(_ []byte, s gateway.SIM) error {
			out = append(out, s)
			return nil
		})
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
	return db.fail("save_sim", db.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket(bSIMs).Put([]byte(s.ID), raw)
	}))
}

// RebindSIM moves the bindings of SIM sim (and the SIM-less ones of modem
// from) to modem to, in one transaction. It scans the sticky bucket: a SIM
// moves rarely, and the bucket holds one small record per contact.
func (db *DB) RebindSIM(ctx context.Context, sim, from, to string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if sim == "" || to == "" {
		return 0, gateway.Invalid("sim", "sim and modem are required")
	}
	n := 0
	err := db.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bSticky)
		type change struct {
			k   []byte
			raw []byte
		}
		var cs []change
		err := forEachJSON(tx, bSticky, func(k []byte, s gateway.Sticky) error {
			if !(s.SIM == sim || (from != "" && s.SIM == "" && s.Modem == from)) || (s.SIM == sim && s.Modem == to) {
				return nil
			}
			s.Modem, s.SIM = to, sim
			raw, err := json.Marshal(s)
			if err != nil {
				return err
			}
			cs = append(cs, change{append([]byte(nil), k...), raw})
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := b.Put(c.k, c.raw); err != nil {
				return err
			}
		}
		n = len(cs)
		return nil
	})
	return n, db.fail("rebind_sim", err)
}
