//go:build js && wasm

package officerui

import (
	"errors"
	"syscall/js"
)

// send is one HTTP exchange through the browser's fetch: net/http's client
// would add megabytes to app.wasm for the same fetch underneath.
func send(method, path, token string, body []byte) (int, []byte, error) {
	global := js.Global()
	headers := global.Get("Headers").New()
	headers.Call("set", "Accept", "application/json")
	if token != "" {
		headers.Call("set", "Authorization", "Bearer "+token)
	}
	opts := global.Get("Object").New()
	opts.Set("method", method)
	opts.Set("headers", headers)
	opts.Set("cache", "no-store")
	if body != nil {
		headers.Call("set", "Content-Type", "application/json")
		opts.Set("body", string(body))
	}
	// The agent is on loopback: an answer slower than this means it is stuck.
	opts.Set("signal", global.Get("AbortSignal").Call("timeout", requestTimeoutMS))

	type result struct {
		status int
		data   []byte
		err    error
	}
	done := make(chan result, 2) // a callback must never block the event loop
	status := 0
	onResp := js.FuncOf(func(_ js.Value, args []js.Value) any {
		status = args[0].Get("status").Int()
		return args[0].Call("arrayBuffer")
	})
	onBody := js.FuncOf(func(_ js.Value, args []js.Value) any {
		u8 := global.Get("Uint8Array").New(args[0])
		n := u8.Get("length").Int()
		if n > maxAnswer {
			done <- result{err: errors.New("answer too large")}
			return nil
		}
		b := make([]byte, n)
		js.CopyBytesToGo(b, u8)
		done <- result{status: status, data: b}
		return nil
	})
	onErr := js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "fetch failed"
		if len(args) > 0 && args[0].Truthy() {
			msg = args[0].Call("toString").String()
		}
		done <- result{err: errors.New(msg)}
		return nil
	})
	defer onResp.Release()
	defer onBody.Release()
	defer onErr.Release()
	global.Call("fetch", path, opts).Call("then", onResp).Call("then", onBody).Call("catch", onErr)
	r := <-done
	return r.status, r.data, r.err
}
