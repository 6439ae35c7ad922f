//go:build js && wasm

package ui

import (
	"errors"
	"syscall/js"
)

// saveDownload hands bytes already fetched (SaveFile fetches them) to the
// browser as a download: a Blob, an object URL, and a click on a temporary
// <a download>. The URL is revoked a minute later (revoking at once can
// cancel the download). Each download is also noted in
// window.kuaifanDownloads (name, type, size), which is how a test sees
// what was saved.
func saveDownload(filename, mime string, data []byte) error {
	global := js.Global()
	doc := global.Get("document")
	if !doc.Truthy() {
		return errors.New("no document to save from")
	}
	u8 := global.Get("Uint8Array").New(len(data))
	js.CopyBytesToJS(u8, data)
	blob := global.Get("Blob").New([]any{u8}, map[string]any{"type": mime})
	href := global.Get("URL").Call("createObjectURL", blob)
	a := doc.Call("createElement", "a")
	a.Set("href", href)
	a.Set("download", filename)
	a.Get("style").Set("display", "none")
	doc.Get("body").Call("appendChild", a)
	a.Call("click")
	a.Call("remove")
	var revoke js.Func
	revoke = js.FuncOf(func(js.Value, []js.Value) any {
		global.Get("URL").Call("revokeObjectURL", href)
		revoke.Release()
		return nil
	})
	global.Call("setTimeout", revoke, 60_000)

	log := global.Get("kuaifanDownloads")
	if !log.Truthy() {
		log = global.Get("Array").New()
		global.Set("kuaifanDownloads", log)
	}
	log.Call("push", map[string]any{"name": filename, "type": mime, "size": len(data)})
	return nil
}
