package ui

import (
	"strconv"
	"strings"
	"time"

	"kuaifan/protocol/api"
)

// dateLayout is how date inputs give a date (<input type="date">).
const dateLayout = "2006-01-02"

// dayWindow is the window of whole local days from..to, both included, in
// Unix ms ([start of from, start of the day after to)). A date that does
// not parse, a window that ends before it starts, or one longer than the
// hub answers is refused with a message in lang ("" when it is good).
func dayWindow(lang Lang, from, to string, loc *time.Location) (f, t int64, problem string) {
	if loc == nil {
		loc = time.Local
	}
	d0, err := time.ParseInLocation(dateLayout, strings.TrimSpace(from), loc)
	if err != nil {
		return 0, 0, Tf(lang, "pages.err.date", from)
	}
	d1, err := time.ParseInLocation(dateLayout, strings.TrimSpace(to), loc)
	if err != nil {
		return 0, 0, Tf(lang, "pages.err.date", to)
	}
	if d1.Before(d0) {
		return 0, 0, T(lang, "pages.err.order")
	}
	end := d1.AddDate(0, 0, 1)
	if days := int(end.Sub(d0).Hours()/24 + 0.5); days > api.MaxKPIDays {
		return 0, 0, Tf(lang, "pages.err.long", days, api.MaxKPIDays)
	}
	return d0.UnixMilli(), end.UnixMilli(), ""
}

// lastDays is the window of the last n local days, today included, as
// date inputs show it.
func lastDays(now time.Time, n int, loc *time.Location) (from, to string) {
	if loc == nil {
		loc = time.Local
	}
	now = now.In(loc)
	return now.AddDate(0, 0, -(n - 1)).Format(dateLayout), now.Format(dateLayout)
}

// ArchiveForm is the archive's search form as typed: dates as the date
// inputs give them, the choices as the selects' values.
type ArchiveForm struct {
	From, To string // "2006-01-02", both included
	Status   string // api.ArchiveStatus*; "" all
	District string // a district's id, "none", or "" all
	Kind     string // "" all
	Priority string // "1".."3", "" all
	Unit     string
	Text     string
}

// newArchiveForm is the form as it opens: the last 7 days, everything.
func newArchiveForm(now time.Time, loc *time.Location) ArchiveForm {
	from, to := lastDays(now, 7, loc)
	return ArchiveForm{From: from, To: to, Status: api.ArchiveStatusAll}
}

// Query is the search the form asks for, or why it cannot be made (a
// message in lang, before any call).
func (f ArchiveForm) Query(lang Lang, loc *time.Location) (ArchiveQuery, string) {
	from, to, problem := dayWindow(lang, f.From, f.To, loc)
	if problem != "" {
		return ArchiveQuery{}, problem
	}
	q := ArchiveQuery{From: from, To: to, District: f.District, Kind: f.Kind,
		Unit: strings.TrimSpace(f.Unit), Text: strings.TrimSpace(f.Text), Limit: api.ArchiveDefaultLimit}
	switch f.Status {
	case "", api.ArchiveStatusAll:
	case api.ArchiveStatusOpen, api.ArchiveStatusClosed:
		q.Status = f.Status
	default:
		return ArchiveQuery{}, Tf(lang, "archive.err.status", f.Status)
	}
	if p := strings.TrimSpace(f.Priority); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 3 {
			return ArchiveQuery{}, Tf(lang, "archive.err.priority", p)
		}
		q.Priority = n
	}
	return q, ""
}

// districtName is a district's name in lang by its id: "none" (or no id)
// is outside every district; an id the dashboard does not know shows as
// itself.
func districtName(lang Lang, ds []District, id string) string {
	if id == "" || id == "none" {
		return T(lang, "pages.district.none")
	}
	for i := range ds {
		if ds[i].ID == id {
			return ds[i].Name(lang)
		}
	}
	return id
}

// exportName is a file's name for an export of a window: the kind of
// data, the first and last dates, the format.
func exportName(what string, from, to int64, format string, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	first := time.UnixMilli(from).In(loc).Format(dateLayout)
	last := time.UnixMilli(to - 1).In(loc).Format(dateLayout)
	return what + "-" + first + "_" + last + "." + format
}
