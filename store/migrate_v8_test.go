package store

import (
	"encoding/binary"
	"encoding/json"
	"time"

	"go.etcd.io/bbolt"

	"github.com/simgate/simgate/gateway"
)

// putV8 stores m as schemas 2 to 8 did: a JSON record under its id in
// "messages", its index entries (and its queue entry if the file has the
// queue bucket) in the schema-8 layout (2-byte-length
// values, the id as a string) and their counters. A copy of that code, so
// that migration tests start from what a schema-8 binary wrote.
func putV8(tx *bbolt.Tx, m *gateway.Message) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := tx.Bucket(v8Messages).Put([]byte(m.ID), raw); err != nil {
		return err
	}
	ix := func(v string, t time.Time, id string) []byte {
		return append(binary.BigEndian.AppendUint64(prefix(v), timeBits(t)), id...)
	}
	type e struct {
		b, k, v []byte
		counted bool
	}
	es := []e{
		{v8IxTime, ix("", m.CreatedAt, m.ID), nil, true},
		{v8IxStatus, ix(string(m.Status), m.CreatedAt, m.ID), nil, true},
		{v8IxDir, ix(string(m.Direction), m.CreatedAt, m.ID), nil, true},
	}
	if m.Contact != "" {
		es = append(es, e{[]byte("ix_contact"), ix(m.Contact, m.CreatedAt, m.ID), nil, false})
	}
	if m.Modem != "" {
		es = append(es, e{[]byte("ix_modem"), ix(m.Modem, m.CreatedAt, m.ID), nil, true})
	}
	if m.Agent != "" {
		es = append(es, e{[]byte("ix_agent"), ix(m.Agent, m.CreatedAt, m.ID), nil, true})
	}
	for _, p := range m.Parts {
		if p.Modem == "" || p.MR < 0 || p.SubmittedAt.IsZero() {
			continue
		}
		k := binary.BigEndian.AppendUint32(prefix(p.Modem), uint32(p.MR))
		k = append(binary.BigEndian.AppendUint64(k, timeBits(p.SubmittedAt)), m.ID...)
		es = append(es, e{[]byte("ix_mr"), k, binary.BigEndian.AppendUint16(nil, uint16(p.Seq)), false})
	}
	if m.IdempotencyKey != "" {
		es = append(es, e{bIxIdem, []byte(m.IdempotencyKey), []byte(m.ID), false})
	}
	if q, ok := gateway.EntryOf(m); ok && tx.Bucket(v9Queue) != nil { // schema 7 on
		es = append(es, e{v9Queue, []byte(m.ID), encodeQueueEntry(q), false})
	}
	for _, x := range es {
		if err := tx.Bucket(x.b).Put(x.k, x.v); err != nil {
			return err
		}
		if x.counted {
			plen := 2 + int(binary.BigEndian.Uint16(x.k))
			if err := addCount(tx, countKey(x.b, string(x.k[2:plen])), 1); err != nil {
				return err
			}
		}
	}
	return nil
}
