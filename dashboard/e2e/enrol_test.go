package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"kuaifan/hub/hubtest"
	"kuaifan/protocol/api"
	"kuaifan/testkit/dashboardtest"
)

// TestEnrol enrols a phone from the units screen, opens the card's
// enrolment link as the phone would after scanning the QR code, and
// revokes the unit: its secret no longer signs in.
func TestEnrol(t *testing.T) {
	h := hubtest.Start(t, nil)
	dashboardtest.Require(t, h.URL)
	b := newBrowser(t)
	b.do("desktop size", 5*time.Second, chromedp.EmulateViewport(1440, 900))
	b.signIn(h.URL+"/", person(t, h, "wang", api.RoleAdmin))
	if lang := eval[string](b, `document.querySelector("#kuaifan").lang`); lang != "en" {
		b.do("English", 5*time.Second, chromedp.Click(chromedp.CSS("#lang")))
	}

	const unit = "phone-7"
	b.do("open the units screen", 10*time.Second, chromedp.Click(chromedp.CSS(`#views .view-tab[data-view="units"]`)),
		chromedp.WaitVisible(chromedp.CSS("#enrol-id")))
	b.waitJS("the fleet listed", `document.querySelector("#view-units .page-empty, #enrol-units") !== null`, 10*time.Second)

	// A bad id is refused in the form, before any call.
	b.do("a bad id", 10*time.Second, chromedp.SendKeys(chromedp.CSS("#enrol-id"), "phone 7"),
		chromedp.Click(chromedp.CSS("#enrol-submit")))
	b.waitJS("the form's refusal", `(document.querySelector("#page-error") || {}).textContent?.includes("1 to 32")`, 5*time.Second)

	// A responder phone (the form's default type, foot, and way of
	// reporting): the card shows the secret, the link and its QR code.
	b.do("enrol a phone", 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#enrol-id"), strings.Repeat(kb.Backspace, len("phone 7"))+unit),
		chromedp.SendKeys(chromedp.CSS("#enrol-callsign"), "巡逻7"),
		chromedp.Click(chromedp.CSS("#enrol-submit")))
	b.waitJS("the card", fmt.Sprintf(`document.querySelector('#enrol-card[data-unit=%q] #enrol-qr') !== null`, unit), 10*time.Second)
	secret := eval[string](b, `document.querySelector("#enrol-secret").textContent`)
	link := eval[string](b, `document.querySelector("#enrol-link").textContent`)
	if secret == "" || link != h.URL+"/responder/#u="+unit+"&s="+secret {
		t.Fatalf("the card: secret %q, link %q", secret, link)
	}
	qr := eval[struct {
		NS, RunNS string
		Runs      int
		Dark      int
		Listed    string
	}](b, `(() => {
		const svg = document.querySelector("#enrol-qr");
		const runs = [...svg.querySelectorAll("rect.qr-run")];
		return {ns: svg.namespaceURI, runNS: runs[0] ? runs[0].namespaceURI : "", runs: runs.length,
			dark: runs.reduce((n, r) => n + Number(r.getAttribute("width")), 0), listed: svg.dataset.dark};
	})()`)
	if qr.NS != "http://www.w3.org/2000/svg" || qr.RunNS != qr.NS || qr.Runs == 0 || qr.Dark <= 0 || fmt.Sprint(qr.Dark) != qr.Listed {
		t.Errorf("the QR code: %+v", qr)
	}
	t.Logf("QR: %d runs, %d dark modules", qr.Runs, qr.Dark)
	if stored := eval[string](b, `JSON.stringify(Object.assign({}, localStorage, sessionStorage)) + location.href`); strings.Contains(stored, secret) {
		t.Error("the secret is in the browser's storage or the URL")
	}
	b.screenshot("enrol-qr")

	// The unit is listed.
	b.waitJS("the unit listed", fmt.Sprintf(`document.querySelector('#enrol-units tr[data-unit=%q]') !== null`, unit), 10*time.Second)

	// The phone opens the link (a second tab): the responder app signs in
	// as the unit.
	phone := newTab(t, b)
	if _, err := chromedp.CallBrowser(b.ctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "geolocation"}, Setting: cdpbrowser.PermissionSettingGranted,
		Origin: h.URL}); err != nil {
		t.Fatalf("granting geolocation: %v", err)
	}
	lat, lon, acc := 28.1941, 112.9823, 5.0
	if _, err := chromedp.Call(phone.ctx, emulation.SetGeolocationOverride,
		emulation.SetGeolocationOverrideParams{Latitude: &lat, Longitude: &lon, Accuracy: &acc}); err != nil {
		t.Fatalf("geolocation override: %v", err)
	}
	phone.do("open the enrolment link", 30*time.Second, chromedp.Navigate(link))
	phone.waitJS("the phone signed in", `!document.querySelector("#main").hidden && document.querySelector("#who").textContent.includes("`+unit+`")`, 15*time.Second)
	if who := eval[string](phone, `document.querySelector("#who").textContent`); !strings.Contains(who, "巡逻7") {
		t.Errorf("the phone shows %q", who)
	}
	if hash := eval[string](phone, `location.hash`); hash != "" {
		t.Errorf("the fragment %q stayed in the phone's address bar", hash)
	}

	// Closing the card forgets the secret.
	b.do("close the card", 5*time.Second, chromedp.Click(chromedp.CSS("#enrol-close")))
	b.waitJS("the card gone", `document.querySelector("#enrol-card") === null`, 5*time.Second)
	if html := eval[string](b, `document.documentElement.outerHTML`); strings.Contains(html, secret) {
		t.Error("the secret is still in the page")
	}

	// Revoke, after the row's confirmation.
	row := fmt.Sprintf(`#enrol-units tr[data-unit=%q]`, unit)
	b.do("revoke", 10*time.Second, chromedp.Click(chromedp.CSS(row+" button.revoke")),
		chromedp.WaitVisible(chromedp.CSS(row+" .revoke-confirm")))
	if eval[int](b, `document.querySelectorAll(".revoke-confirm").length`) != 1 {
		t.Error("the confirmation is not on one row")
	}
	b.do("confirm", 10*time.Second, chromedp.Click(chromedp.CSS(row+" button.revoke-yes")))
	b.waitJS("the unit gone from the list", `document.querySelector('`+row+`') === null`, 10*time.Second)
	if code := h.Do(http.MethodGet, "/api/units/"+unit, nil, nil); code != http.StatusNotFound {
		t.Errorf("GET /api/units/%s after revoking: %d", unit, code)
	}
	var us []api.Unit
	h.Do(http.MethodGet, "/api/units", nil, &us)
	for _, u := range us {
		if u.ID == unit {
			t.Errorf("%s still listed by the hub", unit)
		}
	}
	// Its secret no longer signs a phone in.
	body, _ := json.Marshal(map[string]string{"unit": unit, "secret": secret})
	resp, err := http.Post(h.URL+"/responder/api/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("signing in with a revoked secret: %s", resp.Status)
	}
}

// newTab opens a second tab in b's browser.
func newTab(t *testing.T, b *browser) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("a second tab: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}
