package ui

import (
	"fmt"
	"strings"
)

// Lang is a language the dashboard speaks.
type Lang string

// The dashboard's languages: Simplified Chinese (the dispatchers it is built
// for) and English.
const (
	ZH Lang = "zh"
	EN Lang = "en"
)

// LangFor picks the language for a browser's navigator.language: Chinese for
// any "zh…" tag, English otherwise.
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

// T looks a key up in lang's table, falling back to English, then to the
// key itself (so a missing string shows, rather than an empty label).
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

// messages is every string the dashboard shows, per language. Every key must
// be in both tables (TestMessagesComplete).
var messages = map[Lang]map[string]string{
	EN: {
		"app.title":              "kuaifan dispatch",
		"app.switch":             "中文",
		"app.signout":            "Sign out",
		"signin.title":           "Sign in to the hub",
		"signin.token":           "Admin token",
		"signin.submit":          "Sign in",
		"signin.busy":            "Signing in…",
		"signin.note":            "The token stays in this tab's memory only: a reload asks again.",
		"signin.wrong":           "The hub refused this token.",
		"signin.empty":           "Enter the admin token.",
		"signin.expired":         "The hub no longer accepts the token: sign in again.",
		"signin.unreach":         "The hub cannot be reached: %s",
		"districts.failed":       "The districts could not be loaded (%s): the map shows none.",
		"link.offline":           "signed out",
		"link.connecting":        "connecting…",
		"link.connected":         "live",
		"link.reconnecting":      "reconnecting since %s",
		"link.age":               "data %s old",
		"link.nodata":            "no data yet",
		"link.error":             "last error: %s",
		"status.available":       "available",
		"status.enroute":         "en route",
		"status.on_scene":        "on scene",
		"status.busy":            "busy",
		"status.off_duty":        "off duty",
		"status.unknown":         "no status",
		"status.offline":         "offline",
		"status.stale":           "stale",
		"type.car":               "car",
		"type.motorcycle":        "motorcycle",
		"type.foot":              "foot",
		"type.volunteer":         "volunteer",
		"bar.available":          "Available",
		"bar.open":               "Open",
		"bar.uncovered":          "Uncovered",
		"bar.arrival":            "Median arrival today",
		"bar.none":               "—",
		"bar.units":              "%d units, %d online",
		"inc.title":              "Incidents",
		"inc.new":                "New incident",
		"inc.new.hint":           "Click the map where it is.",
		"inc.empty":              "No open incidents.",
		"inc.kind":               "Kind",
		"inc.priority":           "Priority",
		"inc.summary":            "Summary",
		"inc.needs":              "Needs (e.g. armed, medical)",
		"inc.at":                 "At %.5f, %.5f",
		"inc.create":             "Create",
		"inc.cancel":             "Cancel",
		"inc.close":              "Close incident",
		"inc.deselect":           "Back to the queue",
		"inc.uncovered":          "UNCOVERED: nobody fresh within 1 minute",
		"inc.p":                  "P%d",
		"inc.age":                "%s ago",
		"inc.assigned":           "%d assigned",
		"inc.recs":               "Recommended units",
		"inc.recs.none":          "No candidate units.",
		"inc.recs.loading":       "Loading recommendations…",
		"inc.rec.unit":           "Unit",
		"inc.rec.eta":            "ETA",
		"inc.rec.tier":           "Circle",
		"inc.rec.fix":            "Fix age",
		"inc.rec.dist":           "Distance",
		"inc.rec.stale":          "stale",
		"inc.dispatch":           "Dispatch",
		"inc.assignments":        "Assigned units",
		"inc.assign.none":        "Nobody assigned yet.",
		"inc.timeline":           "Timeline",
		"inc.figures":            "Response times",
		"inc.fig.dispatch":       "to dispatch",
		"inc.fig.ack":            "to ack",
		"inc.fig.arrival":        "to arrival",
		"inc.fig.close":          "to close",
		"inc.offer":              "Better placed: %s, ETA %s (best en route %s)",
		"inc.created":            "Incident %s created.",
		"inc.dispatched":         "%s dispatched to %s.",
		"inc.closed":             "Incident %s closed.",
		"inc.status.open":        "open",
		"inc.status.dispatched":  "dispatched",
		"inc.status.on_scene":    "on scene",
		"inc.status.closed":      "closed",
		"tier.1":                 "1 min",
		"tier.2":                 "3 min",
		"tier.3":                 "5 min",
		"tier.4":                 "beyond",
		"asg.dispatched":         "awaiting ack",
		"asg.enroute":            "en route",
		"asg.on_scene":           "on scene",
		"asg.cleared":            "cleared",
		"asg.declined":           "declined",
		"asg.timeout":            "no ack",
		"asg.cancelled":          "called off",
		"ev.created":             "created",
		"ev.recommended":         "recommended",
		"ev.uncovered":           "uncovered",
		"ev.dispatched":          "dispatched",
		"ev.ack":                 "acknowledged",
		"ev.decline":             "declined",
		"ev.timeout":             "no ack",
		"ev.sighting":            "sighting",
		"ev.offered":             "better unit offered",
		"ev.arrived":             "arrived",
		"ev.cleared":             "cleared",
		"ev.cancelled":           "called off",
		"ev.closed":              "closed",
		"actor.dispatcher":       "dispatcher",
		"actor.auto":             "hub",
		"actor.system":           "timer",
		"kind.theft":             "theft",
		"kind.robbery":           "robbery",
		"kind.assault":           "assault",
		"kind.fight":             "fight",
		"kind.domestic_violence": "domestic violence",
		"kind.traffic":           "traffic accident",
		"kind.lost_person":       "lost person",
		"kind.found_property":    "found property",
		"kind.noise":             "noise",
		"kind.suspicious":        "suspicious person",
		"kind.fire":              "fire",
		"kind.medical":           "medical",
		"kind.welfare_check":     "welfare check",
		"kind.crowd":             "crowd",
		"units.title":            "Units",
		"units.search":           "Search id or callsign",
		"units.all.status":       "All statuses",
		"units.all.type":         "All types",
		"units.all.district":     "All districts",
		"units.outside":          "Outside the districts",
		"units.more":             "%d more: narrow the filter",
		"units.count":            "%d of %d",
		"units.empty":            "No unit matches.",
		"units.track":            "Track: last 10 minutes, %d points",
		"units.assigned":         "on %s",
		"map.zoomin":             "Zoom in",
		"map.zoomout":            "Zoom out",
		"map.fit":                "Show all units",
		"map.home":               "Changsha",
		"map.tiles":              "Basemap tile URL ({z}/{x}/{y}), empty for the vector map",
		"map.tiles.bad":          "A tile URL needs {z}, {x} and {y} and http(s)://: %s",
		"map.circle":             "%s · %s",
		"unit.lastfix":           "fix %s ago",
		"unit.nofix":             "no fix",
		"err.api":                "The hub answered: %s",
		"dur.s":                  "%d s",
		"dur.ms":                 "%d min %02d s",
		"dur.m":                  "%d min",
		"dur.hm":                 "%d h %02d min",
		"dur.sub":                "%.1f s",
		"dist.m":                 "%d m",
		"dist.km":                "%.1f km",
	},
	ZH: {
		"app.title":              "快反 指挥调度",
		"app.switch":             "English",
		"app.signout":            "退出",
		"signin.title":           "登录指挥中心",
		"signin.token":           "管理令牌",
		"signin.submit":          "登录",
		"signin.busy":            "正在登录…",
		"signin.note":            "令牌只保存在本标签页的内存中：刷新页面需要重新登录。",
		"signin.wrong":           "令牌无效，服务器拒绝登录。",
		"signin.empty":           "请输入管理令牌。",
		"signin.expired":         "令牌已失效，请重新登录。",
		"signin.unreach":         "无法连接服务器：%s",
		"districts.failed":       "行政区划加载失败（%s），地图上不显示辖区。",
		"link.offline":           "未登录",
		"link.connecting":        "正在连接…",
		"link.connected":         "实时",
		"link.reconnecting":      "自 %s 起重新连接中",
		"link.age":               "数据 %s 前",
		"link.nodata":            "尚无数据",
		"link.error":             "最近错误：%s",
		"status.available":       "空闲",
		"status.enroute":         "赶赴中",
		"status.on_scene":        "到场",
		"status.busy":            "忙碌",
		"status.off_duty":        "下班",
		"status.unknown":         "无状态",
		"status.offline":         "离线",
		"status.stale":           "位置过期",
		"type.car":               "巡逻车",
		"type.motorcycle":        "摩托车",
		"type.foot":              "步巡",
		"type.volunteer":         "志愿者",
		"bar.available":          "可派警力",
		"bar.open":               "未结警情",
		"bar.uncovered":          "无人覆盖",
		"bar.arrival":            "今日到场中位时间",
		"bar.none":               "—",
		"bar.units":              "共 %d 个单元，%d 个在线",
		"inc.title":              "警情",
		"inc.new":                "新建警情",
		"inc.new.hint":           "请在地图上点击警情位置。",
		"inc.empty":              "暂无未结警情。",
		"inc.kind":               "类别",
		"inc.priority":           "等级",
		"inc.summary":            "简要情况",
		"inc.needs":              "所需能力（如 armed, medical）",
		"inc.at":                 "位置 %.5f, %.5f",
		"inc.create":             "创建",
		"inc.cancel":             "取消",
		"inc.close":              "结束警情",
		"inc.deselect":           "返回警情列表",
		"inc.uncovered":          "无人覆盖：1 分钟圈内没有可用警力",
		"inc.p":                  "%d级",
		"inc.age":                "%s前",
		"inc.assigned":           "已派 %d",
		"inc.recs":               "推荐警力",
		"inc.recs.none":          "没有候选警力。",
		"inc.recs.loading":       "正在获取推荐…",
		"inc.rec.unit":           "单元",
		"inc.rec.eta":            "预计到达",
		"inc.rec.tier":           "响应圈",
		"inc.rec.fix":            "定位时间",
		"inc.rec.dist":           "距离",
		"inc.rec.stale":          "过期",
		"inc.dispatch":           "派警",
		"inc.assignments":        "已派警力",
		"inc.assign.none":        "尚未派警。",
		"inc.timeline":           "处置时间线",
		"inc.figures":            "响应时间",
		"inc.fig.dispatch":       "派警",
		"inc.fig.ack":            "接警确认",
		"inc.fig.arrival":        "到场",
		"inc.fig.close":          "结案",
		"inc.offer":              "更近的警力：%s，预计 %s（在途最快 %s）",
		"inc.created":            "警情 %s 已创建。",
		"inc.dispatched":         "已派 %s 前往 %s。",
		"inc.closed":             "警情 %s 已结束。",
		"inc.status.open":        "待派警",
		"inc.status.dispatched":  "已派警",
		"inc.status.on_scene":    "已到场",
		"inc.status.closed":      "已结束",
		"tier.1":                 "1 分钟",
		"tier.2":                 "3 分钟",
		"tier.3":                 "5 分钟",
		"tier.4":                 "圈外",
		"asg.dispatched":         "待确认",
		"asg.enroute":            "赶赴中",
		"asg.on_scene":           "到场",
		"asg.cleared":            "处置完毕",
		"asg.declined":           "已拒绝",
		"asg.timeout":            "未确认",
		"asg.cancelled":          "已撤回",
		"ev.created":             "创建",
		"ev.recommended":         "推荐",
		"ev.uncovered":           "无人覆盖",
		"ev.dispatched":          "派警",
		"ev.ack":                 "确认",
		"ev.decline":             "拒绝",
		"ev.timeout":             "未确认",
		"ev.sighting":            "新线索",
		"ev.offered":             "推荐更近警力",
		"ev.arrived":             "到场",
		"ev.cleared":             "处置完毕",
		"ev.cancelled":           "撤回",
		"ev.closed":              "结束",
		"actor.dispatcher":       "调度员",
		"actor.auto":             "系统自动",
		"actor.system":           "计时器",
		"kind.theft":             "盗窃",
		"kind.robbery":           "抢劫",
		"kind.assault":           "伤害",
		"kind.fight":             "打架斗殴",
		"kind.domestic_violence": "家庭暴力",
		"kind.traffic":           "交通事故",
		"kind.lost_person":       "人员走失",
		"kind.found_property":    "拾获物品",
		"kind.noise":             "噪音扰民",
		"kind.suspicious":        "可疑人员",
		"kind.fire":              "火情",
		"kind.medical":           "急救",
		"kind.welfare_check":     "求助核查",
		"kind.crowd":             "人员聚集",
		"units.title":            "警力",
		"units.search":           "搜索编号或呼号",
		"units.all.status":       "全部状态",
		"units.all.type":         "全部类型",
		"units.all.district":     "全部辖区",
		"units.outside":          "辖区以外",
		"units.more":             "还有 %d 个：请缩小筛选范围",
		"units.count":            "%d / %d",
		"units.empty":            "没有符合条件的单元。",
		"units.track":            "轨迹：最近 10 分钟，%d 个点",
		"units.assigned":         "处置 %s",
		"map.zoomin":             "放大",
		"map.zoomout":            "缩小",
		"map.fit":                "显示全部警力",
		"map.home":               "长沙",
		"map.tiles":              "底图瓦片地址（{z}/{x}/{y}），留空使用矢量底图",
		"map.tiles.bad":          "瓦片地址须含 {z}、{x}、{y} 且以 http(s):// 开头：%s",
		"map.circle":             "%s · %s",
		"unit.lastfix":           "%s前定位",
		"unit.nofix":             "无定位",
		"err.api":                "服务器返回：%s",
		"dur.s":                  "%d秒",
		"dur.ms":                 "%d分%02d秒",
		"dur.m":                  "%d分钟",
		"dur.hm":                 "%d小时%02d分",
		"dur.sub":                "%.1f秒",
		"dist.m":                 "%d米",
		"dist.km":                "%.1f公里",
	},
}

// Kinds offered in the new-incident form, most common first.
var Kinds = []string{"theft", "robbery", "assault", "fight", "domestic_violence", "traffic",
	"lost_person", "suspicious", "noise", "medical", "fire", "crowd", "welfare_check", "found_property"}

// KindName is a kind in lang, or the kind itself if the table has no name.
func KindName(lang Lang, kind string) string {
	if s, ok := messages[lang]["kind."+kind]; ok {
		return s
	}
	return kind
}

// lookup is T for a prefixed key whose tail comes from the hub (a status,
// a timeline type): an unknown tail shows as itself.
func lookup(lang Lang, prefix, tail string) string {
	if s, ok := messages[lang][prefix+tail]; ok {
		return s
	}
	if s, ok := messages[EN][prefix+tail]; ok {
		return s
	}
	return tail
}
