//go:build js && wasm

package ui

import (
	"context"
	"errors"
	"syscall/js"
)

// send is one HTTP exchange through the browser's fetch. net/http would do
// the same through fetch too, but linking its client doubles app.wasm.
func (a *API) send(ctx context.Context, method, url string, body []byte) (int, []byte, error) {
	global := js.Global()
	headers := global.Get("Headers").New()
	headers.Call("set", "Authorization", "Bearer "+a.Token)
	headers.Call("set", "Accept", "application/json")
	opts := global.Get("Object").New()
	opts.Set("method", method)
	opts.Set("headers", headers)
	opts.Set("cache", "no-store")
	opts.Set("credentials", "omit") // the token is the only credential
	if body != nil {
		headers.Call("set", "Content-Type", "application/json")
		opts.Set("body", string(body))
	}
	abort := global.Get("AbortController").New()
	opts.Set("signal", abort.Get("signal"))

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
	global.Call("fetch", url, opts).Call("then", onResp).Call("then", onBody).Call("catch", onErr)
	select {
	case r := <-done:
		return r.status, r.data, r.err
	case <-ctx.Done():
		abort.Call("abort")
		<-done // the promise rejects: wait, so no callback runs after Release
		return 0, nil, ctx.Err()
	}
}
