package officerui

import (
	"fmt"
	"strings"
)

// Lang is a language the page speaks.
type Lang string

// Simplified Chinese (the officers it is built for) and English.
const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// LangFor picks the language for a browser's navigator.language: Chinese
// for any "zh…" tag, English otherwise.
func LangFor(navigatorLanguage string) Lang {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(navigatorLanguage)), "zh") {
		return ZH
	}
	return EN
}

// Other is the language the switch offers.
func (l Lang) Other() Lang {
	if l == ZH {
		return EN
	}
	return ZH
}

// T looks key up in lang's table, falling back to English, then to the key
// itself (a missing string shows rather than an empty button).
func T(lang Lang, key string) string {
	if s, ok := messages[lang][key]; ok {
		return s
	}
	if s, ok := messages[EN][key]; ok {
		return s
	}
	return key
}

// Tf is T with fmt verbs.
func Tf(lang Lang, key string, args ...any) string {
	return fmt.Sprintf(T(lang, key), args...)
}

// kindName names an incident kind; one the page does not know shows as itself.
func kindName(lang Lang, kind string) string {
	if s, ok := messages[lang]["kind."+kind]; ok {
		return s
	}
	return kind
}

// DeclineReasons are the reasons the decline form offers, in its order.
var DeclineReasons = []string{"other_job", "too_far", "vehicle", "unsafe", "other"}

