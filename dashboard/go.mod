module kuaifan/dashboard

go 1.26

require (
	github.com/coder/websocket v1.8.15
	github.com/maxence-charriere/go-app/v10 v10.1.11
	kuaifan/protocol v0.0.0
)

require github.com/google/uuid v1.6.0 // indirect

replace kuaifan/protocol => ../protocol
