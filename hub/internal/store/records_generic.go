package store

import (
	"errors"
	"fmt"

	"github.com/tidwall/buntdb"
)

// Records are other packages' durable documents (dispatch's incidents), kept
// under a key prefix of their own; the store only guarantees that a put is on
// disk when it returns.

// Put writes records by key in one fsynced transaction.
func (s *Store) Put(records map[string][]byte) error {
	keys := make([]string, 0, len(records))
	for k := range records {
		keys = append(keys, k)
	}
	err := s.update(keys, func(tx *buntdb.Tx) error {
		for k, v := range records {
			if _, _, err := tx.Set(k, string(v), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	return nil
}

// Get reads one record; a missing key is ErrNotFound.
func (s *Store) Get(key string) ([]byte, error) {
	var v string
	err := s.db.View(func(tx *buntdb.Tx) error {
		var err error
		v, err = tx.Get(key)
		return err
	})
	if errors.Is(err, buntdb.ErrNotFound) {
		return nil, fmt.Errorf("store: %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	return []byte(v), nil
}

// Scan visits every record whose key starts with prefix, in key order.
func (s *Store) Scan(prefix string, fn func(key string, val []byte) error) error {
	err := s.db.View(func(tx *buntdb.Tx) error {
		return ascendPrefix(tx, prefix, func(key, val string) error { return fn(key, []byte(val)) })
	})
	if err != nil {
		return fmt.Errorf("store: scan %s: %w", prefix, err)
	}
	return nil
}

// Delete removes records by key in one fsynced transaction; a key that is
// not there is no error.
func (s *Store) Delete(keys ...string) error {
	err := s.update(keys, func(tx *buntdb.Tx) error {
		for _, k := range keys {
			if _, err := tx.Delete(k); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	return nil
}

// NoteDamage reports a record another package could not decode: counted
// and named like the store's own (Damage, Damaged), so that /healthz says
// the hub is degraded.
func (s *Store) NoteDamage(key string, err error) {
	s.noteDamage(fmt.Sprintf("%s: %v", clipKey(key), err))
}