// messages is every string the page shows. Every key must be in both
// languages (TestMessagesComplete).
var messages = map[Lang]map[string]string{
	EN: {
		"app.title":              "kuaifan · patrol terminal",
		"app.switch":             "中文",
		"link.up":                "Hub connected",
		"link.down":              "Hub offline — actions are queued",
		"link.agent":             "Agent not answering",
		"queue.n":                "%d queued",
		"queue.events":           "%d actions waiting",
		"status.label":           "Status",
		"status.":                "—",
		"status.available":       "available",
		"status.enroute":         "en route",
		"status.on_scene":        "on scene",
		"status.busy":            "busy",
		"status.off_duty":        "off duty",
		"card.none":              "No assignment. Stand by.",
		"card.priority":          "P%d",
		"card.place":             "Place",
		"card.distance":          "Distance",
		"card.eta":               "ETA",
		"card.since":             "Since dispatch",
		"card.nofix":             "no GPS fix",
		"card.state.dispatched":  "New dispatch — acknowledge",
		"card.state.enroute":     "En route",
		"card.state.on_scene":    "On scene",
		"dist.m":                 "%d m",
		"dist.km":                "%.1f km",
		"eta.min":                "~%d min",
		"eta.lt1":                "< 1 min",
		"dir.0":                  "N",
		"dir.1":                  "NE",
		"dir.2":                  "E",
		"dir.3":                  "SE",
		"dir.4":                  "S",
		"dir.5":                  "SW",
		"dir.6":                  "W",
		"dir.7":                  "NW",
		"btn.ack":                "签收 Ack",
		"btn.decline":            "Decline",
		"btn.arrived":            "Arrived",
		"btn.cleared":            "Cleared",
		"btn.cancel":             "Back",
		"btn.confirm_decline":    "Decline with this reason",
		"decline.title":          "Why decline?",
		"reason.other_job":       "On another job",
		"reason.too_far":         "Too far away",
		"reason.vehicle":         "Vehicle problem",
		"reason.unsafe":          "Not safe to go alone",
		"reason.other":           "Other",
		"act.ack":                "Acknowledged",
		"act.decline":            "Declined",
		"act.arrived":            "Arrived",
		"act.cleared":            "Cleared",
		"act.status":             "Status changed",
		"act.sos":                "SOS",
		"act.queued":             "queued — waiting for the hub",
		"act.confirmed":          "confirmed by the hub",
		"sos.hold":               "Hold for SOS",
		"sos.holding":            "Keep holding…",
		"sos.sent":               "SOS sent — help is being dispatched",
		"err.agent":              "The agent did not answer: %s",
		"err.refused":            "Not possible now: %s",
		"err.action":             "Failed: %s",
		"token.title":            "Terminal token",
		"token.hint":             "This terminal needs its token (from the agent's configuration).",
		"token.save":             "Save",
		"kind.theft":             "theft",
		"kind.robbery":           "robbery",
		"kind.assault":           "assault",
		"kind.fight":             "fight",
		"kind.dispute":           "dispute",
		"kind.domestic_violence": "domestic violence",
		"kind.fraud":             "fraud",
		"kind.traffic":           "traffic accident",
		"kind.lost_person":       "lost person",
		"kind.suspicious":        "suspicious person",
		"kind.noise":             "noise",
		"kind.medical":           "medical",
		"kind.fire":              "fire",
		"kind.crowd":             "crowd",
		"kind.welfare_check":     "welfare check",
		"kind.found_property":    "found property",
		"kind.armed_robbery":     "armed robbery",
		"kind.homicide":          "homicide",
		"kind.kidnapping":        "kidnapping",
		"kind.weapon":            "weapon",
		"kind.riot":              "riot",
		"kind.sexual_assault":    "sexual assault",
		"kind.hostage":           "hostage taking",
		"kind.terrorism":         "terrorism",
		"kind.officer_help":      "officer needs help",
	},
	ZH: {
		"app.title":              "快反 · 巡逻终端",
		"app.switch":             "EN",
		"link.up":                "已连接指挥中心",
		"link.down":              "未连接指挥中心 — 操作已排队",
		"link.agent":             "终端代理无响应",
		"queue.n":                "%d 条待发",
		"queue.events":           "%d 个操作待确认",
		"status.label":           "状态",
		"status.":                "—",
		"status.available":       "空闲",
		"status.enroute":         "赶赴中",
		"status.on_scene":        "到达现场",
		"status.busy":            "忙碌",
		"status.off_duty":        "下班",
		"card.none":              "暂无任务，请待命。",
		"card.priority":          "%d 级",
		"card.place":             "地点",
		"card.distance":          "距离",
		"card.eta":               "预计到达",
		"card.since":             "派警至今",
		"card.nofix":             "无定位",
		"card.state.dispatched":  "新派警 — 请签收",
		"card.state.enroute":     "赶赴中",
		"card.state.on_scene":    "已到达现场",
		"dist.m":                 "%d 米",
		"dist.km":                "%.1f 公里",
		"eta.min":                "约 %d 分钟",
		"eta.lt1":                "不到 1 分钟",
		"dir.0":                  "北",
		"dir.1":                  "东北",
		"dir.2":                  "东",
		"dir.3":                  "东南",
		"dir.4":                  "南",
		"dir.5":                  "西南",
		"dir.6":                  "西",
		"dir.7":                  "西北",
		"btn.ack":                "签收",
		"btn.decline":            "拒绝",
		"btn.arrived":            "到达",
		"btn.cleared":            "处置完毕",
		"btn.cancel":             "返回",
		"btn.confirm_decline":    "确认拒绝",
		"decline.title":          "拒绝原因",
		"reason.other_job":       "正在处理其他警情",
		"reason.too_far":         "距离太远",
		"reason.vehicle":         "车辆故障",
		"reason.unsafe":          "单警不宜前往",
		"reason.other":           "其他",
		"act.ack":                "已签收",
		"act.decline":            "已拒绝",
		"act.arrived":            "已到达",
		"act.cleared":            "已处置完毕",
		"act.status":             "状态已变更",
		"act.sos":                "紧急求助",
		"act.queued":             "已排队，等待指挥中心确认",
		"act.confirmed":          "指挥中心已确认",
		"sos.hold":               "长按求助 SOS",
		"sos.holding":            "请继续按住…",
		"sos.sent":               "已发出求助，正在调派支援",
		"err.agent":              "终端代理无响应：%s",
		"err.refused":            "当前不能执行：%s",
		"err.action":             "操作失败：%s",
		"token.title":            "终端口令",
		"token.hint":             "本终端需要口令（见代理的配置）。",
		"token.save":             "保存",
		"kind.theft":             "盗窃",
		"kind.robbery":           "抢劫",
		"kind.assault":           "伤害",
		"kind.fight":             "打架斗殴",
		"kind.dispute":           "纠纷",
		"kind.domestic_violence": "家庭暴力",
		"kind.fraud":             "诈骗",
		"kind.traffic":           "交通事故",
		"kind.lost_person":       "人员走失",
		"kind.suspicious":        "可疑人员",
		"kind.noise":             "噪音扰民",
		"kind.medical":           "急救",
		"kind.fire":              "火情",
		"kind.crowd":             "人员聚集",
		"kind.welfare_check":     "求助核查",
		"kind.found_property":    "拾获物品",
		"kind.armed_robbery":     "持械抢劫",
		"kind.homicide":          "命案",
		"kind.kidnapping":        "绑架",
		"kind.weapon":            "涉枪涉刀",
		"kind.riot":              "骚乱",
		"kind.sexual_assault":    "性侵",
		"kind.hostage":           "劫持人质",
		"kind.terrorism":         "暴恐",
		"kind.officer_help":      "民警求助",
	},
}
