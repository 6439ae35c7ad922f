//go:build js && wasm

package webapp

import (
	"context"
	"errors"
	"syscall/js"
)

// Jar is ignored in the browser, which keeps its cookies itself (on the
// host it is an http.CookieJar).
type Jar = any

// Do is one HTTP exchange through the browser's fetch: net/http would do
// the same through fetch too, but linking its client doubles app.wasm. It
// answers the status, the body and Retry-After.
func Do(ctx context.Context, r Request) (Response, error) {
	global := js.Global()
	headers := global.Get("Headers").New()
	if r.Auth != "" {
		headers.Call("set", "Authorization", r.Auth)
	}
	for k, v := range r.Header {
		headers.Call("set", k, v)
	}
	headers.Call("set", "Accept", "application/json")
	opts := global.Get("Object").New()
	opts.Set("method", r.Method)
	opts.Set("headers", headers)
	opts.Set("cache", "no-store")
	if r.OmitCredentials {
		opts.Set("credentials", "omit")
	} else {
		opts.Set("credentials", "same-origin") // fetch's default, said: a session's cookie goes
	}
	if r.Body != nil {
		headers.Call("set", "Content-Type", "application/json")
		opts.Set("body", string(r.Body))
	}
	abort := global.Get("AbortController").New()
	if r.Timeout > 0 {
		opts.Set("signal", global.Get("AbortSignal").Call("timeout", r.Timeout.Milliseconds()))
	} else {
		opts.Set("signal", abort.Get("signal"))
	}

	type result struct {
		status int
		data   []byte
		retry  string
		err    error
	}
	done := make(chan result, 2) // a callback must never block the event loop
	status := 0
	retry := ""
	onResp := js.FuncOf(func(_ js.Value, args []js.Value) any {
		status = args[0].Get("status").Int()
		if v := args[0].Get("headers").Call("get", "Retry-After"); v.Truthy() {
			retry = v.String()
		}
		return args[0].Call("arrayBuffer")
	})
	onBody := js.FuncOf(func(_ js.Value, args []js.Value) any {
		u8 := global.Get("Uint8Array").New(args[0])
		n := u8.Get("length").Int()
		if n > r.MaxAnswer {
			done <- result{err: errors.New("answer too large")}
			return nil
		}
		b := make([]byte, n)
		js.CopyBytesToGo(b, u8)
		done <- result{status: status, data: b, retry: retry}
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
	global.Call("fetch", r.URL, opts).Call("then", onResp).Call("then", onBody).Call("catch", onErr)
	select {
	case res := <-done:
		return Response{Status: res.status, Body: res.data, RetryAfter: res.retry}, res.err
	case <-ctx.Done():
		abort.Call("abort") // no effect under a Timeout: that signal ends it
		<-done              // the promise settles: wait, so no callback runs after Release
		return Response{}, ctx.Err()
	}
}
