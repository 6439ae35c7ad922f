package main

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// days is a duration flag that also takes whole days ("90d"), the unit
// retention is thought of in.
type days time.Duration

func (d *days) String() string {
	v := time.Duration(*d)
	if v > 0 && v%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(v/(24*time.Hour)), 10) + "d"
	}
	return v.String()
}

func (d *days) Set(s string) error {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		v, err := strconv.ParseUint(n, 10, 32)
		if err != nil || v == 0 {
			return errors.New("days are a whole number above 0, like 90d")
		}
		*d = days(time.Duration(v) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return errors.New("a number of days like 90d, or a duration like 2160h")
	}
	*d = days(v)
	return nil
}
